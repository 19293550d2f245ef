/* keep_errno.h — the one way fusebox leaves errno as its caller had it.
 *
 * KEEP_ERRNO(); as a statement saves errno and puts it back when the
 * enclosing block is left, by any path: a hook's bookkeeping can never leak
 * an errno of its own into the program. */
#ifndef FUSEBOX_KEEP_ERRNO_H
#define FUSEBOX_KEEP_ERRNO_H

#include <errno.h>

static inline void keep_errno_restore(const int *saved)
{
    errno = *saved;
}

#define KEEP_ERRNO()                                                                               \
    int keep_errno_saved_ __attribute__((cleanup(keep_errno_restore), unused)) = errno

#endif
