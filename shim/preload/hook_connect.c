/* connect(): the data path of fusebox. An AF_INET/AF_INET6 stream connect to
 * a ruled destination asks its breaker first; an open breaker fails it as a
 * refusing host would, sending nothing (refused.c: ECONNREFUSED, or for a
 * non-blocking socket EINPROGRESS and then ECONNREFUSED), or sends it to the
 * breaker's fallback (hook_fallback.c). An attempt that goes on with a round
 * of a name's addresses is that round's call (rounds.c). The outcome is
 * recorded by guarded_connect (pending.c), from the return or, for a
 * non-blocking connect, later. Everything else goes straight to libc. */
#include <errno.h>
#include <netinet/in.h>
#include <string.h>

#include "export.h"
#include "fdtrack.h"
#include "hooks.h"
#include "keep_errno.h"
#include "libc.h"
#include "pending.h"
#include "refused.h"
#include "rounds.h"
#include "runtime.h"

/* The address of sa (len bytes; network order), an AF_INET or AF_INET6
 * address of its full length, with its family in *family; NULL for any
 * other (which passes through). */
static inline const uint8_t *inet_address_of(const struct sockaddr *sa, socklen_t len, int *family)
{
    if (!sa || len < sizeof(sa_family_t))
        return NULL;
    *family = sa->sa_family;
    if (sa->sa_family == AF_INET)
        return len < sizeof(struct sockaddr_in)
                   ? NULL
                   : (const uint8_t *)&((const struct sockaddr_in *)sa)->sin_addr;
    if (sa->sa_family == AF_INET6)
        return len < sizeof(struct sockaddr_in6)
                   ? NULL
                   : ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr;
    return NULL;
}

bool destination_of(const struct sockaddr *sa, socklen_t len, struct destination *d)
{
    int family;
    const uint8_t *addr = inet_address_of(sa, len, &family);
    if (!addr)
        return false;
    if (family == AF_INET) {
        d->family = AF_INET;
        d->port = ntohs(((const struct sockaddr_in *)sa)->sin_port);
        memcpy(d->addr, addr, 4);
        return true;
    }
    d->port = ntohs(((const struct sockaddr_in6 *)sa)->sin6_port);
    bool mapped = IN6_IS_ADDR_V4MAPPED((const struct in6_addr *)addr);
    d->family = mapped ? AF_INET : AF_INET6;
    memcpy(d->addr, addr + (mapped ? 12 : 0), mapped ? 4 : 16);
    return true;
}

/* Asks the kernel whether fd, of which socket() told us nothing, is a
 * stream socket, and notes the answer. Out of line, so that connect() keeps
 * a small frame. Leaves errno alone. */
static __attribute__((noinline)) bool ask_stream_socket(int fd)
{
    KEEP_ERRNO();
    int type = 0;
    socklen_t len = sizeof type;
    if (libc_getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) != 0)
        type = -1;
    enum fd_kind kind = type == SOCK_STREAM ? FD_INET_STREAM : FD_OTHER;
    if (type >= 0)
        fdtrack_set_kind(fd, kind);
    return kind == FD_INET_STREAM;
}

/* True when fd is a stream socket; asks the kernel only for fds that
 * socket() did not tell us about. Leaves errno alone. */
static bool is_stream_socket(int fd)
{
    enum fd_kind kind = fdtrack_kind(fd);
    return kind == FD_UNKNOWN ? ask_stream_socket(fd) : kind == FD_INET_STREAM;
}

/* A connect of fd (a socket of family) that breaker b of rt rejected as
 * *call: sent to the breaker's fallback when it has one, else refused. */
static __attribute__((noinline, cold)) int rejected_connect(struct runtime *rt, uint32_t b,
                                                            const struct guarded_call *call, int fd,
                                                            int family)
{
    if (runtime_breaker(rt, b)->fallback_count)
        return fallback_connect(rt, call, fd, family);
    return refused_connect(fd, call);
}

/* connect() to destination d, which breaker b of rt rules, of a stream
 * socket. */
static inline int ruled_connect(struct runtime *rt, int b, int fd, const struct sockaddr *addr,
                                socklen_t len, const struct destination *d)
{
    struct guarded_call call;
    struct rounds_turn turn = {0};
    if (!rounds_continue(rt, (uint32_t)b, d, &call, &turn) &&
        !runtime_begin_address(rt, (uint32_t)b, d->family, d->addr, d->port, &call))
        return rejected_connect(rt, (uint32_t)b, &call, fd, addr->sa_family);
    rounds_attempt(fd, &turn);
    return guarded_connect(rt, fd, addr, len, &call);
}

/* connect() of fd to addr, an address the rules' first byte did not rule
 * out, in a process whose runtime is rt (runtime_ready's; NULL: none). The
 * runtime is asked for again (built on first use, the rules looked at when
 * it is time) unless socket() offered the look for this connect, so that a
 * socket connected again and again still takes up an edit. Then the whole
 * lookup, and the ruled path or libc. Out of line, so that a connect the
 * first byte rules out keeps no frame; flattened, so that the lookup, the
 * decision, the connect and the tracker's start are inlined here (their
 * calls were a fifth of a ruled round), while the cold paths (refusal,
 * fallback, announcements: marked cold) stay out. */
static __attribute__((noinline, flatten)) int
connect_looked_up(struct runtime *rt, int fd, const struct sockaddr *addr, socklen_t len)
{
    if (!rt || !fdtrack_take_looked(fd))
        rt = runtime_get();
    struct destination d;
    int b;
    if (!rt || !destination_of(addr, len, &d) ||
        (b = runtime_match_address(rt, d.family, d.addr, d.port)) < 0 || !is_stream_socket(fd))
        return libc_connect(fd, addr, len);
    return ruled_connect(rt, b, fd, addr, len, &d);
}

/* Flattened: the pass-through checks (the address's family, the runtime,
 * the first byte's quick no) are inlined and end in tail calls, with no
 * frame and no clock: a connect the first byte rules out leaves the look at
 * the rules to socket() (runtime_look_when_due). The lookup, the ruled path
 * and the first use stay out of line. */
EXPORT __attribute__((flatten)) int connect(int fd, const struct sockaddr *addr, socklen_t len)
{
    if (fdtrack_is_pending(fd))
        return pending_connect_again(fd, addr, len);
    int family;
    const uint8_t *address;
    if (runtime_transfer_depth || !(address = inet_address_of(addr, len, &family)))
        return libc_connect(fd, addr, len);
    struct runtime *rt = runtime_ready();
    if (rt && runtime_excludes(rt, family, address))
        return libc_connect(fd, addr, len);
    return connect_looked_up(rt, fd, addr, len);
}
