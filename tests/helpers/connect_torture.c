/* connect_torture — connect() in the awkward ways real programs use it, for
 * tests/signals.bats. Loopback only. Prints one summary line per mode.
 *
 *   connect_torture threads PORT THREADS COUNT   COUNT blocking connects on
 *                                                each of THREADS threads
 *   connect_torture in-handler PORT              a connect from a signal
 *                                                handler (after one outside)
 *   connect_torture eintr PORT                   a blocking connect cut short
 *                                                by SIGALRM (no SA_RESTART)
 *   connect_torture fork PORT                    fork while 4 threads connect;
 *                                                the child connects too
 *   connect_torture fork-built PORT              the same, after one connect
 *                                                (the shim is set up before
 *                                                the threads start)
 *   connect_torture mix DEAD_PORT THREADS COUNT  like threads, to a listener
 *                                                of this process's own, but
 *                                                about one connect in ten goes
 *                                                to DEAD_PORT
 *   connect_torture handler-during-setup PORT    a connect from a signal
 *                                                handler every millisecond
 *                                                while the first connect
 *                                                runs (fusebox sets up in it)
 *   connect_torture socket-in-handler PORT       a socket made in a SIGUSR1
 *                                                handler (the test raises the
 *                                                signal inside the first
 *                                                socket()'s set-up), then a
 *                                                connect
 *   connect_torture burst PORT THREADS STACK_KB  THREADS threads with stacks
 *                                                of STACK_KB KiB, released at
 *                                                once, one connect each: the
 *                                                process's first, so fusebox
 *                                                sets up on one of them while
 *                                                the others arrive */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

static struct sockaddr_in target, dead_target;
static long per_thread;
static _Atomic long ok, refused, other;

/* One blocking connect on a fresh socket to to; returns its errno (0:
 * connected). */
static int connect_to(const struct sockaddr_in *to)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    int err = connect(fd, (const struct sockaddr *)to, sizeof *to) == 0 ? 0 : errno;
    close(fd);
    if (err == 0)
        ok++;
    else if (err == ECONNREFUSED)
        refused++;
    else
        other++;
    return err;
}

static int connect_once(void)
{
    return connect_to(&target);
}

static void *connect_many(void *arg)
{
    unsigned seed = (unsigned)(uintptr_t)arg;
    for (long i = 0; i < per_thread; i++) {
        seed = seed * 1103515245u + 12345u;
        bool dead = dead_target.sin_port && (seed >> 16) % 10 == 0;
        connect_to(dead ? &dead_target : &target);
    }
    return NULL;
}

static void run_threads(int threads)
{
    pthread_t t[64];
    for (int i = 0; i < threads; i++)
        pthread_create(&t[i], NULL, connect_many, (void *)(uintptr_t)(getpid() * 64 + i));
    for (int i = 0; i < threads; i++)
        pthread_join(t[i], NULL);
}

#define BURST_MAX 2000
static pthread_barrier_t burst_start;

static void *connect_at_start(void *arg)
{
    (void)arg;
    pthread_barrier_wait(&burst_start);
    connect_once();
    return NULL;
}

/* Returns once every thread has made its connect; exits when one cannot be
 * started. */
static void run_burst(long threads, long stack_kb)
{
    static pthread_t t[BURST_MAX];
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    if (threads < 1 || threads > BURST_MAX || stack_kb < 16 ||
        pthread_attr_setstacksize(&attr, (size_t)stack_kb * 1024) != 0) {
        fprintf(stderr, "connect_torture: burst: 1 to %d threads, stacks of 16 KiB or more\n",
                BURST_MAX);
        exit(2);
    }
    pthread_barrier_init(&burst_start, NULL, (unsigned)threads);
    for (long i = 0; i < threads; i++)
        if (pthread_create(&t[i], &attr, connect_at_start, NULL) != 0) {
            perror("connect_torture: pthread_create");
            exit(1); /* the others wait at the barrier for ever */
        }
    for (long i = 0; i < threads; i++)
        pthread_join(t[i], NULL);
}

static void *accept_forever(void *arg)
{
    int listener = (int)(intptr_t)arg;
    for (;;) {
        int fd = accept(listener, NULL, NULL);
        if (fd >= 0)
            close(fd);
    }
    return NULL;
}

/* Points target at a loopback listener of our own, served by a thread. */
static void serve_target(void)
{
    int listener = socket(AF_INET, SOCK_STREAM, 0);
    socklen_t len = sizeof target;
    target.sin_port = 0;
    if (listener < 0 || bind(listener, (struct sockaddr *)&target, sizeof target) != 0 ||
        listen(listener, 4096) != 0 || getsockname(listener, (struct sockaddr *)&target, &len)) {
        perror("connect_torture: listener");
        exit(1);
    }
    pthread_t t;
    pthread_create(&t, NULL, accept_forever, (void *)(intptr_t)listener);
}

static volatile sig_atomic_t handler_err = -1;

