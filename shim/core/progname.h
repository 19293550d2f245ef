/* progname.h — the running program's short name (glibc's
 * program_invocation_short_name), for log lines and the event ring.
 *
 * Looked up with dlsym on first use rather than referenced: a reference to
 * libc data is a symbol lookup at load, which every process that loads the
 * shim would pay, and most never log. */
#ifndef FUSEBOX_PROGNAME_H
#define FUSEBOX_PROGNAME_H

/* The program's short name; "?" when it cannot be found. The first call
 * looks it up (dlsym: not async-signal-safe), so a library calls it once
 * where no signal handler can be (the shim: when its runtime is built).
 * Leaves errno alone. */
const char *program_name(void);

#endif
