#include "rounds.h"

#include <string.h>
#include <sys/socket.h>

#include "clock.h"

/* An address as three words: family, then its bytes, zero-padded. */
typedef uint64_t address_words[3];

static void words_of(const struct destination *d, address_words w)
{
    w[0] = (uint64_t)d->family;
    w[1] = w[2] = 0;
    memcpy(&w[1], d->addr, d->family == AF_INET ? 4 : 16);
}

/* ---- the names and their addresses ---- */

/* A name's addresses, under a sequence counter (odd while written): a reader
 * that meets it being written skips it. */
struct name_entry {
    _Atomic uint32_t seq;
    _Atomic uint64_t key;   /* the name's hash; 0: unused */
    _Atomic uint64_t stamp; /* the lookup's number: the newest wins */
    _Atomic uint32_t count;
    _Atomic uint64_t words[ROUNDS_ADDRESSES][3];
};

static struct name_entry names[ROUNDS_NAMES];
static _Atomic uint64_t lookups; /* 0 while no name has two addresses */

static uint64_t name_key(const char *name)
{
    uint64_t h = UINT64_C(14695981039346656037);
    for (const unsigned char *p = (const unsigned char *)name; *p; p++)
        h = (h ^ (uint64_t)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p)) * UINT64_C(1099511628211);
    return h ? h : 1;
}

void rounds_collect(struct rounds_lookup *lookup, const struct destination *d)
{
    address_words w, seen;
    words_of(d, w);
    for (uint32_t i = 0; i < lookup->count; i++) {
        words_of(&lookup->addresses[i], seen);
        if (memcmp(w, seen, sizeof w) == 0)
            return;
    }
    if (lookup->count < ROUNDS_ADDRESSES)
        lookup->addresses[lookup->count++] = *d;
}

void rounds_resolved(const char *name, const struct rounds_lookup *lookup)
{
    if (lookup->count < 2)
        return;
    uint64_t key = name_key(name);
    uint64_t stamp = atomic_fetch_add_explicit(&lookups, 1, memory_order_relaxed) + 1;
    struct name_entry *e = &names[0];
    for (uint32_t i = 0; i < ROUNDS_NAMES; i++) { /* its own entry, else the oldest */
        uint64_t k = atomic_load_explicit(&names[i].key, memory_order_relaxed);
        if (k == key) {
            e = &names[i];
            break;
        }
        if (atomic_load_explicit(&names[i].stamp, memory_order_relaxed) <
            atomic_load_explicit(&e->stamp, memory_order_relaxed))
            e = &names[i];
    }
    uint32_t seq = atomic_load_explicit(&e->seq, memory_order_relaxed);
    if ((seq & 1) || !atomic_compare_exchange_strong_explicit(
                         &e->seq, &seq, seq + 1, memory_order_acquire, memory_order_relaxed))
        return; /* another thread writes it: lossy, as names.c */
    /* Release stores: a reader that sees any of them sees the odd seq too. */
    atomic_store_explicit(&e->key, key, memory_order_release);
    atomic_store_explicit(&e->stamp, stamp, memory_order_release);
    atomic_store_explicit(&e->count, lookup->count, memory_order_release);
    for (uint32_t i = 0; i < lookup->count; i++) {
        address_words w;
        words_of(&lookup->addresses[i], w);
        for (int k = 0; k < 3; k++)
            atomic_store_explicit(&e->words[i][k], w[k], memory_order_release);
    }
    atomic_store_explicit(&e->seq, seq + 2, memory_order_release);
}

/* Finds d among the names' addresses, in the newest lookup that has it:
 * fills turn (tried: d's bit alone). False when it is in none. */
static bool find_turn(const struct destination *d, struct rounds_turn *turn)
{
    if (atomic_load_explicit(&lookups, memory_order_relaxed) == 0)
        return false;
    address_words w;
    words_of(d, w);
    uint64_t newest = 0;
    turn->name = 0;
    for (uint32_t i = 0; i < ROUNDS_NAMES; i++) {
        struct name_entry *e = &names[i];
        uint32_t before = atomic_load_explicit(&e->seq, memory_order_acquire);
        if (before == 0 || (before & 1))
            continue;
        uint64_t key = atomic_load_explicit(&e->key, memory_order_acquire);
        uint64_t stamp = atomic_load_explicit(&e->stamp, memory_order_acquire);
        uint32_t count = atomic_load_explicit(&e->count, memory_order_acquire), at = count;
        for (uint32_t a = 0; a < count && a < ROUNDS_ADDRESSES && at == count; a++)
            if (atomic_load_explicit(&e->words[a][0], memory_order_acquire) == w[0] &&
                atomic_load_explicit(&e->words[a][1], memory_order_acquire) == w[1] &&
                atomic_load_explicit(&e->words[a][2], memory_order_acquire) == w[2])
                at = a;
        if (at < count && stamp > newest &&
            atomic_load_explicit(&e->seq, memory_order_relaxed) == before) {
            newest = stamp;
            *turn = (struct rounds_turn){.name = key, .tried = 1u << at, .count = count};
        }
    }
    return turn->name != 0;
}

