/* hooks.h — what the hook files share: reading a destination out of a
 * sockaddr, and sending a rejected connect to its breaker's fallback. */
#ifndef FUSEBOX_HOOKS_H
#define FUSEBOX_HOOKS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "runtime.h"

struct destination {
    int family;    /* AF_INET (also for v4-mapped IPv6) or AF_INET6 */
    uint16_t port; /* host order */
    uint8_t addr[16];
};

/* Reads an AF_INET/AF_INET6 socket address (a v4-mapped IPv6 address
 * becomes AF_INET); false for any other family or a short length. */
bool destination_of(const struct sockaddr *sa, socklen_t len, struct destination *d);

/* Connects fd, a stream socket of socket_family, to the fallback of the
 * breaker that has just rejected a connect (runtime_begin returned false
 * and filled *rejected): to its first address that fits the socket and
 * whose own breaker, if any, lets the call through; an address that refuses
 * at once gives way to the next (on Linux a TCP socket whose connect failed
 * may connect again). Counts the call as a fallback of that breaker when it
 * reached one. Returns what connect() returns; when no fallback could be
 * tried, the breaker's refusal (refused_connect). */
int fallback_connect(struct runtime *rt, const struct guarded_call *rejected, int fd,
                     int socket_family);

#endif
