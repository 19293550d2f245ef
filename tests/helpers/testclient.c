/* testclient.c — a connect(2) driver for fusebox's bats tests.
 *
 * Performs N connects to one loopback address (or Unix socket), each on a
 * fresh socket that is closed afterwards, and prints one line per attempt:
 * the outcome and the microseconds the attempt took. It lets a test see
 * exactly what an application under the shim sees, with blocking or
 * non-blocking connects, UDP, several threads, or a connect abandoned while
 * pending. Only loopback addresses are contacted. */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

enum exit_code { EXIT_OK = 0, EXIT_FAIL = 1, EXIT_USAGE = 2 };

/* Outcomes that are not an errno value (those are > 0; 0 is success). */
#define RES_TIMEOUT (-1) /* --nonblock: poll ran out of --timeout-ms */
#define RES_PENDING (-2) /* --close-pending: still pending when closed */

/* Where to connect and how. */
struct target {
    int family, socktype, protocol;
    struct sockaddr_storage addr;
    socklen_t addrlen;
};

struct options {
    const char *host, *port, *unix_path;
    unsigned long count, threads, timeout_ms;
    bool nonblock, udp, close_pending, getsockopt, loading;
};

/* One attempt: outcome (0, an errno value, or RES_*), its duration, and
 * with --getsockopt the SO_ERROR read after it. */
struct result {
    int outcome;
    long long us;
    int so_error;
};

static struct options opt;
static struct target tgt;

/* Microseconds of CLOCK_MONOTONIC. */
static long long now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* The symbolic name of errno value e ("ECONNREFUSED"), or "E<number>". */
static const char *errno_name(int e, char *buf, size_t len)
{
    const char *n = strerrorname_np(e);
    if (n != NULL)
        return n;
    snprintf(buf, len, "E%d", e);
    return buf;
}

/* The symbolic name of getaddrinfo error code e ("EAI_NONAME"). */
static const char *gai_name(int e)
{
    switch (e) {
    case EAI_NONAME:
        return "EAI_NONAME";
    case EAI_AGAIN:
        return "EAI_AGAIN";
    case EAI_FAIL:
        return "EAI_FAIL";
    case EAI_FAMILY:
        return "EAI_FAMILY";
    case EAI_SERVICE:
        return "EAI_SERVICE";
    case EAI_SOCKTYPE:
        return "EAI_SOCKTYPE";
    case EAI_MEMORY:
        return "EAI_MEMORY";
    case EAI_SYSTEM:
        return "EAI_SYSTEM";
#ifdef EAI_NODATA
    case EAI_NODATA:
        return "EAI_NODATA";
#endif
#ifdef EAI_ADDRFAMILY
    case EAI_ADDRFAMILY:
        return "EAI_ADDRFAMILY";
#endif
    default:
        return "EAI_OTHER";
    }
}

/* True for 127.0.0.0/8, ::1 and ::ffff:127.0.0.0/104. */
static bool is_loopback(const struct sockaddr_storage *ss)
{
    if (ss->ss_family == AF_INET)
        return (ntohl(((const struct sockaddr_in *)ss)->sin_addr.s_addr) >> 24) == 127;
    if (ss->ss_family != AF_INET6)
        return false;
    const struct in6_addr *a = &((const struct sockaddr_in6 *)ss)->sin6_addr;
    return IN6_IS_ADDR_LOOPBACK(a) || (IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127);
}

/* Fills tgt from the options: a Unix socket path, or HOST PORT resolved with
 * getaddrinfo (first result). Returns EXIT_OK; EXIT_FAIL after printing
 * "EAI_... Nus" when the name does not resolve; EXIT_USAGE after reporting
 * a path that is too long or an address that is not loopback. */
