/* fork_watch.h — fork handlers registered when a module first keeps
 * something a fork must correct (a socket's flags, a build, a watched
 * connection), not when the library is loaded: a pthread_atfork call at
 * load costs every process its lazy binding (about 1 000 instructions),
 * and most processes never make a socket.
 *
 * A module calls fork_watch before it first keeps such state; once it
 * returns, the handlers are registered (a thread registering them holds the
 * others back: pthread_once), so no fork can copy that state unhandled.
 *
 * Calls that libfusebox.so interposes: none. */
#ifndef FUSEBOX_FORK_WATCH_H
#define FUSEBOX_FORK_WATCH_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "keep_errno.h"

struct fork_watch {
    pthread_once_t once;
    _Atomic bool done; /* once has run: one load on the common path */
};

#define FORK_WATCH_INIT                                                                            \
    {                                                                                              \
        PTHREAD_ONCE_INIT, false                                                                   \
    }

/* Registers the handlers through register_handlers (which calls
 * pthread_atfork) once for w. A signal handler that interrupts this
 * thread's registration and calls a hook does not wait for it (pthread_once
 * would wait for ever on its own thread): its call goes on unregistered.
 * Leaves errno alone. */
static __attribute__((noinline, cold)) void fork_watch_register(struct fork_watch *w,
                                                                void (*register_handlers)(void))
{
    static __thread bool registering __attribute__((tls_model("initial-exec")));
    if (registering)
        return;
    KEEP_ERRNO();
    registering = true;
    pthread_once(&w->once, register_handlers);
    registering = false;
    atomic_store_explicit(&w->done, true, memory_order_release);
}

/* Returns once w's handlers are registered. Leaves errno alone. */
static inline void fork_watch(struct fork_watch *w, void (*register_handlers)(void))
{
    if (__builtin_expect(!atomic_load_explicit(&w->done, memory_order_acquire), 0))
        fork_watch_register(w, register_handlers);
}

#endif
