#include "names.h"

#include <stdatomic.h>
#include <string.h>
#include <sys/socket.h>

#define NAMES_SIZE 256u /* a power of two */
#define NAMES_PROBES 16u

struct name_entry {
    _Atomic uint32_t seq; /* 0: never used; odd: being written */
    _Atomic uint32_t family;
    _Atomic uint64_t addr[2];
    _Atomic uint64_t stamp; /* when it was last resolved, in resolutions */
    _Atomic uint32_t count;
    _Atomic uint32_t ids[NAMES_CANDIDATES];
};

static struct name_entry table[NAMES_SIZE];
static _Atomic uint64_t resolutions; /* 0 while the table is empty */

static void key_of(int family, const void *addr, uint64_t key[2])
{
    key[0] = key[1] = 0;
    memcpy(key, addr, family == AF_INET ? 4 : 16);
}

static uint32_t bucket_of(const uint64_t key[2])
{
    uint64_t h = (key[0] ^ (key[1] * UINT64_C(0x9e3779b97f4a7c15))) * UINT64_C(0xff51afd7ed558ccd);
    return (uint32_t)(h >> 40) & (NAMES_SIZE - 1);
}

/* Reads an entry that is not being written; false when it is (or was
 * rewritten while read). */
static bool read_entry(struct name_entry *e, uint32_t *family, uint64_t key[2],
                       struct name_candidates *cands, uint64_t *stamp)
{
    uint32_t before = atomic_load_explicit(&e->seq, memory_order_acquire);
    if (before == 0 || (before & 1))
        return false;
    *family = atomic_load_explicit(&e->family, memory_order_acquire);
    key[0] = atomic_load_explicit(&e->addr[0], memory_order_acquire);
    key[1] = atomic_load_explicit(&e->addr[1], memory_order_acquire);
    *stamp = atomic_load_explicit(&e->stamp, memory_order_acquire);
    cands->count = atomic_load_explicit(&e->count, memory_order_acquire);
    if (cands->count > NAMES_CANDIDATES)
        cands->count = NAMES_CANDIDATES;
    for (uint32_t i = 0; i < cands->count; i++)
        cands->ids[i] = atomic_load_explicit(&e->ids[i], memory_order_acquire);
    return atomic_load_explicit(&e->seq, memory_order_relaxed) == before;
}

static bool same_candidates(const struct name_candidates *a, const struct name_candidates *b)
{
    return a->count == b->count && memcmp(a->ids, b->ids, a->count * sizeof a->ids[0]) == 0;
}

static void write_entry(struct name_entry *e, int family, const uint64_t key[2],
                        const struct name_candidates *cands, uint64_t stamp)
{
    uint32_t seq = atomic_load_explicit(&e->seq, memory_order_relaxed);
    if ((seq & 1) || !atomic_compare_exchange_strong_explicit(
                         &e->seq, &seq, seq + 1, memory_order_acquire, memory_order_relaxed))
        return;
    /* Release stores: a reader that sees any of them sees the odd seq too. */
    atomic_store_explicit(&e->family, (uint32_t)family, memory_order_release);
    atomic_store_explicit(&e->addr[0], key[0], memory_order_release);
    atomic_store_explicit(&e->addr[1], key[1], memory_order_release);
    atomic_store_explicit(&e->stamp, stamp, memory_order_release);
    uint32_t n = cands->count < NAMES_CANDIDATES ? cands->count : NAMES_CANDIDATES;
    atomic_store_explicit(&e->count, n, memory_order_release);
    for (uint32_t i = 0; i < n; i++)
        atomic_store_explicit(&e->ids[i], cands->ids[i], memory_order_release);
    atomic_store_explicit(&e->seq, seq + 2, memory_order_release);
}

void names_record(int family, const void *addr, const struct name_candidates *cands)
{
    uint64_t key[2], stamp = atomic_fetch_add_explicit(&resolutions, 1, memory_order_relaxed) + 1;
    key_of(family, addr, key);
    uint32_t home = bucket_of(key);
    struct name_entry *victim = NULL;
    uint64_t victim_stamp = UINT64_MAX;
    for (uint32_t i = 0; i < NAMES_PROBES; i++) {
        struct name_entry *e = &table[(home + i) & (NAMES_SIZE - 1)];
        uint32_t f;
        uint64_t k[2], s;
        struct name_candidates c;
        if (atomic_load_explicit(&e->seq, memory_order_acquire) == 0) {
            victim = e;
            break;
        }
        if (!read_entry(e, &f, k, &c, &s))
            continue;
        if ((int)f == family && k[0] == key[0] && k[1] == key[1] && same_candidates(&c, cands)) {
            atomic_store_explicit(&e->stamp, stamp, memory_order_relaxed);
            return;
        }
        if (s < victim_stamp) {
            victim = e;
            victim_stamp = s;
        }
    }
    if (victim)
        write_entry(victim, family, key, cands, stamp);
}

size_t names_lookup(int family, const void *addr, struct name_candidates *out, size_t max)
{
    if (atomic_load_explicit(&resolutions, memory_order_relaxed) == 0)
        return 0;
    uint64_t key[2], stamps[NAMES_PROBES];
    key_of(family, addr, key);
    uint32_t home = bucket_of(key);
    size_t found = 0;
    for (uint32_t i = 0; i < NAMES_PROBES && found < max; i++) {
        struct name_entry *e = &table[(home + i) & (NAMES_SIZE - 1)];
        uint32_t f;
        uint64_t k[2], s;
        struct name_candidates c;
        if (atomic_load_explicit(&e->seq, memory_order_acquire) == 0)
            break;
        if (!read_entry(e, &f, k, &c, &s) || (int)f != family || k[0] != key[0] || k[1] != key[1])
            continue;
        size_t at = found++; /* keep out[] ordered by stamp, newest first */
        while (at > 0 && stamps[at - 1] < s) {
            out[at] = out[at - 1];
            stamps[at] = stamps[at - 1];
            at--;
        }
        out[at] = c;
        stamps[at] = s;
    }
    return found;
}
