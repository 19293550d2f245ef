/* sigbus.h — a bus error in one of fusebox's shared mappings costs the
 * process that mapping, never its life.
 *
 * A file mapped MAP_SHARED raises SIGBUS on an access past its end once it
 * is truncated (`: > STATE`), and on a page its filesystem cannot back. The
 * first sigbus_guard installs a SIGBUS handler. For a fault whose address
 * lies in a guarded range it puts private anonymous zero pages in place of
 * the whole range (mmap MAP_FIXED), marks the range lost and returns: the
 * faulting access runs again on the new pages. Every other SIGBUS goes to
 * the disposition the process had when the handler was installed, as the
 * kernel would have delivered it: SIG_DFL kills (a fault by running the
 * instruction again, a sent signal by raising it again), SIG_IGN ignores a
 * sent signal and lets a fault kill, a handler is called with the same
 * signal number, siginfo and context, SA_RESETHAND honoured. The handler
 * runs with the previous handler's mask and its SA_ONSTACK and SA_NODEFER
 * flags (SA_ONSTACK when there was no handler).
 *
 * The handler is installed when the first range is guarded — a process's
 * first ruled call, a command opening the state file — never at load, and
 * fusebox does not interpose sigaction: a program that installs its own
 * SIGBUS handler later and does not chain to the one it replaced gets those
 * faults itself, as it would without fusebox. A thread that blocks SIGBUS
 * when it faults is killed by the kernel; no handler can help it.
 *
 * Calls that libfusebox.so interposes: none. */
#ifndef FUSEBOX_SIGBUS_H
#define FUSEBOX_SIGBUS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#define SIGBUS_GUARDS 8 /* ranges guarded at once */

/* Guards the len bytes at base (page aligned): a bus error in them sets
 * *lost and leaves zero pages in their place. Returns false (errno EBUSY
 * when SIGBUS_GUARDS ranges are guarded already, else sigaction's) when the
 * range is not guarded. */
bool sigbus_guard(void *base, size_t len, _Atomic bool *lost);

/* Stops guarding the range at base (before it is unmapped). */
void sigbus_unguard(const void *base);

#endif
