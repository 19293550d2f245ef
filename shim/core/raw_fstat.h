/* raw_fstat.h — fstat(2) as one system call made here, not through libc.
 *
 * For the one call the shim makes while it is loaded (the stderr pin): a
 * call into libc from a constructor costs every process a lazy symbol
 * binding (about 900 instructions, with __errno_location's for keeping
 * errno), and a raw call never touches errno. Other architectures than
 * x86_64 and aarch64 go through libc. */
#ifndef FUSEBOX_RAW_FSTAT_H
#define FUSEBOX_RAW_FSTAT_H

#include <sys/stat.h>
#include <sys/syscall.h>

#include "keep_errno.h"

/* fstat(fd, sb): 0, or a negative errno value. Leaves errno alone. */
static inline long raw_fstat(int fd, struct stat *sb)
{
#if defined(__x86_64__)
    long rc;
    __asm__ volatile("syscall"
                     : "=a"(rc)
                     : "0"((long)SYS_fstat), "D"((long)fd), "S"(sb)
                     : "rcx", "r11", "memory");
    return rc;
#elif defined(__aarch64__)
    register long x8 __asm__("x8") = SYS_fstat;
    register long x0 __asm__("x0") = fd;
    register long x1 __asm__("x1") = (long)sb;
    __asm__ volatile("svc 0" : "+r"(x0) : "r"(x8), "r"(x1) : "memory");
    return x0;
#else
    KEEP_ERRNO();
    return fstat(fd, sb) == 0 ? 0 : -errno;
#endif
}

#endif
