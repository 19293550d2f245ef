/* fcntl(), fcntl64() and ioctl(): they keep fdtrack's view of whether a
 * socket is non-blocking right (F_SETFL, FIONBIO), so that an open
 * breaker's refusal (refused.c) needs no syscall to know, and note a copy
 * made by F_DUPFD as dup() does. Every other command goes straight to libc
 * with its argument, for any fd; these cost a compare or two. */
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <sys/ioctl.h>

#include "export.h"
#include "fdtrack.h"
#include "libc.h"

/* After fcntl(fd, cmd, arg) returned rc: what it did to fd. */
static int after_fcntl(int rc, int fd, int cmd, void *arg)
{
    if (rc < 0)
        return rc;
    if (cmd == F_SETFL)
        fdtrack_set_nonblocking(fd, (int)(intptr_t)arg & O_NONBLOCK);
    else if (cmd == F_DUPFD || cmd == F_DUPFD_CLOEXEC)
        fdtrack_copy(fd, rc);
    return rc;
}

/* Declares arg, the optional argument of a variadic call whose last fixed
 * parameter is last: every command takes one word or none, and glibc
 * reads it so too. */
#define OPTIONAL_ARG(last, arg)                                                                    \
    void *arg;                                                                                     \
    do {                                                                                           \
        va_list ap;                                                                                \
        va_start(ap, last);                                                                        \
        arg = va_arg(ap, void *);                                                                  \
        va_end(ap);                                                                                \
    } while (0)

EXPORT int fcntl(int fd, int cmd, ...)
{
    OPTIONAL_ARG(cmd, arg);
    return after_fcntl(libc_fcntl(fd, cmd, arg), fd, cmd, arg);
}

EXPORT int fcntl64(int fd, int cmd, ...)
{
    OPTIONAL_ARG(cmd, arg);
    return after_fcntl(libc_fcntl64(fd, cmd, arg), fd, cmd, arg);
}

EXPORT int ioctl(int fd, unsigned long request, ...)
{
    OPTIONAL_ARG(request, arg);
    int rc = libc_ioctl(fd, request, arg);
    if (rc >= 0 && request == FIONBIO && arg)
        fdtrack_set_nonblocking(fd, *(const int *)arg != 0);
    return rc;
}