static int target_resolve(void)
{
    tgt.socktype = opt.udp ? SOCK_DGRAM : SOCK_STREAM;
    if (opt.unix_path != NULL) {
        struct sockaddr_un *un = (struct sockaddr_un *)&tgt.addr;
        if (strlen(opt.unix_path) >= sizeof un->sun_path) {
            fprintf(stderr, "testclient: --unix path too long\n");
            return EXIT_USAGE;
        }
        un->sun_family = AF_UNIX;
        strcpy(un->sun_path, opt.unix_path);
        tgt.family = AF_UNIX;
        tgt.addrlen = sizeof *un;
        return EXIT_OK;
    }
    struct addrinfo hints = {
        .ai_family = AF_UNSPEC, .ai_socktype = tgt.socktype, .ai_flags = AI_NUMERICSERV};
    struct addrinfo *res = NULL;
    long long t0 = now_us();
    int e = getaddrinfo(opt.host, opt.port, &hints, &res);
    if (e != 0) {
        printf("%s %lldus\n", gai_name(e), now_us() - t0);
        fprintf(stderr, "testclient: cannot resolve %s port %s: %s\n", opt.host, opt.port,
                gai_strerror(e));
        return EXIT_FAIL;
    }
    memcpy(&tgt.addr, res->ai_addr, res->ai_addrlen);
    tgt.addrlen = res->ai_addrlen;
    tgt.family = res->ai_family;
    tgt.protocol = res->ai_protocol;
    freeaddrinfo(res);
    if (!is_loopback(&tgt.addr)) {
        fprintf(stderr, "testclient: %s is not a loopback address; refusing to connect\n",
                opt.host);
        return EXIT_USAGE;
    }
    return EXIT_OK;
}

/* Waits up to ms (forever if negative) for fd's pending connect to finish.
 * Returns its outcome from getsockopt(SO_ERROR) (0 or an errno value), or
 * if_pending when it is still pending. */
static int await_connect(int fd, int ms, int if_pending)
{
    struct pollfd p = {.fd = fd, .events = POLLOUT};
    int r;
    while ((r = poll(&p, 1, ms)) < 0 && errno == EINTR)
        ;
    if (r < 0)
        return errno;
    if (r == 0)
        return if_pending;
    int e = 0;
    socklen_t len = sizeof e;
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &len) != 0)
        return errno;
    return e;
}

/* Sets SO_SNDTIMEO, which bounds a blocking connect on Linux (it then fails
 * with EINPROGRESS). Returns 0 or an errno value. */
static int set_connect_timeout(int fd, unsigned long ms)
{
    struct timeval tv = {.tv_sec = (time_t)(ms / 1000), .tv_usec = (suseconds_t)(ms % 1000) * 1000};
    return setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv) == 0 ? 0 : errno;
}

/* Performs one connect to tgt as the options say, on a fresh socket that is
 * closed before returning, and returns what happened. */
static struct result attempt(void)
{
    struct result r = {0};
    bool nonblock = opt.nonblock || opt.close_pending;
    int fd = socket(tgt.family, tgt.socktype | SOCK_CLOEXEC | (nonblock ? SOCK_NONBLOCK : 0),
                    tgt.protocol);
    if (fd < 0) {
        r.outcome = errno;
        return r;
    }
    if (!nonblock && opt.timeout_ms > 0 && (r.outcome = set_connect_timeout(fd, opt.timeout_ms))) {
        close(fd);
        return r;
    }
    long long t0 = now_us();
    if (connect(fd, (const struct sockaddr *)&tgt.addr, tgt.addrlen) != 0) {
        r.outcome = errno;
        if (nonblock && r.outcome == EINPROGRESS) {
            int ms = opt.timeout_ms > 0 ? (int)opt.timeout_ms : -1;
            r.outcome = await_connect(fd, ms, opt.close_pending ? RES_PENDING : RES_TIMEOUT);
        }
    }
    r.us = now_us() - t0;
    if (opt.getsockopt) {
        socklen_t len = sizeof r.so_error;
        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &r.so_error, &len) != 0)
            r.so_error = errno;
    }
    close(fd);
    return r;
}

/* Prints r as one line with a single write(2), so lines of several threads
 * never interleave: "ok|ERRNO|TIMEOUT|pending Nus[ so_error=X]". */
