/* The first I/O on a socket whose non-blocking connect is pending settles it:
 * data moved (or a clean end of stream) means it connected; an error about
 * the destination means it failed. Event-loop programs (node, nginx-style)
 * learn the outcome from poll/epoll and go straight to reading or writing,
 * never asking SO_ERROR; this is how fusebox hears about it without waiting
 * for close(). Every other descriptor costs one load. */
#include <errno.h>
#include <unistd.h>

#include "export.h"
#include "fdtrack.h"
#include "pending.h"
#include "libc.h"

/* Passes rc (and errno) through, settling fd's pending connect on the way. */
static inline ssize_t after_io(int fd, ssize_t rc)
{
    if (__builtin_expect(fdtrack_is_pending(fd), 0))
        pending_settle_io(fd, rc < 0 ? errno : 0);
    return rc;
}

EXPORT ssize_t write(int fd, const void *buf, size_t len)
{
    return after_io(fd, libc_write(fd, buf, len));
}

EXPORT ssize_t writev(int fd, const struct iovec *iov, int n)
{
    return after_io(fd, libc_writev(fd, iov, n));
}

EXPORT ssize_t send(int fd, const void *buf, size_t len, int flags)
{
    return after_io(fd, libc_send(fd, buf, len, flags));
}

EXPORT ssize_t sendmsg(int fd, const struct msghdr *msg, int flags)
{
    return after_io(fd, libc_sendmsg(fd, msg, flags));
}

EXPORT ssize_t read(int fd, void *buf, size_t len)
{
    return after_io(fd, libc_read(fd, buf, len));
}

EXPORT ssize_t readv(int fd, const struct iovec *iov, int n)
{
    return after_io(fd, libc_readv(fd, iov, n));
}

EXPORT ssize_t recv(int fd, void *buf, size_t len, int flags)
{
    return after_io(fd, libc_recv(fd, buf, len, flags));
}

EXPORT ssize_t recvmsg(int fd, struct msghdr *msg, int flags)
{
    return after_io(fd, libc_recvmsg(fd, msg, flags));
}
