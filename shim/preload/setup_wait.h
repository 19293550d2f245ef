/* setup_wait.h — waiting for a one-time set-up that another thread is doing
 * (the runtime's build, the state file's opening): asleep on a futex, so
 * that 500 waiting threads take no CPU from the thread doing the work, and
 * bounded, so that a set-up held up by a lock a waiter holds costs a delay,
 * never a deadlock.
 *
 * Calls that libfusebox.so interposes: none. */
#ifndef FUSEBOX_SETUP_WAIT_H
#define FUSEBOX_SETUP_WAIT_H

#include <stdatomic.h>
#include <stdbool.h>

/* The bound: far beyond any rules' set-up (60 000 breakers take 0.3 s, 500
 * threads waiting or not), so that only a stuck set-up reaches it. */
#define SETUP_WAIT_MS 10000

/* Sleeps until *status is no longer busy, at most SETUP_WAIT_MS; returns
 * whether it changed. Leaves errno alone. */
bool setup_wait(_Atomic int *status, int busy);

/* Stores done into *status and wakes the threads waiting on it. Leaves errno
 * alone. */
void setup_finish(_Atomic int *status, int done);

/* In a fork child: the parent's waiters are not the child's. */
void setup_forget_waiters(void);

#endif