static void report(const struct result *r)
{
    char line[160], b1[16], b2[16];
    const char *what = r->outcome == 0             ? "ok"
                       : r->outcome == RES_TIMEOUT ? "TIMEOUT"
                       : r->outcome == RES_PENDING ? "pending"
                                                   : errno_name(r->outcome, b1, sizeof b1);
    int n = snprintf(line, sizeof line, "%s %lldus", what, r->us);
    if (opt.getsockopt)
        n += snprintf(line + n, sizeof line - (size_t)n, " so_error=%s",
                      r->so_error == 0 ? "0" : errno_name(r->so_error, b2, sizeof b2));
    line[n++] = '\n';
    (void)!write(STDOUT_FILENO, line, (size_t)n);
}

/* Thread body: --count attempts, each reported. */
static void *run_attempts(void *arg)
{
    (void)arg;
    for (unsigned long i = 0; i < opt.count; i++) {
        struct result r = attempt();
        report(&r);
    }
    return NULL;
}

static void usage(FILE *f)
{
    fputs("usage: testclient connect HOST PORT [OPTIONS]\n"
          "       testclient connect --unix PATH [OPTIONS]\n"
          "\n"
          "Connects COUNT times (a fresh socket each time, closed afterwards) and prints one\n"
          "line per attempt: OUTCOME ELAPSEDus, e.g. 'ok 85us' or 'ECONNREFUSED 12us'.\n"
          "OUTCOME is 'ok', the errno name the application saw, 'TIMEOUT' when a\n"
          "non-blocking connect was still pending after --timeout-ms (the client gave up;\n"
          "no errno), or 'pending' when --close-pending closed it while pending.\n"
          "HOST is a name (getaddrinfo, first result) or a literal; it must be loopback.\n"
          "\n"
          "Options:\n"
          "  --count N        attempts per thread (default 1)\n"
          "  --threads K      run K threads, each doing COUNT attempts (default 1)\n"
          "  --timeout-ms T   give up after T ms (default 5000; 0 = never). Blocking\n"
          "                   connects use SO_SNDTIMEO, so Linux fails them with\n"
          "                   EINPROGRESS; non-blocking ones print TIMEOUT\n"
          "  --nonblock       non-blocking connect, poll(POLLOUT), getsockopt(SO_ERROR)\n"
          "  --close-pending  non-blocking connect, closed after T ms if still pending\n"
          "  --getsockopt     after the attempt, read SO_ERROR once more and append\n"
          "                   ' so_error=NAME' (or ' so_error=0') to the line\n"
          "  --udp            SOCK_DGRAM instead of SOCK_STREAM\n"
          "  --unix PATH      connect to a Unix domain socket instead of HOST PORT\n"
          "  --loading        afterwards print 'at_secure N' (getauxval(AT_SECURE)) and\n"
          "                   'libfusebox mapped' or 'libfusebox not mapped'\n"
          "  -h, --help       show this help\n"
          "\n"
          "Exit status: 0 when the attempts ran (whatever their outcome), 1 when they could\n"
          "not (HOST did not resolve: an 'EAI_... Nus' line is printed), 2 on usage errors.\n",
          f);
}

/* Parses a decimal number in [min, max] into *out. Returns 0, or -1. */
static int parse_num(const char *s, unsigned long min, unsigned long max, unsigned long *out)
{
    if (*s == '\0' || strlen(s) > 10 || strspn(s, "0123456789") != strlen(s))
        return -1;
    *out = strtoul(s, NULL, 10);
    return *out >= min && *out <= max ? 0 : -1;
}

enum long_only {
    OPT_COUNT = 256,
    OPT_TIMEOUT,
    OPT_NONBLOCK,
    OPT_UDP,
    OPT_UNIX,
    OPT_THREADS,
    OPT_CLOSE_PENDING,
    OPT_GETSOCKOPT,
    OPT_LOADING,
};

