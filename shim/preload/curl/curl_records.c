/* The per-handle records of the libcurl hooks, in a lock-free table keyed
 * by the easy handle's address. A record is created by the first
 * curl_easy_setopt the shim cares about and dropped by curl_easy_cleanup.
 *
 * The table is a short list of levels, each a power of two of groups of
 * CURL_RECORD_WAYS slots; a handle may take any free slot of its own group
 * in a level (claimed with a CAS on the slot's key) and the next level is
 * made when that group is full, so a lookup reads one group per level that
 * exists, usually one cache line. Each level is one anonymous mapping of
 * its keys, its pending words and its records, made when first needed and
 * never unmapped: a record costs no allocation, and the table never touches
 * the program's heap (a level's untouched pages cost no memory).
 *
 * Only the thread that uses a handle reads or writes its record (libcurl
 * allows one thread at a time per handle and per multi handle). Other
 * threads read the keys and the "pending in multi handle" words only, so
 * nothing here takes a lock: safe across fork and in any thread. Nothing is
 * allocated before a program uses libcurl under rules. */
#include <sys/mman.h>

#include "curl_internal.h"
#include "keep_errno.h"
#include "log.h"

#define CURL_RECORD_WAYS 8 /* slots of a group: 64 bytes of keys */
#define LEVEL0_GROUP_BITS 8
#define LEVEL_GROWTH_BITS 2 /* each level has four times the groups of the one before */
#define LEVELS 6            /* 2 048 slots, then 8 192, …: 2.8 M in all */

/* A level: this header (in a cache line of its own), then slots keys (a
 * group of them in one line), slots pending words and slots records, in
 * one mapping. */
#define LEVEL_HEADER 64
struct level {
    unsigned group_bits;
    _Atomic(uintptr_t) *keys;          /* the handle in each slot, 0 when free */
    _Atomic(const void *) *pending_in; /* the multi handle a slot's transfer is pending in */
    struct curl_record *records;
};
_Static_assert(sizeof(struct level) <= LEVEL_HEADER, "a level's header fits its line");

static _Atomic(struct level *) levels[LEVELS];
static _Atomic size_t record_count;

bool curl_records_empty(void)
{
    return atomic_load_explicit(&record_count, memory_order_relaxed) == 0;
}

void curl_options_clear(struct curl_options *o)
{
    /* the buffers behind a cleared flag or an empty host are never read */
    o->url.host[0] = '\0';
    o->curlu = NULL;
    o->port = 0;
    o->errorbuffer = NULL;
    o->opensocket = NULL;
    o->proxy_set = false;
    o->proxy.host[0] = '\0';
    o->noproxy_set = false;
    o->noproxy[0] = '\0';
    o->fresh_connect = 0;
    o->connect_to = NULL;
}

void curl_multi_state_clear(struct curl_multi_state *s)
{
    /* the guard is read only while active or rejected, but for connect_to */
    s->active = s->rejected = false;
    s->multi = NULL;
    s->guard.connect_to = NULL;
}

/* Makes level i unless another thread has; returns it, or NULL when it
 * cannot be made. Leaves errno alone. */
__attribute__((noinline)) static struct level *make_level(unsigned i)
{
    KEEP_ERRNO();
    struct level *l = NULL;
    unsigned bits = LEVEL0_GROUP_BITS + LEVEL_GROWTH_BITS * i;
    size_t slots = (size_t)CURL_RECORD_WAYS << bits;
    size_t size =
        sizeof *l + slots * (sizeof *l->keys + sizeof *l->pending_in + sizeof *l->records);
    char *base = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (base == MAP_FAILED)
        return NULL;
    struct level *fresh = (struct level *)base;
    fresh->group_bits = bits;
    fresh->keys = (_Atomic(uintptr_t) *)(base + LEVEL_HEADER);
    fresh->pending_in = (_Atomic(const void *) *)(fresh->keys + slots);
    fresh->records = (struct curl_record *)(fresh->pending_in + slots);
    if (atomic_compare_exchange_strong_explicit(&levels[i], &l, fresh, memory_order_acq_rel,
                                                memory_order_acquire))
        return fresh;
    munmap(base, size); /* another thread made it first: l is its level */
    return l;
}

