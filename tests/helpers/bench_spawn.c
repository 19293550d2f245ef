/* bench_spawn — starts a program COUNT times, one after the other, and
 * prints the mean microseconds per run (for make bench's start-up, curl and
 * transfer cases).
 *
 *   bench_spawn [--any-exit] COUNT PROGRAM [ARGS...]
 *
 * The environment (LD_PRELOAD, FUSEBOX_RULES, …) is passed on unchanged;
 * the program's output goes to /dev/null. A run that does not exit 0 is an
 * error unless --any-exit is given (a curl that times out or is refused is
 * what some cases measure). */
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

int main(int argc, char **argv)
{
    int any_exit = argc > 1 && strcmp(argv[1], "--any-exit") == 0;
    argv += any_exit;
    argc -= any_exit;
    if (argc < 3) {
        fprintf(stderr, "usage: bench_spawn [--any-exit] COUNT PROGRAM [ARGS...]\n");
        return 2;
    }
    long count = atol(argv[1]);
    posix_spawn_file_actions_t quiet;
    posix_spawn_file_actions_init(&quiet);
    posix_spawn_file_actions_addopen(&quiet, 1, "/dev/null", O_WRONLY, 0);
    struct timespec start, end;
    clock_gettime(CLOCK_MONOTONIC, &start);
    for (long i = 0; i < count; i++) {
        pid_t pid;
        int status;
        if (posix_spawnp(&pid, argv[2], &quiet, NULL, argv + 2, environ) != 0 ||
            waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
            (!any_exit && WEXITSTATUS(status) != 0)) {
            fprintf(stderr, "bench_spawn: %s failed\n", argv[2]);
            return 1;
        }
    }
    clock_gettime(CLOCK_MONOTONIC, &end);
    double us =
        (double)(end.tv_sec - start.tv_sec) * 1e6 + (double)(end.tv_nsec - start.tv_nsec) / 1e3;
    printf("%.1f\n", us / (double)count);
    return 0;
}
