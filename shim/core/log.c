#include "log.h"
#include "keep_errno.h"
#include "raw_fstat.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

static _Atomic int threshold = LOG_WARN;
static char syslog_path[sizeof(((struct sockaddr_un *)0)->sun_path)];
static _Atomic bool syslog_on;

/* What fd 2 was when log_pin_stderr ran: any (never pinned), that file
 * (stderr_dev, stderr_ino), or nothing (it was closed). */
enum { STDERR_ANY, STDERR_PINNED, STDERR_NONE };
static _Atomic int stderr_pin = STDERR_ANY;
static dev_t stderr_dev;
static ino_t stderr_ino;

int log_level_parse(const char *s)
{
    static const char names[][sizeof "error"] = {"off", "error", "warn", "info",
                                                 "debug"}; /* no relocations */
    for (int i = 0; i < (int)(sizeof names / sizeof names[0]); i++)
        if (strcmp(s, names[i]) == 0)
            return i;
    return -1;
}

void log_set_level(enum log_level level)
{
    atomic_store_explicit(&threshold, level, memory_order_relaxed);
}

bool log_enabled(enum log_level level)
{
    return level != LOG_OFF && (int)level <= atomic_load_explicit(&threshold, memory_order_relaxed);
}

void log_pin_stderr(void)
{
    struct stat sb;
    if (raw_fstat(STDERR_FILENO, &sb) != 0) {
        atomic_store_explicit(&stderr_pin, STDERR_NONE, memory_order_release);
        return;
    }
    stderr_dev = sb.st_dev;
    stderr_ino = sb.st_ino;
    atomic_store_explicit(&stderr_pin, STDERR_PINNED, memory_order_release);
}

/* True when fd 2 is still the file it was when it was pinned. */
static bool stderr_is_original(void)
{
    int pin = atomic_load_explicit(&stderr_pin, memory_order_acquire);
    struct stat sb;
    return pin == STDERR_ANY || (pin == STDERR_PINNED && fstat(STDERR_FILENO, &sb) == 0 &&
                                 sb.st_dev == stderr_dev && sb.st_ino == stderr_ino);
}

void log_msg(enum log_level level, const char *fmt, ...)
{
    if (!log_enabled(level))
        return;
    KEEP_ERRNO();
    char line[512] = "fusebox: ";
    size_t prefix = strlen(line);
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line + prefix, sizeof line - prefix - 1, fmt, ap);
    va_end(ap);
    size_t len = n < 0 ? prefix : prefix + (size_t)n;
    if (len > sizeof line - 2)
        len = sizeof line - 2;
    if (!stderr_is_original()) {
        line[len] = '\0';
        if (level <= LOG_WARN)
            log_syslog(line + prefix);
        return;
    }
    line[len++] = '\n';
    ssize_t unused = write(STDERR_FILENO, line, len);
    (void)unused;
}

bool log_set_syslog(const char *setting)
{
    if (!setting || !*setting || strcmp(setting, "0") == 0)
        return true;
    const char *path = strcmp(setting, "1") == 0 ? "/dev/log" : setting;
    if (path[0] != '/' || strlen(path) >= sizeof syslog_path)
        return false;
    strcpy(syslog_path, path);
    atomic_store_explicit(&syslog_on, true, memory_order_release);
    return true;
}

bool log_syslog_enabled(void)
{
    return atomic_load_explicit(&syslog_on, memory_order_acquire);
}

void log_syslog(const char *message)
{
    /* RFC 5424's codes (<syslog.h>'s names for them clash with log.h's) */
    enum { FACILITY_USER = 1, SEVERITY_INFO = 6 };
    if (!log_syslog_enabled())
        return;
    KEEP_ERRNO();
    char datagram[640];
    int len = snprintf(datagram, sizeof datagram, "<%d>fusebox[%d]: %s",
                       FACILITY_USER * 8 + SEVERITY_INFO, (int)getpid(), message);
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    strcpy(addr.sun_path, syslog_path);
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd >= 0 && len > 0 && connect(fd, (struct sockaddr *)&addr, sizeof addr) == 0) {
        size_t size = (size_t)len < sizeof datagram ? (size_t)len : sizeof datagram - 1;
        ssize_t unused = send(fd, datagram, size, MSG_DONTWAIT | MSG_NOSIGNAL);
        (void)unused;
    }
    if (fd >= 0)
        close(fd);
}
