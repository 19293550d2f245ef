/* names.h — the process-wide table of the addresses that ruled host names
 * resolved to, filled by the resolver hooks (on any thread) and read by
 * connect(), which sees only an address.
 *
 * An entry holds an address and the host-name pattern candidates of the
 * name that resolved to it (pattern indices of the matcher, best first).
 * Entries are written under a per-entry sequence counter and read without
 * waiting: a reader that meets an entry being written skips it, so a hook
 * running in a signal handler never spins. The table is bounded; when full,
 * the least recently resolved entry is reused. */
#ifndef FUSEBOX_NAMES_H
#define FUSEBOX_NAMES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define NAMES_CANDIDATES 6

struct name_candidates {
    uint32_t count;
    uint32_t ids[NAMES_CANDIDATES];
};

/* Remembers that a name with these candidates resolved to addr (family
 * AF_INET: 4 bytes, AF_INET6: 16 bytes). Lossy under contention: an entry
 * another thread is writing is left alone. Leaves errno alone. */
void names_record(int family, const void *addr, const struct name_candidates *cands);

/* Copies the candidate lists recorded for addr into out, most recently
 * resolved first; returns how many (≤ max). Costs one load when the table
 * is empty. */
size_t names_lookup(int family, const void *addr, struct name_candidates *out, size_t max);

#endif