static void connect_in_handler(int sig)
{
    (void)sig;
    int saved = errno;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    handler_err = connect(fd, (struct sockaddr *)&target, sizeof target) == 0 ? 0 : errno;
    close(fd);
    errno = saved;
}

static volatile sig_atomic_t handler_connects;

static void count_connect_in_handler(int sig)
{
    connect_in_handler(sig);
    handler_connects++;
}

/* Binds libc's connect, socket and close with an AF_UNIX connect, which
 * fusebox passes straight through without setting up: a handler's connect
 * then never has to look a symbol up. */
static void bind_real_connect(void)
{
    struct sockaddr_un nowhere = {.sun_family = AF_UNIX};
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    connect(fd, (struct sockaddr *)&nowhere, sizeof nowhere);
    close(fd);
}

static void just_interrupt(int sig)
{
    (void)sig;
}

static int handler_socket_err = -1; /* -1: the handler did not run */

static void socket_in_handler(int sig)
{
    (void)sig;
    int saved = errno;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    handler_socket_err = fd < 0 ? errno : 0;
    if (fd >= 0)
        close(fd);
    errno = saved;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: connect_torture threads|mix|burst|in-handler|socket-in-handler|"
                        "eintr|fork PORT [THREADS COUNT|STACK_KB]\n");
        return 2;
    }
    target.sin_family = AF_INET;
    target.sin_port = htons((uint16_t)atoi(argv[2]));
    target.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (strcmp(argv[1], "mix") == 0 && argc == 5) {
        dead_target = target;
        serve_target();
        per_thread = atol(argv[4]);
        int threads = atoi(argv[3]);
        run_threads(threads < 64 ? threads : 64);
    } else if (strcmp(argv[1], "threads") == 0 && argc == 5) {
        per_thread = atol(argv[4]);
        int threads = atoi(argv[3]);
        run_threads(threads < 64 ? threads : 64);
    } else if (strcmp(argv[1], "burst") == 0 && argc == 5) {
        run_burst(atol(argv[3]), atol(argv[4]));
    } else if (strcmp(argv[1], "in-handler") == 0) {
        connect_once();
        signal(SIGUSR1, connect_in_handler);
        raise(SIGUSR1);
        printf("handler: %s\n", handler_err == 0 ? "ok" : strerror(handler_err));
    } else if (strcmp(argv[1], "socket-in-handler") == 0) {
        signal(SIGUSR1, socket_in_handler);
        connect_once();
        const char *said = handler_socket_err < 0    ? "not run"
                           : handler_socket_err == 0 ? "ok"
                                                     : strerror(handler_socket_err);
        printf("handler: %s\n", said);
    } else if (strcmp(argv[1], "handler-during-setup") == 0) {
        bind_real_connect();
        struct sigaction sa = {.sa_handler = count_connect_in_handler, .sa_flags = SA_RESTART};
        sigaction(SIGALRM, &sa, NULL);
        struct itimerval every_ms = {.it_interval = {0, 1000}, .it_value = {0, 1000}};
        setitimer(ITIMER_REAL, &every_ms, NULL);
        connect_once();
        setitimer(ITIMER_REAL, &(struct itimerval){{0, 0}, {0, 0}}, NULL);
        printf("handler connects: %s\n", handler_connects ? "some" : "none");
    } else if (strcmp(argv[1], "eintr") == 0) {
        struct sigaction sa = {.sa_handler = just_interrupt}; /* no SA_RESTART */
        sigaction(SIGALRM, &sa, NULL);
        struct itimerval tick = {.it_value = {0, 200000}};
        setitimer(ITIMER_REAL, &tick, NULL);
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        int rc = connect(fd, (struct sockaddr *)&target, sizeof target);
        printf("connect: %s\n", rc == 0 ? "ok" : strerror(errno));
        close(fd);
        return 0;
    } else if (strcmp(argv[1], "fork") == 0 || strcmp(argv[1], "fork-built") == 0) {
        if (strcmp(argv[1], "fork-built") == 0)
            connect_once();
        per_thread = 200;
        pthread_t t[4];
        for (int i = 0; i < 4; i++)
            pthread_create(&t[i], NULL, connect_many, NULL);
        pid_t pid = fork();
        if (pid == 0) {
            ok = refused = other = 0;
            connect_once();
            _exit(ok + refused == 1 ? 0 : 1);
        }
        int status = 1;
        waitpid(pid, &status, 0);
        for (int i = 0; i < 4; i++)
            pthread_join(t[i], NULL);
        printf("child: %s\n", WIFEXITED(status) && WEXITSTATUS(status) == 0 ? "ok" : "failed");
        ok -= strcmp(argv[1], "fork-built") == 0; /* the summary counts the threads' */
    } else {
        fprintf(stderr, "connect_torture: unknown mode %s\n", argv[1]);
        return 2;
    }
    printf("ok %ld refused %ld other %ld\n", (long)ok, (long)refused, (long)other);
    return 0;
}
