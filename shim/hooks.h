/* hooks.h — what the hook files share: reading a destination out of a
 * sockaddr, and settling a connect whose outcome was pending. */
#ifndef FUSEBOX_HOOKS_H
#define FUSEBOX_HOOKS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "breaker.h"

struct runtime;

struct destination {
    int family;    /* AF_INET (also for v4-mapped IPv6) or AF_INET6 */
    uint16_t port; /* host order */
    uint8_t addr[16];
};

/* Reads an AF_INET/AF_INET6 socket address (a v4-mapped IPv6 address
 * becomes AF_INET); false for any other family or a short length. */
bool destination_of(const struct sockaddr *sa, socklen_t len, struct destination *d);

/* Settles fd's pending connect, if any, from what the kernel says of the
 * socket now (connected, failed, or still in progress: then it counts as a
 * timeout unless a connect of the same breaker in this process has
 * succeeded since it began). For close(), dup2() over fd, and exit. Leaves
 * errno alone. */
void pending_settle_ending(int fd);

/* Settles fd's pending connect after the program read SO_ERROR (so_error)
 * from it. Leaves errno alone. */
void pending_settle_so_error(int fd, int so_error);

/* Connects fd to addr as a call that runtime_begin let through with *call
 * (a bypass ticket: nothing is recorded): its outcome is recorded from the
 * return, or, when it is pending, later (see pending_*). Returns what
 * libc's connect returned, with its errno. */
int guarded_connect(struct runtime *rt, int fd, const struct sockaddr *addr, socklen_t len,
                    struct guarded_call *call);

/* Connects fd, a stream socket of socket_family, to the fallback of the
 * breaker that has just rejected a connect (runtime_begin returned false
 * and filled *rejected): to
 * its first address that fits the socket and whose own breaker, if any,
 * lets the call through; an address that refuses at once gives way to the
 * next (on Linux a TCP socket whose connect failed may connect again).
 * Counts the call as a fallback of that breaker when it reached one. Returns what
 * connect() returns; -1 with ECONNREFUSED when no fallback could be tried. */
int fallback_connect(struct runtime *rt, const struct guarded_call *rejected, int fd,
                     int socket_family);

/* Settles fd's pending connect after a read or write on it ended with err
 * (0: it moved data, so the socket is connected; EAGAIN and the like: no
 * news). Leaves errno alone. */
void pending_settle_io(int fd, int err);

#endif
