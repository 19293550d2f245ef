/* Reads and writes on sockets fusebox has work on; every other descriptor
 * costs one load (fdtrack_has_io_work).
 *
 * The first I/O on a socket whose non-blocking connect is pending settles
 * it: data moved (or a clean end of stream) means it connected; an error
 * about the destination means it failed. Event-loop programs (node,
 * nginx-style) learn the outcome from poll/epoll and go straight to reading
 * or writing, never asking SO_ERROR; this is how fusebox hears about it
 * without waiting for close().
 *
 * A socket whose connect an open breaker refused (refused.h) answers its
 * first read or write as a refused one does: -1 with ECONNREFUSED (the
 * socket error, taken), not the EPIPE, and SIGPIPE, of a socket that never
 * connected; later ones get what the kernel gives.
 *
 * On a connection the request tracker watches (request.h), a send that
 * begins a new HTTP request is decided by its breaker first: refused, it
 * fails with ECONNRESET and sends nothing (so no SIGPIPE either); what was
 * sent and received is then shown to the tracker. */
#include <errno.h>
#include <stdbool.h>
#include <unistd.h>

#include "export.h"
#include "fdtrack.h"
#include "libc.h"
#include "pending.h"
#include "refused.h"
#include "request.h"

/* Passes rc (and errno) of a send (sent) or receive on fd through, settling
 * fd's pending connect and showing the tracker the n buffers of iov; work is
 * what fdtrack_has_io_work said of fd, arg request_before_send's answer for
 * a send, the flags of a receive. */
static inline __attribute__((always_inline)) ssize_t
after_io(int fd, unsigned work, bool sent, const struct iovec *iov, int n, int arg, ssize_t rc)
{
    int err = rc < 0 ? errno : 0;
    if (work & FDTRACK_IO_PENDING)
        pending_settle_io(fd, err);
    if (sent)
        request_after_send(fd, iov, n, rc, err, arg);
    else
        request_after_recv(fd, iov, n, rc, err, arg);
    return rc;
}

enum send_call { SEND_WRITE, SEND_WRITEV, SEND_SEND, SEND_SENDMSG };

/* A send on fd, which has work: the n buffers of iov go out through the
 * libc function call says (with flags for send and sendmsg, msg for
 * sendmsg) unless the tracker refuses the request they begin (-1, errno
 * ECONNRESET). Out of line, so that the hooks' one-load path keeps a
 * frame of its own. */
static __attribute__((noinline)) ssize_t tracked_send(int fd, unsigned work, enum send_call call,
                                                      const struct iovec *iov, int n,
                                                      const struct msghdr *msg, int flags)
{
    if ((work & FDTRACK_IO_PENDING) && refused_take(fd)) {
        errno = ECONNREFUSED;
        return -1;
    }
    int began = request_before_send(fd, iov, n);
    if (began < 0)
        return -1;
    ssize_t rc = call == SEND_WRITE    ? libc_write(fd, iov[0].iov_base, iov[0].iov_len)
                 : call == SEND_WRITEV ? libc_writev(fd, iov, n)
                 : call == SEND_SEND   ? libc_send(fd, iov[0].iov_base, iov[0].iov_len, flags)
                                       : libc_sendmsg(fd, msg, flags);
    if (began > 0 && rc > 0) /* the request the tracker let through went out: nothing more */
        return rc;
    return after_io(fd, work, true, iov, n, began, rc);
}

EXPORT ssize_t write(int fd, const void *buf, size_t len)
{
    unsigned work = fdtrack_has_io_work(fd);
    if (__builtin_expect(!work, 1))
        return libc_write(fd, buf, len);
    struct iovec one = {(void *)buf, len};
    return tracked_send(fd, work, SEND_WRITE, &one, 1, NULL, 0);
}

EXPORT ssize_t writev(int fd, const struct iovec *iov, int n)
{
    unsigned work = fdtrack_has_io_work(fd);
    if (__builtin_expect(!work, 1))
        return libc_writev(fd, iov, n);
    return tracked_send(fd, work, SEND_WRITEV, iov, n, NULL, 0);
}

EXPORT ssize_t send(int fd, const void *buf, size_t len, int flags)
{
    unsigned work = fdtrack_has_io_work(fd);
    if (__builtin_expect(!work, 1))
        return libc_send(fd, buf, len, flags);
    struct iovec one = {(void *)buf, len};
    return tracked_send(fd, work, SEND_SEND, &one, 1, NULL, flags);
}

EXPORT ssize_t sendmsg(int fd, const struct msghdr *msg, int flags)
{
    unsigned work = fdtrack_has_io_work(fd);
    if (__builtin_expect(!work, 1) || !msg)
        return libc_sendmsg(fd, msg, flags);
    return tracked_send(fd, work, SEND_SENDMSG, msg->msg_iov, (int)msg->msg_iovlen, msg, flags);
}

enum recv_call { RECV_READ, RECV_READV, RECV_RECV, RECV_RECVMSG };

/* A receive on fd, which has work, through the libc function call says:
 * into the len bytes at buf (read, recv), the n buffers of iov (readv), or
 * msg (recvmsg, whose buffers iov and n are), with flags (recv, recvmsg).
 * Out of line, so that the hooks' one-load path needs no frame. */
static __attribute__((noinline)) ssize_t tracked_recv(int fd, unsigned work, enum recv_call call,
                                                      void *buf, size_t len,
                                                      const struct iovec *iov, int n,
                                                      struct msghdr *msg, int flags)
{
    ssize_t rc = call == RECV_READ    ? libc_read(fd, buf, len)
                 : call == RECV_READV ? libc_readv(fd, iov, n)
                 : call == RECV_RECV  ? libc_recv(fd, buf, len, flags)
                                      : libc_recvmsg(fd, msg, flags);
    if ((work & FDTRACK_IO_PENDING) && rc < 0 && refused_take(fd)) {
        errno = ECONNREFUSED;
        return -1;
    }
    struct iovec one = {buf, len};
    return iov ? after_io(fd, work, false, iov, n, flags, rc)
               : after_io(fd, work, false, &one, 1, flags, rc);
}

/* The receive hooks look at fd's work before the call, so that the
 * one-load path ends in a tail call. */
EXPORT ssize_t read(int fd, void *buf, size_t len)
{
    unsigned work = fdtrack_has_io_work(fd);
    if (__builtin_expect(!work, 1))
        return libc_read(fd, buf, len);
    return tracked_recv(fd, work, RECV_READ, buf, len, NULL, 1, NULL, 0);
}

EXPORT ssize_t readv(int fd, const struct iovec *iov, int n)
{
    unsigned work = fdtrack_has_io_work(fd);
    if (__builtin_expect(!work, 1))
        return libc_readv(fd, iov, n);
    return tracked_recv(fd, work, RECV_READV, NULL, 0, iov, n, NULL, 0);
}

EXPORT ssize_t recv(int fd, void *buf, size_t len, int flags)
{
    unsigned work = fdtrack_has_io_work(fd);
    if (__builtin_expect(!work, 1))
        return libc_recv(fd, buf, len, flags);
    return tracked_recv(fd, work, RECV_RECV, buf, len, NULL, 1, NULL, flags);
}

EXPORT ssize_t recvmsg(int fd, struct msghdr *msg, int flags)
{
    unsigned work = fdtrack_has_io_work(fd);
    if (__builtin_expect(!work, 1) || !msg)
        return libc_recvmsg(fd, msg, flags);
    return tracked_recv(fd, work, RECV_RECVMSG, NULL, 0, msg->msg_iov, (int)msg->msg_iovlen, msg,
                        flags);
}
