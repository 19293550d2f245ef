/* state_check.h — fsck's checker of a state file: every invariant of the
 * layout, read without writing. The command runs it (fusebox fsck, status
 * --verify); the library never does. */
#ifndef FUSEBOX_STATE_CHECK_H
#define FUSEBOX_STATE_CHECK_H

#include <stddef.h>

#include "state.h"

/* What a check counted: named breakers, and complete events in the ring. */
struct state_census {
    size_t breakers, events;
};

/* Takes one problem found by a check, as one line without a newline
 * ("slot 12 'payments': state word has impossible state 7"). */
typedef void state_problem_fn(void *ctx, const char *problem);

/* Checks every invariant of the layout in len bytes at data (a mapping of a
 * state file, which processes may be changing meanwhile): the header; each
 * slot (a free slot is all zero; a named slot's key is its name's hash, its
 * name is NUL-terminated and NUL-padded, it is reachable on its probe path
 * and named once, its state word decodes to a known state with probe fields
 * only in half-open, its policy and counters are within bounds); each event
 * (sits at its index, numbered below events_appended, names a claimed slot,
 * known states, cause and class). Calls problem once per problem found;
 * returns how many, and fills *census. */
size_t state_check(const void *data, size_t len, state_problem_fn *problem, void *ctx,
                   struct state_census *census);

#define STATE_CHECK_MAX_SIZE (16 * STATE_FILE_SIZE) /* larger files are not read */

/* Checks the file at path as state_open would judge it (exists, not a
 * symlink, a regular file, owned by the effective user and not group- or
 * world-writable, or else group-shared: see state_group_shared) and then its
 * contents with state_check, read with pread (no mapping: nothing can raise
 * SIGBUS). Never follows a symlink, never blocks on a FIFO, never writes.
 * Same results as state_check. */
size_t state_check_file(const char *path, state_problem_fn *problem, void *ctx,
                        struct state_census *census);

#endif
