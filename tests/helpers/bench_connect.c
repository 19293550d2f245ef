/* bench_connect — times connect() as a program sees it, for make bench.
 *
 *   bench_connect accept COUNT   socket + connect + close to a loopback
 *                                listener served by a thread of this process
 *                                (which closes with the raw system call, and
 *                                is waited for: every run counts all COUNT)
 *   bench_connect refused COUNT  socket + connect + close to a loopback port
 *                                that refuses (bound, not listening)
 *   bench_connect repeat COUNT   connect() again and again on one socket to a
 *                                refusing port (with an open breaker: the
 *                                shim's reject path alone)
 *   bench_connect http COUNT     COUNT HTTP/1.1 requests on one keep-alive
 *                                connection to a thread of this process that
 *                                answers each with a 200 (one write and one
 *                                read per request on each side)
 *
 * Prints "PORT" on stderr first when --print-port is given (so rules can be
 * written for it) and waits for a line on stdin; then prints the mean
 * nanoseconds per iteration on stdout. Loopback only. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static int listener(int do_listen, struct sockaddr_in *addr)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    socklen_t len = sizeof *addr;
    memset(addr, 0, sizeof *addr);
    addr->sin_family = AF_INET;
    addr->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || bind(fd, (struct sockaddr *)addr, sizeof *addr) != 0 ||
        (do_listen && listen(fd, 4096) != 0) || getsockname(fd, (struct sockaddr *)addr, &len)) {
        perror("bench_connect: listener");
        exit(1);
    }
    return fd;
}

static _Atomic long accepted;

/* The listener's side of accept mode: a fixture, not the program measured,
 * so it closes with the raw system call (no hook of the shim's runs in it,
 * and it costs the same with and without the shim). */
static void *accept_forever(void *arg)
{
    int fd = *(int *)arg;
    for (;;) {
        int c = accept(fd, NULL, NULL);
        if (c >= 0) {
            syscall(SYS_close, c);
            atomic_fetch_add(&accepted, 1);
        }
    }
    return NULL;
}

/* Waits (at most 30 s) until the listener has accepted count connections,
 * so that every run counts the same work however the threads were
 * scheduled (a listener left behind at exit would leave its part out). */
static void wait_accepted(long count)
{
    struct timespec tick = {0, 1000000};
    for (int i = 0; i < 30000 && atomic_load(&accepted) < count; i++)
        nanosleep(&tick, NULL);
}

/* Answers every request on one accepted connection with an empty 200. */
static void *answer_forever(void *arg)
{
    static const char ok[] = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
    int c = accept(*(int *)arg, NULL, NULL);
    char buf[512];
    while (c >= 0 && read(c, buf, sizeof buf) > 0)
        if (write(c, ok, sizeof ok - 1) < 0)
            break;
    return NULL;
}

/* count requests on one connection to addr. */
static void requests(const struct sockaddr_in *addr, long count)
{
    static const char get[] = "GET / HTTP/1.1\r\nHost: bench\r\n\r\n";
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    char buf[512];
    if (connect(fd, (const struct sockaddr *)addr, sizeof *addr) != 0) {
        perror("bench_connect: connect");
        exit(1);
    }
    for (long i = 0; i < count; i++)
        if (write(fd, get, sizeof get - 1) < 0 || read(fd, buf, sizeof buf) <= 0) {
            perror("bench_connect: request");
            exit(1);
        }
    close(fd);
}

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* One socket + connect + close; the close resets (no TIME_WAIT pile-up). */
static void connect_once(const struct sockaddr_in *addr)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct linger reset = {1, 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &reset, sizeof reset);
    connect(fd, (const struct sockaddr *)addr, sizeof *addr);
    close(fd);
}

int main(int argc, char **argv)
{
    if (argc < 3 || (strcmp(argv[1], "accept") && strcmp(argv[1], "refused") &&
                     strcmp(argv[1], "repeat") && strcmp(argv[1], "http"))) {
        fprintf(stderr, "usage: bench_connect accept|refused|repeat|http COUNT [--print-port]\n");
        return 2;
    }
    long count = atol(argv[2]);
    struct sockaddr_in addr;
    bool http = strcmp(argv[1], "http") == 0;
    int lfd = listener(strcmp(argv[1], "accept") == 0 || http, &addr);
    if (argc > 3 && strcmp(argv[3], "--print-port") == 0) {
        char line[8];
        fprintf(stderr, "%u\n", ntohs(addr.sin_port));
        if (!fgets(line, sizeof line, stdin))
            return 1;
    }
    pthread_t t;
    if (strcmp(argv[1], "accept") == 0 || http)
        pthread_create(&t, NULL, http ? answer_forever : accept_forever, &lfd);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    double start = now_ns();
    if (http) {
        requests(&addr, count);
        count = count ? count : 1;
    }
    /* the mode is told apart once: a string compare per iteration would be
     * counted too, and its cost depends on where argv happens to lie */
    bool repeat = strcmp(argv[1], "repeat") == 0;
    for (long i = 0; i < count && !http; i++) {
        if (repeat)
            connect(fd, (const struct sockaddr *)&addr, sizeof addr);
        else
            connect_once(&addr);
    }
    double elapsed = now_ns() - start;
    if (strcmp(argv[1], "accept") == 0)
        wait_accepted(count);
    printf("%.1f\n", elapsed / (double)count);
    return 0;
}