/* ---- attempts under way, by fd ---- */

struct attempt {
    _Atomic int fd1; /* fd + 1; 0: free; -1: being written or read */
    struct rounds_turn turn;
};

static struct attempt attempts[ROUNDS_ATTEMPTS];
static _Atomic int attempts_under_way;

/* Takes fd's attempt into *turn; false when fd has none. One load when no
 * attempt is under way. */
static bool take_attempt(int fd, struct rounds_turn *turn)
{
    if (atomic_load_explicit(&attempts_under_way, memory_order_relaxed) == 0)
        return false;
    for (uint32_t i = 0; i < ROUNDS_ATTEMPTS; i++) {
        int mine = fd + 1;
        if (atomic_load_explicit(&attempts[i].fd1, memory_order_relaxed) != mine ||
            !atomic_compare_exchange_strong_explicit(&attempts[i].fd1, &mine, -1,
                                                     memory_order_acquire, memory_order_relaxed))
            continue;
        *turn = attempts[i].turn;
        atomic_store_explicit(&attempts[i].fd1, 0, memory_order_release);
        atomic_fetch_sub_explicit(&attempts_under_way, 1, memory_order_relaxed);
        return true;
    }
    return false;
}

void rounds_attempt(int fd, const struct rounds_turn *turn)
{
    if (turn->name == 0 || fd < 0)
        return;
    struct rounds_turn stale;
    take_attempt(fd, &stale); /* one whose end we never saw (a fork child's copy) */
    for (uint32_t i = 0; i < ROUNDS_ATTEMPTS; i++) {
        int free_entry = 0;
        if (!atomic_compare_exchange_strong_explicit(&attempts[i].fd1, &free_entry, -1,
                                                     memory_order_acquire, memory_order_relaxed))
            continue;
        attempts[i].turn = *turn;
        atomic_fetch_add_explicit(&attempts_under_way, 1, memory_order_relaxed);
        atomic_store_explicit(&attempts[i].fd1, fd + 1, memory_order_release);
        return;
    }
}

/* ---- held failures ---- */

enum { HELD_FREE, HELD_BUSY, HELD_WAITING };

struct held {
    _Atomic int state;
    struct rounds_turn turn; /* of the attempt that failed */
    struct guarded_call call;
    enum outcome_class outcome;
    uint64_t failed_ms;
    const void *thread;
};

static struct held held[ROUNDS_HELD];
static _Atomic int held_waiting;
static __thread char this_thread
    __attribute__((tls_model("initial-exec"))); /* its address tells threads apart */

/* Takes entry h from state from (to busy); false when it was not in it. */
static bool take_held(struct held *h, int from)
{
    return atomic_load_explicit(&h->state, memory_order_relaxed) == from &&
           atomic_compare_exchange_strong_explicit(&h->state, &from, HELD_BUSY,
                                                   memory_order_acquire, memory_order_relaxed);
}

static void release_held(struct held *h)
{
    atomic_store_explicit(&h->state, HELD_FREE, memory_order_release);
}

/* Holds a failed attempt; false when there is no room (it then counts). */
static bool hold(const struct rounds_turn *turn, const struct guarded_call *call,
                 enum outcome_class outcome)
{
    for (uint32_t i = 0; i < ROUNDS_HELD; i++) {
        struct held *h = &held[i];
        if (!take_held(h, HELD_FREE))
            continue;
        h->turn = *turn;
        h->call = *call;
        h->outcome = outcome;
        h->failed_ms = clock_now_ms();
        h->thread = &this_thread;
        atomic_fetch_add_explicit(&held_waiting, 1, memory_order_relaxed);
        atomic_store_explicit(&h->state, HELD_WAITING, memory_order_release);
        return true;
    }
    return false;
}

/* Counts the failure held in h (taken, busy), unless the breaker had a
 * success in this process since the round began: then another attempt of
 * it connected, and the failure was a losing one. Frees h. */
