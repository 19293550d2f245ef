/* bench_contend — PROCS processes hammering one destination with connect()
 * for SECONDS, for make bench's contention case.
 *
 *   bench_contend PROCS SECONDS
 *
 * The parent binds a loopback port without listening (connects are refused)
 * and makes one connect to it before forking, so that under the shim with a
 * fail_max 1 breaker on 127.0.0.1 the breaker is open and every timed call is
 * a breaker decision (rejected, no syscall); without the shim every call is a
 * real refused connect. The children start together, each counts its calls
 * on one socket, and the parent prints the total calls per second. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Connects to ADDR until SECONDS have passed since the start; returns the
 * number of calls (refused or rejected: anything else is an error). */
static long hammer(const struct sockaddr_in *addr, double seconds)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    double end = now_s() + seconds;
    long calls = 0;
    for (;;) {
        for (int i = 0; i < 256; i++) {
            if (connect(fd, (const struct sockaddr *)addr, sizeof *addr) == 0 ||
                errno != ECONNREFUSED) {
                perror("bench_contend: connect");
                exit(1);
            }
        }
        calls += 256;
        if (now_s() >= end)
            return calls;
    }
}

int main(int argc, char **argv)
{
    int procs = argc == 3 ? atoi(argv[1]) : 0;
    double seconds = argc == 3 ? atof(argv[2]) : 0;
    if (procs < 1 || procs > 256 || seconds <= 0) {
        fprintf(stderr, "usage: bench_contend PROCS SECONDS\n");
        return 2;
    }
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof addr;
    int lfd = socket(AF_INET, SOCK_STREAM, 0);
    int first = socket(AF_INET, SOCK_STREAM, 0);
    int go[2], results[2];
    if (lfd < 0 || bind(lfd, (struct sockaddr *)&addr, sizeof addr) != 0 ||
        getsockname(lfd, (struct sockaddr *)&addr, &len) != 0 || pipe(go) != 0 ||
        pipe(results) != 0) {
        perror("bench_contend: setup");
        return 1;
    }
    connect(first, (const struct sockaddr *)&addr, sizeof addr);
    close(first);
    for (int p = 0; p < procs; p++) {
        pid_t pid = fork();
        if (pid < 0) {
            perror("bench_contend: fork");
            return 1;
        }
        if (pid == 0) {
            char c;
            close(go[1]);
            if (read(go[0], &c, 1) != 0)
                _exit(1);
            long calls = hammer(&addr, seconds);
            _exit(write(results[1], &calls, sizeof calls) == sizeof calls ? 0 : 1);
        }
    }
    close(go[1]);
    close(results[1]);
    long total = 0, calls;
    double start = now_s();
    for (int p = 0; p < procs; p++) {
        if (read(results[0], &calls, sizeof calls) != sizeof calls) {
            fprintf(stderr, "bench_contend: a child failed\n");
            return 1;
        }
        total += calls;
    }
    double elapsed = now_s() - start;
    int status, ok = 1;
    while (wait(&status) > 0)
        ok &= WIFEXITED(status) && WEXITSTATUS(status) == 0;
    if (!ok)
        return 1;
    printf("%.0f\n", (double)total / (elapsed > seconds ? elapsed : seconds));
    return 0;
}
