/* clock.h — the two clocks fusebox reads: monotonic for decisions shared
 * between processes (one boot-wide timeline), wall-clock for display. */
#ifndef FUSEBOX_CLOCK_H
#define FUSEBOX_CLOCK_H

#include <stdint.h>
#include <time.h>

/* Milliseconds of CLOCK_MONOTONIC_COARSE (never 0): the same timeline in
 * every process, read in a few nanoseconds, a tick (1-10 ms) coarse, which
 * breaker timeouts do not notice. Leaves errno alone. */
static inline uint64_t clock_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u + 1u;
}

/* Milliseconds since the Unix epoch. Leaves errno alone. */
static inline uint64_t clock_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

#endif
