#include "refused.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>

#include "fdtrack.h"
#include "libc.h"

/* Bit fd: fd's pending connect in fdtrack is a refusal. Meaningful only
 * while fd has a pending connect: guarded_connect clears it before it makes
 * one of its own. */
static _Atomic uint64_t refused_bits[FDTRACK_MAX / 64];

static void set_bit(int fd, bool on)
{
    uint64_t bit = UINT64_C(1) << (fd % 64);
    if (on)
        atomic_fetch_or_explicit(&refused_bits[fd / 64], bit, memory_order_release);
    else
        atomic_fetch_and_explicit(&refused_bits[fd / 64], ~bit, memory_order_release);
}

/* True when fd is non-blocking: as fdtrack knows it, else as the kernel
 * says (one fcntl). */
static bool is_nonblocking(int fd)
{
    enum fd_blocking known = fdtrack_blocking(fd);
    if (known != FD_FLAGS_UNKNOWN)
        return known == FD_NONBLOCKING;
    int flags = libc_fcntl(fd, F_GETFL, NULL);
    return flags >= 0 && (flags & O_NONBLOCK);
}

__attribute__((noinline, cold)) int refused_connect(int fd, const struct guarded_call *rejected)
{
    bool nonblocking = fd >= 0 && fd < FDTRACK_MAX && is_nonblocking(fd);
    if (nonblocking)
        set_bit(fd, true);
    if (nonblocking && fdtrack_set_pending(fd, rejected)) {
        errno = EINPROGRESS;
        return -1;
    }
    errno = ECONNREFUSED;
    return -1;
}

bool refused_take(int fd)
{
    if (!fdtrack_is_pending(fd)) /* also false for fds beyond the table */
        return false;
    uint64_t bit = UINT64_C(1) << (fd % 64);
    if (!(atomic_fetch_and_explicit(&refused_bits[fd / 64], ~bit, memory_order_acq_rel) & bit))
        return false;
    struct guarded_call rejected;
    if (!fdtrack_take_pending(fd, &rejected))
        return false;
    /* A refused socket is shut both ways: later reads see the end of the
     * stream, writes EPIPE (shutdown says ENOTCONN, yet marks it) */
    int saved = errno;
    libc_shutdown(fd, SHUT_RDWR);
    errno = saved;
    return true;
}

void refused_forget(int fd)
{
    unsigned u = (unsigned)fd; /* unsigned: no sign fix-up in the index and the shift */
    if (u < FDTRACK_MAX &&
        (atomic_load_explicit(&refused_bits[u / 64], memory_order_relaxed) >> (u % 64) & 1))
        set_bit(fd, false);
}