/* Applies option c with argument arg to opt. Returns 0, or -1 if arg is bad. */
static int apply_option(int c, const char *arg)
{
    switch (c) {
    case OPT_COUNT:
        return parse_num(arg, 1, 1000000, &opt.count);
    case OPT_THREADS:
        return parse_num(arg, 1, 256, &opt.threads);
    case OPT_TIMEOUT:
        return parse_num(arg, 0, 3600000, &opt.timeout_ms);
    case OPT_UNIX:
        opt.unix_path = arg;
        return 0;
    case OPT_NONBLOCK:
        opt.nonblock = true;
        return 0;
    case OPT_UDP:
        opt.udp = true;
        return 0;
    case OPT_CLOSE_PENDING:
        opt.close_pending = true;
        return 0;
    case OPT_GETSOCKOPT:
        opt.getsockopt = true;
        return 0;
    case OPT_LOADING:
        opt.loading = true;
        return 0;
    }
    return -1;
}

/* Parses argv into opt. Returns 0, 1 after --help, or -1 on a usage error
 * (already reported). */
static int parse_args(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"count", required_argument, NULL, OPT_COUNT},
        {"timeout-ms", required_argument, NULL, OPT_TIMEOUT},
        {"nonblock", no_argument, NULL, OPT_NONBLOCK},
        {"udp", no_argument, NULL, OPT_UDP},
        {"unix", required_argument, NULL, OPT_UNIX},
        {"threads", required_argument, NULL, OPT_THREADS},
        {"close-pending", no_argument, NULL, OPT_CLOSE_PENDING},
        {"getsockopt", no_argument, NULL, OPT_GETSOCKOPT},
        {"loading", no_argument, NULL, OPT_LOADING},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    opt = (struct options){.count = 1, .threads = 1, .timeout_ms = 5000};
    if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0))
        return usage(stdout), 1;
    if (argc < 2 || strcmp(argv[1], "connect") != 0) {
        fprintf(stderr, "testclient: expected 'connect' (see --help)\n");
        return -1;
    }
    int c;
    optind = 2;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        if (c == 'h')
            return usage(stdout), 1;
        if (c == '?')
            return -1;
        if (apply_option(c, optarg) != 0) {
            fprintf(stderr, "testclient: bad value '%s' for an option\n", optarg);
            return -1;
        }
    }
    int left = argc - optind;
    if (opt.unix_path != NULL ? left != 0 : left != 2) {
        fprintf(stderr, "testclient: expected HOST PORT, or --unix PATH alone\n");
        return -1;
    }
    if (left == 2) {
        opt.host = argv[optind];
        opt.port = argv[optind + 1];
        unsigned long port;
        if (parse_num(opt.port, 1, 65535, &port) != 0) {
            fprintf(stderr, "testclient: bad PORT '%s'\n", opt.port);
            return -1;
        }
    }
    return 0;
}

/* --loading: whether this process runs in secure-execution mode and whether
 * a library named libfusebox* is mapped into it (however it got there). */
static void report_loading(void)
{
    char line[4096];
    bool mapped = false;
    FILE *maps = fopen("/proc/self/maps", "r");
    while (maps != NULL && !mapped && fgets(line, sizeof line, maps) != NULL)
        mapped = strstr(line, "/libfusebox") != NULL;
    if (maps != NULL)
        fclose(maps);
    printf("at_secure %lu\nlibfusebox %s\n", getauxval(AT_SECURE),
           mapped ? "mapped" : "not mapped");
}

int main(int argc, char **argv)
{
    int r = parse_args(argc, argv);
    if (r != 0)
        return r > 0 ? EXIT_OK : EXIT_USAGE;
    r = target_resolve();
    if (r != EXIT_OK)
        return r;
    if (opt.threads == 1) {
        run_attempts(NULL);
        if (opt.loading)
            report_loading();
        return EXIT_OK;
    }
    pthread_t tids[256];
    unsigned long started = 0;
    for (; started < opt.threads; started++) {
        int e = pthread_create(&tids[started], NULL, run_attempts, NULL);
        if (e != 0) {
            fprintf(stderr, "testclient: pthread_create: %s\n", strerror(e));
            break;
        }
    }
    for (unsigned long i = 0; i < started; i++)
        pthread_join(tids[i], NULL);
    if (opt.loading)
        report_loading();
    return started == opt.threads ? EXIT_OK : EXIT_FAIL;
}