static void count_held(struct runtime *rt, struct held *h)
{
    bool lost_race = runtime_succeeded_since(rt, h->call.breaker, h->call.started_ms);
    struct guarded_call call = h->call;
    enum outcome_class outcome = lost_race ? OUTCOME_IGNORED : h->outcome;
    release_held(h);
    atomic_fetch_sub_explicit(&held_waiting, 1, memory_order_relaxed);
    runtime_end(rt, &call, outcome);
}

/* Counts the held failures older than ROUNDS_HOLD_MS (all with every). */
static void count_expired(struct runtime *rt, bool every)
{
    if (atomic_load_explicit(&held_waiting, memory_order_relaxed) == 0)
        return;
    uint64_t now = clock_now_ms();
    for (uint32_t i = 0; i < ROUNDS_HELD; i++) {
        struct held *h = &held[i];
        if (!take_held(h, HELD_WAITING))
            continue;
        if (every || now - h->failed_ms >= ROUNDS_HOLD_MS) {
            count_held(rt, h);
        } else {
            atomic_store_explicit(&h->state, HELD_WAITING, memory_order_release);
        }
    }
}

/* Takes the held failure of breaker b's round on name whose attempts have
 * not tried address bit, preferring this thread's, else the latest: fills
 * *out and frees it. */
static bool take_round(uint32_t b, uint64_t name, uint32_t bit, struct held *out)
{
    if (atomic_load_explicit(&held_waiting, memory_order_relaxed) == 0)
        return false;
    for (int pass = 0; pass < 2; pass++) {
        struct held *best = NULL;
        for (uint32_t i = 0; i < ROUNDS_HELD; i++) {
            struct held *h = &held[i];
            if (!take_held(h, HELD_WAITING))
                continue;
            bool fits = h->call.breaker == b && h->turn.name == name && !(h->turn.tried & bit) &&
                        (pass == 1 || h->thread == &this_thread);
            if (fits && (!best || h->failed_ms > best->failed_ms)) {
                if (best)
                    atomic_store_explicit(&best->state, HELD_WAITING, memory_order_release);
                best = h;
            } else {
                atomic_store_explicit(&h->state, HELD_WAITING, memory_order_release);
            }
        }
        if (best) {
            *out = *best;
            release_held(best);
            atomic_fetch_sub_explicit(&held_waiting, 1, memory_order_relaxed);
            return true;
        }
    }
    return false;
}

bool rounds_continue(struct runtime *rt, uint32_t b, const struct destination *d,
                     struct guarded_call *call, struct rounds_turn *turn)
{
    count_expired(rt, false);
    struct held h;
    if (!find_turn(d, turn))
        return false;
    if (runtime_breaker(rt, b)->per_host) { /* each address has its own breaker */
        *turn = (struct rounds_turn){0};
        return false;
    }
    if (!take_round(b, turn->name, turn->tried, &h))
        return false;
    *call = h.call;
    turn->tried |= h.turn.tried;
    return true;
}

void rounds_connected(int fd)
{
    struct rounds_turn turn;
    take_attempt(fd, &turn);
}

void rounds_end(struct runtime *rt, int fd, const struct guarded_call *call,
                enum outcome_class outcome)
{
    struct rounds_turn turn;
    uint32_t all = 0;
    if (take_attempt(fd, &turn))
        all = turn.count >= 32 ? UINT32_MAX : (1u << turn.count) - 1;
    bool failed = outcome != OUTCOME_SUCCESS && outcome != OUTCOME_IGNORED;
    if (failed && all && (turn.tried & all) != all) {
        if (runtime_succeeded_since(rt, call->breaker, call->started_ms))
            outcome = OUTCOME_IGNORED; /* another attempt of the round connected */
        else if (hold(&turn, call, outcome))
            return;
    }
    runtime_end(rt, call, outcome);
}

void rounds_flush(struct runtime *rt)
{
    if (rt)
        count_expired(rt, true);
}

void rounds_forget_all(void)
{
    for (uint32_t i = 0; i < ROUNDS_ATTEMPTS; i++)
        atomic_store_explicit(&attempts[i].fd1, 0, memory_order_relaxed);
    atomic_store_explicit(&attempts_under_way, 0, memory_order_relaxed);
    for (uint32_t i = 0; i < ROUNDS_HELD; i++)
        atomic_store_explicit(&held[i].state, HELD_FREE, memory_order_relaxed);
    atomic_store_explicit(&held_waiting, 0, memory_order_relaxed);
}