/* Level i, made when make is set and it does not exist yet; NULL when it
 * does not (or cannot be made). Leaves errno alone. */
static struct level *level_at(unsigned i, bool make)
{
    struct level *l = atomic_load_explicit(&levels[i], memory_order_acquire);
    return l || !make ? l : make_level(i);
}

/* The first slot of handle's group in l. */
static size_t group_of(const struct level *l, const void *handle)
{
    uint64_t h = (uint64_t)(uintptr_t)handle * 0x9e3779b97f4a7c15ull;
    return (size_t)(h >> (64 - l->group_bits)) * CURL_RECORD_WAYS;
}

__thread struct curl_record *curl_records_hint;

struct curl_record *curl_records_lookup(const void *handle)
{
    for (unsigned i = 0; i < LEVELS; i++) {
        const struct level *l = atomic_load_explicit(&levels[i], memory_order_acquire);
        if (!l)
            return NULL;
        size_t first = group_of(l, handle);
        for (size_t s = first; s < first + CURL_RECORD_WAYS; s++)
            if (atomic_load_explicit(&l->keys[s], memory_order_relaxed) == (uintptr_t)handle)
                return curl_records_hint = &l->records[s];
    }
    return NULL;
}

/* Takes a free slot of handle's group in l for it; returns its record,
 * ready for use, or NULL (no free slot, or no memory). */
static struct curl_record *claim(struct level *l, const void *handle)
{
    size_t first = group_of(l, handle);
    for (size_t s = first; s < first + CURL_RECORD_WAYS; s++) {
        uintptr_t free_key = 0;
        if (atomic_load_explicit(&l->keys[s], memory_order_relaxed) != 0 ||
            !atomic_compare_exchange_strong_explicit(&l->keys[s], &free_key, (uintptr_t)handle,
                                                     memory_order_acquire, memory_order_relaxed))
            continue;
        struct curl_record *r = &l->records[s];
        if (!r->key) { /* the slot's first record: its links to the slot never change */
            r->key = &l->keys[s];
            r->pending_in = &l->pending_in[s];
        }
        curl_options_clear(&r->options);
        curl_multi_state_clear(&r->multi);
        atomic_fetch_add_explicit(&record_count, 1, memory_order_relaxed);
        return curl_records_hint = r;
    }
    return NULL;
}

struct curl_record *curl_records_add(const void *handle)
{
    struct curl_record *r = NULL;
    for (unsigned i = 0; i < LEVELS && !r; i++) {
        struct level *l = level_at(i, true);
        if (!l)
            break;
        r = claim(l, handle);
    }
    if (!r) {
        KEEP_ERRNO();
        log_once(LOG_WARN,
                 "no room to follow another libcurl handle (%s); its transfers pass through",
                 "no memory, or 2.8 M alive");
    }
    return r;
}

void curl_records_drop(struct curl_record *r)
{
    atomic_store_explicit(r->pending_in, NULL, memory_order_relaxed);
    atomic_store_explicit(r->key, 0, memory_order_release);
    atomic_fetch_sub_explicit(&record_count, 1, memory_order_relaxed);
}

void curl_records_set_pending(struct curl_record *r, const void *multi)
{
    atomic_store_explicit(r->pending_in, multi, memory_order_relaxed);
}

size_t curl_records_in_multi(const void *multi, CURL **out, size_t max)
{
    size_t n = 0;
    for (unsigned i = 0; i < LEVELS && n < max; i++) {
        const struct level *l = level_at(i, false);
        size_t slots = l ? (size_t)CURL_RECORD_WAYS << l->group_bits : 0;
        for (size_t s = 0; s < slots && n < max; s++) {
            uintptr_t key = atomic_load_explicit(&l->keys[s], memory_order_relaxed);
            if (key && atomic_load_explicit(&l->pending_in[s], memory_order_relaxed) == multi)
                out[n++] = (CURL *)key;
        }
    }
    return n;
}
