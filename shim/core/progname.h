/* progname.h — libc data the shim reads without referring to it: the
 * program's short name (glibc's program_invocation_short_name), for log
 * lines and the event ring, and any other libc variable (environ).
 *
 * Each is looked up with dlsym on first use rather than referenced: a
 * reference to libc data is a symbol lookup at load, which every process
 * that loads the shim would pay, and most never need it. */
#ifndef FUSEBOX_PROGNAME_H
#define FUSEBOX_PROGNAME_H

#include <stdatomic.h>

/* The address of libc's variable name, found once (*cache keeps it, or that
 * there is none); NULL when there is none. The first call looks it up
 * (dlsym: not async-signal-safe). Leaves errno alone. */
void *libc_data(_Atomic(void *) *cache, const char *name);

/* The program's short name; "?" when it cannot be found. The first call
 * looks it up (libc_data), so a library calls it once where no signal
 * handler can be (the shim: when its runtime is built). Leaves errno
 * alone. */
const char *program_name(void);

#endif
