/* socket(), close(), close_range(), dup(), dup2(), dup3(), shutdown() and
 * getsockopt(): they keep fdtrack's view of descriptors right (so connect()
 * knows a stream socket without a syscall, and a reused fd number never
 * inherits an old attempt), settle pending connects, and end the requests
 * the program gives up on (request.h). For descriptors fusebox has no work
 * on each costs a few loads and a store at most. socket() of a TCP socket
 * is also where a process looks at its rules again (runtime_look_when_due),
 * once a second at most. */
#include <errno.h>
#include <fcntl.h>
#include <linux/close_range.h>
#include <unistd.h>

#include "export.h"
#include "fdtrack.h"
#include "keep_errno.h"
#include "pending.h"
#include "libc.h"
#include "request.h"
#include "runtime.h"

/* socket() gave fd, whose number still has work: it was closed unseen (a
 * raw close syscall). Settles its attempt and ends its connection. Out of
 * line, so that socket() keeps a small frame. */
static __attribute__((noinline)) void closed_unseen(int fd)
{
    KEEP_ERRNO();
    pending_settle_ending(fd);
    request_end(fd, REQUEST_GAVE_UP);
}

/* Flattened, so that the look at the rules is inlined up to its clock. */
EXPORT __attribute__((flatten)) int socket(int domain, int type, int protocol)
{
    uint64_t facts = fdtrack_socket_facts(domain, type); /* only it lives across the call */
    int fd = libc_socket(domain, type, protocol);
    if (fd >= 0) {
        if (__builtin_expect(fdtrack_has_io_work(fd) != 0, 0))
            closed_unseen(fd);
        runtime_watch_forks(); /* before fdtrack knows a flag a fork would make stale */
        fdtrack_new_socket(fd, facts);
        if (facts != FD_OTHER) /* a connection may start: the rules must be current */
            runtime_look_when_due();
    }
    return fd;
}

/* fd, with work (fdtrack_has_io_work), is about to be closed: end its
 * connection and settle its pending connect. Out of line, so that close()
 * keeps a small frame. */
static __attribute__((noinline)) void end_work(int fd, unsigned work)
{
    if (work & FDTRACK_IO_WATCHED)
        request_end(fd, REQUEST_GAVE_UP);
    if (work & FDTRACK_IO_PENDING)
        pending_settle_ending(fd);
}

/* fd is about to be closed: end what it was doing and forget it. */
static inline __attribute__((always_inline)) void before_close(int fd)
{
    unsigned work = fdtrack_has_io_work(fd);
    if (__builtin_expect(work != 0, 0)) {
        if (work == FDTRACK_IO_WATCHED)
            request_end(fd, REQUEST_GAVE_UP); /* the common case, without end_work's frame */
        else
            end_work(fd, work);
    }
    fdtrack_set_kind(fd, FD_UNKNOWN);
}

EXPORT int close(int fd)
{
    before_close(fd);
    return libc_close(fd);
}

EXPORT int close_range(unsigned first, unsigned last, int flags)
{
    if (!(flags & CLOSE_RANGE_CLOEXEC)) {
        KEEP_ERRNO();
        int high = fdtrack_highest_known();
        for (unsigned fd = first; high >= 0 && fd <= (unsigned)high && fd <= last; fd++)
            before_close((int)fd);
    }
    return libc_close_range(first, last, flags);
}

/* newfd is about to become a copy of oldfd: settle what newfd was doing. */
static void before_dup_over(int oldfd, int newfd)
{
    if (oldfd == newfd)
        return;
    if (fdtrack_has_io_work(newfd))
        request_end(newfd, REQUEST_GAVE_UP);
    if (fdtrack_has_io_work(oldfd)) /* its connection goes on under two numbers */
        request_end(oldfd, REQUEST_SHARED);
    pending_settle_ending(newfd);
}

static int after_dup_over(int rc, int oldfd)
{
    if (rc >= 0 && rc != oldfd)
        fdtrack_copy(oldfd, rc);
    return rc;
}

EXPORT int dup(int oldfd)
{
    return after_dup_over(libc_dup(oldfd), oldfd);
}

EXPORT int dup2(int oldfd, int newfd)
{
    before_dup_over(oldfd, newfd);
    return after_dup_over(libc_dup2(oldfd, newfd), oldfd);
}

EXPORT int dup3(int oldfd, int newfd, int flags)
{
    before_dup_over(oldfd, newfd);
    return after_dup_over(libc_dup3(oldfd, newfd, flags), oldfd);
}

EXPORT int shutdown(int fd, int how)
{
    if (how != SHUT_WR &&
        fdtrack_has_io_work(fd)) /* SHUT_WR: a half close, the answer is awaited */
        request_end(fd, REQUEST_GAVE_UP);
    return libc_shutdown(fd, how);
}

EXPORT int getsockopt(int fd, int level, int name, void *val, socklen_t *len)
{
    int rc = libc_getsockopt(fd, level, name, val, len);
    if (rc == 0 && level == SOL_SOCKET && name == SO_ERROR && val && len && *len >= sizeof(int) &&
        fdtrack_is_pending(fd))
        pending_settle_so_error(fd, (int *)val);
    return rc;
}
