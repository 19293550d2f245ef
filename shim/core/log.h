/* log.h — messages to stderr, each one line prefixed "fusebox: ".
 *
 * Written with one write(2) and no stdio, so a message never takes a lock
 * that the host program may hold. The level comes from FUSEBOX_LOG (set by
 * the caller with log_set_level); the default is warn. In the library,
 * stderr is the program's original one only: once fd 2 is another file
 * than at load (a daemon that closed it and opened a data file), nothing is
 * written to it, and warnings go to syslog instead when it is on.
 *
 * Calls that libfusebox.so interposes: write (fd 2), and socket, connect,
 * send and close for syslog (AF_UNIX): each passes its hook's first test
 * (an untracked fd, a non-INET socket) straight to libc. */
#ifndef FUSEBOX_LOG_H
#define FUSEBOX_LOG_H

#include <stdatomic.h>
#include <stdbool.h>

enum log_level { LOG_OFF, LOG_ERROR, LOG_WARN, LOG_INFO, LOG_DEBUG };

/* Returns the level named by s ("off", "error", "warn", "info", "debug"), or
 * -1 when s names none. */
int log_level_parse(const char *s);

void log_set_level(enum log_level level);

/* True when messages of this level are written. */
bool log_enabled(enum log_level level);

/* Remembers what fd 2 is now (its device and inode, or that it is closed)
 * as the only stderr messages may go to. Called once, when the library is
 * loaded; until then (and in the command, which never calls it) any fd 2
 * is. Leaves errno alone. */
void log_pin_stderr(void);

/* Writes "fusebox: MESSAGE\n" to stderr when level is enabled and fd 2 is
 * still the pinned stderr; otherwise sends an error or warning to syslog
 * (when on) and writes nothing. Leaves errno alone. */
void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Sends transitions to syslog too: setting is FUSEBOX_SYSLOG's value, "1"
 * for /dev/log or the absolute path of another syslog datagram socket;
 * NULL, "" or "0" turn it off. Returns false (and leaves it off) for any
 * other value. Called once, before any message is sent. */
bool log_set_syslog(const char *setting);

/* True when log_set_syslog turned syslog on. */
bool log_syslog_enabled(void);

/* Sends "fusebox[PID]: MESSAGE" to the syslog socket as facility user,
 * severity info, when syslog is on. Never blocks and never fails the
 * caller: a message the daemon cannot take (or a missing daemon) is
 * dropped. Async-signal-safe; leaves errno alone. In the shim, the socket
 * calls go through its own hooks, which pass AF_UNIX straight to libc. */
void log_syslog(const char *message);

/* Like log_msg, but only the first time this call site runs in the process. */
#define log_once(level, ...)                                                                       \
    do {                                                                                           \
        static atomic_flag said_ = ATOMIC_FLAG_INIT;                                               \
        if (!atomic_flag_test_and_set_explicit(&said_, memory_order_relaxed))                      \
            log_msg(level, __VA_ARGS__);                                                           \
    } while (0)

#endif
