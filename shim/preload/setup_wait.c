#include "setup_wait.h"

#include <limits.h>
#include <linux/futex.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "keep_errno.h"

/* Threads in setup_wait now: setup_finish makes no syscall when there are
 * none (the common case: one thread, or a set-up done before others came).
 * Sequentially consistent with the status word, so that of a waiter that
 * counts itself and then sees busy, and a finisher that stores done and then
 * counts waiters, one sees the other. */
static _Atomic int waiters;

bool setup_wait(_Atomic int *status, int busy)
{
    KEEP_ERRNO();
    uint64_t deadline = clock_now_ms() + SETUP_WAIT_MS;
    atomic_fetch_add(&waiters, 1);
    for (uint64_t now = clock_now_ms(); atomic_load(status) == busy && now < deadline;
         now = clock_now_ms()) {
        uint64_t left = deadline - now;
        struct timespec ts = {(time_t)(left / 1000), (long)(left % 1000) * 1000000};
        /* Returns at a wake, a signal, the timeout, or at once when *status
         * is no longer busy. */
        syscall(SYS_futex, (int *)status, FUTEX_WAIT_PRIVATE, busy, &ts, NULL, 0);
    }
    atomic_fetch_sub(&waiters, 1);
    return atomic_load(status) != busy;
}

void setup_finish(_Atomic int *status, int done)
{
    KEEP_ERRNO();
    atomic_store(status, done);
    if (atomic_load(&waiters) > 0)
        syscall(SYS_futex, (int *)status, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
}

void setup_forget_waiters(void)
{
    atomic_store(&waiters, 0);
}
