/* connect() while a breaker with a fallback is open: the socket goes to the
 * fallback address instead of failing (hook_connect.c hands it here once
 * runtime_begin has rejected it). A fallback address is a destination like
 * any other: a breaker of its own decides and records it as usual. */
#include <errno.h>
#include <netinet/in.h>

#include "fallback.h"
#include "hooks.h"
#include "keep_errno.h"
#include "pending.h"
#include "libc.h"
#include "refused.h"
#include "runtime.h"

/* True when AF_INET6 socket fd takes IPv6 only (no v4-mapped addresses).
 * Leaves errno alone. */
static bool v6_only(int fd)
{
    KEEP_ERRNO();
    int on = 0;
    socklen_t len = sizeof on;
    if (libc_getsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, &len) != 0)
        on = 0;
    return on != 0;
}

__attribute__((noinline, cold)) int
fallback_connect(struct runtime *rt, const struct guarded_call *rejected, int fd, int socket_family)
{
    uint32_t b = rejected->breaker;
    uint32_t count;
    const struct fallback_address *fallbacks = runtime_fallbacks(rt, b, &count);
    int v6only = -1, rc = -1, err = ECONNREFUSED, saved = errno;
    bool reached = false;
    for (uint32_t i = 0; i < count; i++) {
        const struct fallback_address *a = &fallbacks[i];
        struct sockaddr_storage ss;
        socklen_t len;
        if (socket_family == AF_INET6 && a->family == AF_INET && v6only < 0)
            v6only = v6_only(fd);
        if (!fallback_sockaddr(a, socket_family, v6only > 0, &ss, &len))
            continue;
        int own = runtime_match_address(rt, a->family, a->addr, a->port);
        struct guarded_call call = {.ticket = {.verdict = VERDICT_BYPASS}};
        if (own == (int)b || (own >= 0 && !runtime_begin(rt, (uint32_t)own, &call)))
            continue; /* its own breaker is open too */
        if (!reached)
            runtime_fallback(rt, rejected, i + 1);
        reached = true;
        rc = guarded_connect(rt, fd, (const struct sockaddr *)&ss, len, &call);
        err = errno;
        if (rc == 0 || err != ECONNREFUSED)
            break;
    }
    if (!reached)
        return refused_connect(fd, rejected);
    errno = rc == 0 ? saved : err; /* a refusing address before does not show */
    return rc;
}
