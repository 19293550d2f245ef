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
#include "request.h"

/* Passes rc (and errno) of a send (sent) or receive on fd through, settling
 * fd's pending connect and showing the tracker the n buffers of iov; arg is
 * request_before_send's answer for a send, the flags of a receive. */
static ssize_t after_io(int fd, bool sent, const struct iovec *iov, int n, int arg, ssize_t rc)
{
    int err = rc < 0 ? errno : 0;
    if (fdtrack_is_pending(fd))
        pending_settle_io(fd, err);
    if (sent)
        request_after_send(fd, iov, n, rc, err, arg);
    else
        request_after_recv(fd, iov, n, rc, err, arg);
    return rc;
}

EXPORT ssize_t write(int fd, const void *buf, size_t len)
{
    if (__builtin_expect(!fdtrack_has_io_work(fd), 1))
        return libc_write(fd, buf, len);
    struct iovec one = {(void *)buf, len};
    int began = request_before_send(fd, &one, 1);
    return began < 0 ? -1 : after_io(fd, true, &one, 1, began, libc_write(fd, buf, len));
}

EXPORT ssize_t writev(int fd, const struct iovec *iov, int n)
{
    if (__builtin_expect(!fdtrack_has_io_work(fd), 1))
        return libc_writev(fd, iov, n);
    int began = request_before_send(fd, iov, n);
    return began < 0 ? -1 : after_io(fd, true, iov, n, began, libc_writev(fd, iov, n));
}

EXPORT ssize_t send(int fd, const void *buf, size_t len, int flags)
{
    if (__builtin_expect(!fdtrack_has_io_work(fd), 1))
        return libc_send(fd, buf, len, flags);
    struct iovec one = {(void *)buf, len};
    int began = request_before_send(fd, &one, 1);
    return began < 0 ? -1 : after_io(fd, true, &one, 1, began, libc_send(fd, buf, len, flags));
}

EXPORT ssize_t sendmsg(int fd, const struct msghdr *msg, int flags)
{
    if (__builtin_expect(!fdtrack_has_io_work(fd), 1) || !msg)
        return libc_sendmsg(fd, msg, flags);
    int n = (int)msg->msg_iovlen;
    int began = request_before_send(fd, msg->msg_iov, n);
    return began < 0 ? -1
                     : after_io(fd, true, msg->msg_iov, n, began, libc_sendmsg(fd, msg, flags));
}

EXPORT ssize_t read(int fd, void *buf, size_t len)
{
    ssize_t rc = libc_read(fd, buf, len);
    if (__builtin_expect(!fdtrack_has_io_work(fd), 1))
        return rc;
    struct iovec one = {buf, len};
    return after_io(fd, false, &one, 1, 0, rc);
}

EXPORT ssize_t readv(int fd, const struct iovec *iov, int n)
{
    ssize_t rc = libc_readv(fd, iov, n);
    return __builtin_expect(!fdtrack_has_io_work(fd), 1) ? rc : after_io(fd, false, iov, n, 0, rc);
}

EXPORT ssize_t recv(int fd, void *buf, size_t len, int flags)
{
    ssize_t rc = libc_recv(fd, buf, len, flags);
    if (__builtin_expect(!fdtrack_has_io_work(fd), 1))
        return rc;
    struct iovec one = {buf, len};
    return after_io(fd, false, &one, 1, flags, rc);
}

EXPORT ssize_t recvmsg(int fd, struct msghdr *msg, int flags)
{
    ssize_t rc = libc_recvmsg(fd, msg, flags);
    if (__builtin_expect(!fdtrack_has_io_work(fd), 1) || !msg)
        return rc;
    return after_io(fd, false, msg->msg_iov, (int)msg->msg_iovlen, flags, rc);
}
