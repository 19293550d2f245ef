#include "temp_file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define SUFFIX_LEN 6
#define TRIES 100

/* 64 bits that differ between calls, threads and processes. */
static uint64_t next_seed(void)
{
    static _Atomic uint64_t calls;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t x = (uint64_t)ts.tv_nsec ^ (uint64_t)ts.tv_sec << 30 ^ (uint64_t)getpid() << 40 ^
                 (uint64_t)(uintptr_t)&ts ^
                 atomic_fetch_add_explicit(&calls, 1, memory_order_relaxed) * 0x9e3779b97f4a7c15ull;
    x ^= x >> 33; /* spread: a counter step changes every letter */
    x *= 0xff51afd7ed558ccdull;
    return x ^ x >> 33;
}

int temp_file_create(char *path)
{
    static const char letters[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    size_t len = strlen(path);
    if (len < SUFFIX_LEN || strcmp(path + len - SUFFIX_LEN, "XXXXXX") != 0) {
        errno = EINVAL;
        return -1;
    }
    for (int tries = 0; tries < TRIES; tries++) {
        uint64_t x = next_seed();
        for (size_t i = 0; i < SUFFIX_LEN; i++, x /= sizeof letters - 1)
            path[len - SUFFIX_LEN + i] = letters[x % (sizeof letters - 1)];
        int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd >= 0 || errno != EEXIST)
            return fd;
    }
    return -1;
}
