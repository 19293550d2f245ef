/* pending.h — the connect a breaker let through (guarded_connect), and
 * connects whose outcome was pending at their return: each settled once, by
 * the first of SO_ERROR, a repeated connect, a read or write, or the
 * socket's end (close, dup2 over it, exit). Used by the hooks; uses the
 * runtime and fdtrack. */
#ifndef FUSEBOX_PENDING_H
#define FUSEBOX_PENDING_H

#include <sys/socket.h>

#include "runtime.h"

/* Connects fd to addr as a call that runtime_begin let through with *call
 * (a bypass ticket: nothing is recorded): its outcome is recorded from the
 * return, or, when it is pending, later (see pending_*). Returns what
 * libc's connect returned, with its errno. */
int guarded_connect(struct runtime *rt, int fd, const struct sockaddr *addr, socklen_t len,
                    struct guarded_call *call);

/* A connect() on fd, whose earlier connect is still pending: libc's result
 * settles that attempt (EISCONN: it connected; EALREADY: still in progress;
 * an error: it failed). Returns what libc's connect returned, with its
 * errno; -1 with ECONNREFUSED, and no syscall, when the earlier one was an
 * open breaker's refusal not yet told. */
int pending_connect_again(int fd, const struct sockaddr *addr, socklen_t len);

/* Settles fd's pending connect, if any, from what the kernel says of the
 * socket now (connected, failed, or still in progress: then it counts as a
 * timeout unless a connect of the same breaker in this process has
 * succeeded since it began). For close(), dup2() over fd, and exit. Leaves
 * errno alone. */
void pending_settle_ending(int fd);

/* Settles fd's pending connect after the program read SO_ERROR (*so_error)
 * from it; an open breaker's refusal of it (refused.h) is told now, as
 * *so_error = ECONNREFUSED. Leaves errno alone. */
void pending_settle_so_error(int fd, int *so_error);

/* Settles fd's pending connect after a read or write on it ended with err
 * (0: it moved data, so the socket is connected; EAGAIN and the like: no
 * news). Leaves errno alone. */
void pending_settle_io(int fd, int err);

#endif
