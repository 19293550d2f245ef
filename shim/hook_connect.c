/* connect(): the data path of fusebox. An AF_INET/AF_INET6 stream connect to
 * a ruled destination asks its breaker first; an open breaker fails it with
 * ECONNREFUSED and no syscall, or sends it to the breaker's fallback
 * (hook_fallback.c). The outcome is recorded from the return, or,
 * for a non-blocking connect, later (see pending_*). Everything else goes
 * straight to libc. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>

#include "fdtrack.h"
#include "hooks.h"
#include "libc.h"
#include "runtime.h"

bool destination_of(const struct sockaddr *sa, socklen_t len, struct destination *d)
{
    if (!sa || len < sizeof(sa_family_t))
        return false;
    if (sa->sa_family == AF_INET && len >= sizeof(struct sockaddr_in)) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        d->family = AF_INET;
        d->port = ntohs(in->sin_port);
        memcpy(d->addr, &in->sin_addr, 4);
        return true;
    }
    if (sa->sa_family == AF_INET6 && len >= sizeof(struct sockaddr_in6)) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
        d->port = ntohs(in6->sin6_port);
        if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr)) {
            d->family = AF_INET;
            memcpy(d->addr, in6->sin6_addr.s6_addr + 12, 4);
        } else {
            d->family = AF_INET6;
            memcpy(d->addr, &in6->sin6_addr, 16);
        }
        return true;
    }
    return false;
}

/* True when fd is a stream socket; asks the kernel only for fds that
 * socket() did not tell us about. Leaves errno alone. */
static bool is_stream_socket(int fd)
{
    enum fd_kind kind = fdtrack_kind(fd);
    if (kind == FD_UNKNOWN) {
        int saved = errno, type = 0;
        socklen_t len = sizeof type;
        if (libc_getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) != 0)
            type = -1;
        errno = saved;
        kind = type == SOCK_STREAM ? FD_INET_STREAM : FD_OTHER;
        if (type >= 0)
            fdtrack_set_kind(fd, kind);
    }
    return kind == FD_INET_STREAM;
}

static void report(const struct guarded_call *call, enum outcome_class outcome)
{
    struct runtime *rt = runtime_peek();
    if (rt)
        runtime_end(rt, call, outcome);
}

/* What the kernel says of a socket whose connect was pending: success,
 * a failure class, or -1 while it is still in progress. */
static int kernel_verdict(int fd, int so_error)
{
    if (so_error != 0)
        return (int)outcome_class_of_errno(so_error);
    struct sockaddr_storage peer;
    socklen_t len = sizeof peer;
    return getpeername(fd, (struct sockaddr *)&peer, &len) == 0 ? OUTCOME_SUCCESS : -1;
}

void pending_settle_io(int fd, int err)
{
    int saved = errno;
    enum outcome_class outcome = err ? outcome_class_of_errno(err) : OUTCOME_SUCCESS;
    struct guarded_call call;
    if (outcome != OUTCOME_IGNORED && fdtrack_take_pending(fd, &call))
        report(&call, outcome);
    errno = saved;
}

void pending_settle_so_error(int fd, int so_error)
{
    int saved = errno;
    bool connecting = so_error == 0 && kernel_verdict(fd, 0) < 0;
    errno = saved;
    if (!connecting)
        pending_settle_io(fd, so_error);
}

/* Settles a pending connect already taken from fd's entry, from what the
 * kernel says of the socket now. */
static void settle_taken(int fd, const struct guarded_call *call)
{
    int saved = errno, so_error = 0;
    socklen_t len = sizeof so_error;
    if (libc_getsockopt(fd, SOL_SOCKET, SO_ERROR, &so_error, &len) != 0)
        so_error = 0;
    int verdict = kernel_verdict(fd, so_error);
    struct runtime *rt = runtime_peek();
    if (verdict < 0)
        verdict = rt && runtime_succeeded_since(rt, call->breaker, call->started_ms)
                      ? OUTCOME_IGNORED
                      : CLASS_TIMEOUT;
    report(call, (enum outcome_class)verdict);
    errno = saved;
}

void pending_settle_ending(int fd)
{
    struct guarded_call call;
    if (fdtrack_is_pending(fd) && fdtrack_take_pending(fd, &call))
        settle_taken(fd, &call);
}

/* A connect() on a socket whose earlier connect is still pending: its
 * result settles that attempt (EISCONN: it connected; EALREADY: still in
 * progress; an error: it failed). */
static int repeated_connect(int fd, const struct sockaddr *addr, socklen_t len)
{
    int rc = libc_connect(fd, addr, len);
    int err = errno;
    struct guarded_call call;
    if (rc == 0 || err == EISCONN) {
        if (fdtrack_take_pending(fd, &call))
            report(&call, OUTCOME_SUCCESS);
    } else if (err != EALREADY && err != EINPROGRESS && err != EINTR) {
        if (fdtrack_take_pending(fd, &call))
            report(&call, outcome_class_of_errno(err));
    }
    errno = err;
    return rc;
}

__attribute__((visibility("default"))) int connect(int fd, const struct sockaddr *addr,
                                                   socklen_t len)
{
    if (fdtrack_is_pending(fd))
        return repeated_connect(fd, addr, len);
    struct destination d;
    struct runtime *rt;
    int b;
    if (runtime_transfer_depth || !destination_of(addr, len, &d) || !(rt = runtime_get()) ||
        (b = runtime_match_address(rt, d.family, d.addr, d.port)) < 0 || !is_stream_socket(fd))
        return libc_connect(fd, addr, len);

    struct guarded_call call;
    char host[INET6_ADDRSTRLEN];
    bool per_host =
        rt->rules->breakers[b].per_host && inet_ntop(d.family, d.addr, host, sizeof host) != NULL;
    if (!runtime_begin_host(rt, (uint32_t)b, per_host ? host : NULL, d.port, &call)) {
        if (rt->rules->breakers[b].fallback_count)
            return fallback_connect(rt, &call, fd, addr->sa_family);
        errno = ECONNREFUSED;
        return -1;
    }
    return guarded_connect(rt, fd, addr, len, &call);
}

int guarded_connect(struct runtime *rt, int fd, const struct sockaddr *addr, socklen_t len,
                    struct guarded_call *call)
{
    /* Pending from before the syscall: a program that leaves connect() with
     * siglongjmp (wget's --connect-timeout) still has its attempt settled,
     * when it closes the socket. */
    bool tracked = call->ticket.verdict != VERDICT_BYPASS && fdtrack_set_pending(fd, call);
    int rc = libc_connect(fd, addr, len);
    int err = errno;
    bool completed = rc == 0 || (err != EINPROGRESS && err != EINTR);
    if (completed && (!tracked || fdtrack_take_pending(fd, call)))
        runtime_end(rt, call, rc == 0 ? OUTCOME_SUCCESS : outcome_class_of_errno(err));
    else if (!completed && !tracked)
        runtime_end(rt, call, OUTCOME_IGNORED);
    errno = err;
    return rc;
}

__attribute__((destructor)) static void settle_pending_at_exit(void)
{
    fdtrack_take_all(settle_taken);
}
