/* The state word packs everything a transition must change at once:
 *
 *   bits  0..2   state (enum breaker_state)
 *   bits  3..10  epoch: bumped by every transition, so a probe's report is
 *                applied only to the half-open episode that granted it
 *   bits 11..16  probes in flight (half-open)
 *   bits 17..23  probe successes so far (half-open)
 *   bits 24..63  time in ms: retry-at (open, forced open, fleet open; 0 =
 *                never) or when the last probe was granted (half-open)
 *
 * The rate window is BREAKER_WINDOW_BUCKETS buckets of window_ms / buckets
 * each, one word per bucket:
 *
 *   bits  0..15  bucket id: the bucket's number (now / width) mod 2^16
 *   bits 16..31  calls     bits 32..47  failures     bits 48..63  slow calls
 *
 * A bucket is claimed for its period by the first call that finds an older
 * id in it; a bucket whose calls reached 65535 takes no more, so its
 * percentages stay those of its first 65535 calls. The half-open episode's
 * start is kept beside the word as (epoch << 56 | time), trusted only while
 * its epoch is the word's.
 */
#include "breaker.h"

#include <stdio.h>

#define STATE_BITS 3
#define EPOCH_SHIFT 3
#define INFLIGHT_SHIFT 11
#define OK_SHIFT 17
#define TIME_SHIFT 24
#define TIME_MASK ((UINT64_C(1) << 40) - 1)
#define BUCKET_ID_MASK UINT64_C(0xffff)
#define BUCKET_FULL 0xffffu
#define CALL_UNIT (UINT64_C(1) << 16)
#define FAILURE_UNIT (UINT64_C(1) << 32)
#define SLOW_UNIT (UINT64_C(1) << 48)
#define SINCE_EPOCH_SHIFT 56

static uint64_t pack(const struct breaker_view *v)
{
    return (uint64_t)v->state | (uint64_t)v->epoch << EPOCH_SHIFT |
           (uint64_t)(v->probes_in_flight & 63) << INFLIGHT_SHIFT |
           (uint64_t)(v->probe_successes & 127) << OK_SHIFT |
           (v->time_ms & TIME_MASK) << TIME_SHIFT;
}

static struct breaker_view unpack(uint64_t w)
{
    struct breaker_view v = {
        .state = (enum breaker_state)(w & ((1u << STATE_BITS) - 1)),
        .epoch = (uint8_t)(w >> EPOCH_SHIFT),
        .probes_in_flight = (uint8_t)((w >> INFLIGHT_SHIFT) & 63),
        .probe_successes = (uint8_t)((w >> OK_SHIFT) & 127),
        .time_ms = w >> TIME_SHIFT,
    };
    return v;
}

struct breaker_view breaker_view(const struct breaker_slot *s)
{
    return unpack(atomic_load_explicit(&s->word, memory_order_acquire));
}

static bool swap_word(struct breaker_slot *s, uint64_t *seen, const struct breaker_view *next)
{
    return atomic_compare_exchange_weak_explicit(&s->word, seen, pack(next), memory_order_acq_rel,
                                                 memory_order_acquire);
}

static void count(_Atomic uint64_t *counter)
{
    atomic_fetch_add_explicit(counter, 1, memory_order_relaxed);
}

static void note_transition(struct breaker_transition *tr, enum breaker_state from,
                            enum breaker_state to, enum transition_cause cause,
                            enum outcome_class cls, uint32_t n)
{
    *tr =
        (struct breaker_transition){.from = from, .to = to, .cause = cause, .cls = cls, .count = n};
}

void breaker_date(struct breaker_slot *s, const struct breaker_transition *tr, uint64_t wall_ms)
{
    atomic_store_explicit(&s->changed_at_wall, wall_ms, memory_order_relaxed);
    if (breaker_state_rejects(tr->to))
        atomic_store_explicit(&s->opened_at_wall, wall_ms, memory_order_relaxed);
}

uint64_t breaker_open_cap_ms(const struct breaker_config *c)
{
    return c->backoff_max_ms > c->reset_timeout_ms ? c->backoff_max_ms : c->reset_timeout_ms;
}

static uint64_t longest_open_ms(const struct breaker_config *c)
{
    uint64_t cap = breaker_open_cap_ms(c);
    return cap + cap * c->backoff_jitter_permille / 1000;
}

/* An open breaker whose retry time lies further ahead than this policy could
 * have set (a file from another boot, a clock that went back) is due now. */
static bool open_time_is_over(const struct breaker_view *v, const struct breaker_config *c,
                              uint64_t now_ms)
{
    if (v->state == BREAKER_FORCED_OPEN)
        return v->time_ms != 0 && now_ms >= v->time_ms;
    uint64_t longest = v->state == BREAKER_FLEET_OPEN ? BREAKER_MAX_FLEET_MS : longest_open_ms(c);
    return now_ms >= v->time_ms || v->time_ms - now_ms > longest;
}

/* When the half-open episode in v began (ms), or UINT64_MAX when that is not
 * known: its writer may have died between the transition and writing it, or
 * it lies ahead of now (a file from another boot). */
static uint64_t half_open_start(const struct breaker_slot *s, const struct breaker_view *v,
                                uint64_t now_ms)
{
    uint64_t since = atomic_load_explicit(&s->half_open_since, memory_order_relaxed);
    uint64_t began = since & TIME_MASK;
    return (uint8_t)(since >> SINCE_EPOCH_SHIFT) == v->epoch && began <= now_ms ? began
                                                                                : UINT64_MAX;
}

/* True when the last probe of a half-open episode was granted reset_timeout
 * ago or more (its process may have died), or implausibly far ahead. With
 * half_open_max_wait (and the episode's start known), that limit ends such
 * an episode instead: it opens. */
static bool probes_presumed_lost(const struct breaker_slot *s, const struct breaker_view *v,
                                 const struct breaker_config *c, uint64_t now_ms)
{
    if (c->half_open_max_wait_ms != 0 && half_open_start(s, v, now_ms) != UINT64_MAX)
        return false;
    if (v->time_ms > now_ms)
        return v->time_ms - now_ms > c->reset_timeout_ms;
    return now_ms - v->time_ms >= c->reset_timeout_ms;
}

/* A well-mixed 64-bit value of x (splitmix64's finaliser). */
static uint64_t mix(uint64_t x)
{
    x ^= x >> 30;
    x *= UINT64_C(0xbf58476d1ce4e5b9);
    x ^= x >> 27;
    x *= UINT64_C(0x94d049bb133111eb);
    return x ^ (x >> 31);
}

uint64_t breaker_open_ms(const struct breaker_config *c, uint32_t streak, uint64_t seed,
                         uint32_t retry_after_ms)
{
    double cap = (double)breaker_open_cap_ms(c), ms = c->reset_timeout_ms;
    for (uint32_t i = 0; i < streak && c->backoff_multiplier > 1 && ms < cap; i++)
        ms *= c->backoff_multiplier;
    if (ms > cap)
        ms = cap;
    if (c->backoff_jitter_permille != 0) {
        uint64_t span = 2u * c->backoff_jitter_permille + 1;
        double permille = (double)(mix(seed) % span) - c->backoff_jitter_permille;
        ms += ms * permille / 1000;
    }
    if (c->honor_retry_after && retry_after_ms > ms)
        ms = retry_after_ms < cap ? retry_after_ms : cap;
    return ms >= 1 ? (uint64_t)ms : 1;
}

/* Opens the breaker from the state seen in v (*seen its word): one CAS.
 * Returns false when another process changed the word first (*seen then
 * holds the new word). */
static bool try_open(struct breaker_slot *s, const struct breaker_config *c, uint64_t *seen,
                     const struct breaker_view *v, uint64_t now_ms, uint32_t retry_after_ms)
{
    uint32_t streak = atomic_load_explicit(&s->open_streak, memory_order_relaxed);
    uint64_t seed = now_ms ^ (uint64_t)(uintptr_t)s ^ (uint64_t)v->epoch << 48;
    struct breaker_view next = {BREAKER_OPEN, (uint8_t)(v->epoch + 1), 0, 0,
                                now_ms + breaker_open_ms(c, streak, seed, retry_after_ms)};
    if (!swap_word(s, seen, &next))
        return false;
    atomic_fetch_add_explicit(&s->open_streak, 1, memory_order_relaxed);
    return true;
}

/* Forgets what a closed breaker judges by: the consecutive count, the
 * backoff streak and the rate window. */
static void forget_history(struct breaker_slot *s)
{
    atomic_store_explicit(&s->consecutive_failures, 0, memory_order_relaxed);
    atomic_store_explicit(&s->open_streak, 0, memory_order_relaxed);
    for (size_t i = 0; i < BREAKER_WINDOW_BUCKETS; i++)
        atomic_store_explicit(&s->window[i], 0, memory_order_relaxed);
}

static uint64_t bucket_width_ms(const struct breaker_config *c)
{
    uint64_t width = c->window_ms / BREAKER_WINDOW_BUCKETS;
    return width != 0 ? width : 1;
}

/* Adds one call (a failure, slow or neither) to the window's current bucket. */
static void window_add(struct breaker_slot *s, const struct breaker_config *c, uint64_t now_ms,
                       bool failure, bool slow)
{
    uint64_t n = now_ms / bucket_width_ms(c), id = n & BUCKET_ID_MASK;
    _Atomic uint64_t *bucket = &s->window[n % BREAKER_WINDOW_BUCKETS];
    uint64_t add = CALL_UNIT + (failure ? FAILURE_UNIT : 0) + (slow ? SLOW_UNIT : 0);
    uint64_t seen = atomic_load_explicit(bucket, memory_order_relaxed), next;
    do {
        int16_t ahead = (int16_t)((seen & BUCKET_ID_MASK) - id);
        if (ahead > 0 && seen != 0)
            return; /* a call dated before the bucket's period: it has left the window */
        if (ahead != 0)
            next = id + add;
        else if (((seen / CALL_UNIT) & BUCKET_FULL) == BUCKET_FULL)
            return;
        else
            next = seen + add;
    } while (!atomic_compare_exchange_weak_explicit(bucket, &seen, next, memory_order_relaxed,
                                                    memory_order_relaxed));
}

struct breaker_window breaker_window(const struct breaker_slot *s, const struct breaker_config *c,
                                     uint64_t now_ms)
{
    struct breaker_window w = {0, 0, 0};
    if (c->window_ms == 0)
        return w;
    uint64_t n = now_ms / bucket_width_ms(c);
    for (uint64_t i = 0; i < BREAKER_WINDOW_BUCKETS && i <= n; i++) {
        uint64_t b = atomic_load_explicit(&s->window[(n - i) % BREAKER_WINDOW_BUCKETS],
                                          memory_order_relaxed);
        if ((b & BUCKET_ID_MASK) != ((n - i) & BUCKET_ID_MASK))
            continue;
        w.calls += (uint32_t)((b / CALL_UNIT) & BUCKET_FULL);
        w.failures += (uint32_t)((b / FAILURE_UNIT) & BUCKET_FULL);
        w.slow += (uint32_t)(b / SLOW_UNIT);
    }
    return w;
}

/* The rate that opens a breaker whose window now holds w: CAUSE_FAILURE_RATE
 * or CAUSE_SLOW_RATE with its percentage in *percent, or CAUSE_COUNT. */
static enum transition_cause rate_exceeded(const struct breaker_config *c,
                                           const struct breaker_window *w, uint32_t *percent)
{
    if (w->calls == 0 || w->calls < c->min_calls)
        return CAUSE_COUNT;
    if (c->failure_rate != 0 &&
        (uint64_t)w->failures * 100 >= (uint64_t)c->failure_rate * w->calls) {
        *percent = (uint32_t)((uint64_t)w->failures * 100 / w->calls);
        return CAUSE_FAILURE_RATE;
    }
    if (c->slow_rate != 0 && (uint64_t)w->slow * 100 >= (uint64_t)c->slow_rate * w->calls) {
        *percent = (uint32_t)((uint64_t)w->slow * 100 / w->calls);
        return CAUSE_SLOW_RATE;
    }
    return CAUSE_COUNT;
}

static void note_half_open_start(struct breaker_slot *s, uint8_t epoch, uint64_t now_ms)
{
    atomic_store_explicit(&s->half_open_since,
                          (uint64_t)epoch << SINCE_EPOCH_SHIFT | (now_ms & TIME_MASK),
                          memory_order_relaxed);
}

/* True when the half-open episode in v has lasted half_open_max_wait or more. */
static bool half_open_wait_over(const struct breaker_slot *s, const struct breaker_config *c,
                                const struct breaker_view *v, uint64_t now_ms)
{
    if (c->half_open_max_wait_ms == 0)
        return false;
    uint64_t began = half_open_start(s, v, now_ms);
    return began != UINT64_MAX && now_ms - began >= c->half_open_max_wait_ms;
}

/* Starts a new half-open episode from the state seen in v (*seen its word),
 * with this call as its one probe: one CAS. Returns false when another
 * process changed the word first (*seen then holds the new word). */
static bool try_probe_episode(struct breaker_slot *s, uint64_t *seen, const struct breaker_view *v,
                              uint64_t now_ms, enum transition_cause cause, uint32_t count,
                              struct breaker_transition *tr)
{
    struct breaker_view next = {BREAKER_HALF_OPEN, (uint8_t)(v->epoch + 1), 1, 0, now_ms};
    if (!swap_word(s, seen, &next))
        return false;
    note_half_open_start(s, next.epoch, now_ms);
    note_transition(tr, v->state, BREAKER_HALF_OPEN, cause, OUTCOME_SUCCESS, count);
    return true;
}

static struct breaker_ticket ticket(enum breaker_verdict verdict, uint8_t epoch)
{
    return (struct breaker_ticket){.verdict = (uint8_t)verdict, .epoch = epoch};
}

static struct breaker_ticket reject(struct breaker_slot *s)
{
    count(&s->rejected);
    return ticket(VERDICT_REJECT, 0);
}

/* breaker_decide for a state other than closed when seen was loaded. Out of
 * line, so that the closed breaker's path saves no registers. */
static __attribute__((noinline)) struct breaker_ticket
decide_unclosed(struct breaker_slot *s, const struct breaker_config *c, uint64_t seen,
                uint64_t now_ms, struct breaker_transition *tr, bool *transitioned)
{
    for (;;) {
        struct breaker_view v = unpack(seen), next = v;
        switch (v.state) {
        case BREAKER_CLOSED:
            return ticket(VERDICT_ALLOW, v.epoch);
        case BREAKER_OPEN:
        case BREAKER_FORCED_OPEN:
        case BREAKER_FLEET_OPEN:
            if (!open_time_is_over(&v, c, now_ms))
                return reject(s);
            if (try_probe_episode(s, &seen, &v, now_ms, CAUSE_TIMEOUT_ELAPSED, 0, tr)) {
                *transitioned = true;
                return ticket(VERDICT_PROBE, (uint8_t)(v.epoch + 1));
            }
            break;
        case BREAKER_HALF_OPEN:
            if (half_open_wait_over(s, c, &v, now_ms)) {
                if (try_open(s, c, &seen, &v, now_ms, 0)) {
                    note_transition(tr, BREAKER_HALF_OPEN, BREAKER_OPEN, CAUSE_HALF_OPEN_WAIT,
                                    OUTCOME_SUCCESS, v.probe_successes);
                    *transitioned = true;
                    return reject(s);
                }
            } else if (v.probes_in_flight < c->half_open_max_calls) {
                next.probes_in_flight++;
                next.time_ms = now_ms;
                if (swap_word(s, &seen, &next))
                    return ticket(VERDICT_PROBE, next.epoch);
            } else if (probes_presumed_lost(s, &v, c, now_ms)) {
                if (try_probe_episode(s, &seen, &v, now_ms, CAUSE_PROBE_LOST, v.probes_in_flight,
                                      tr)) {
                    *transitioned = true;
                    return ticket(VERDICT_PROBE, (uint8_t)(v.epoch + 1));
                }
            } else {
                return reject(s);
            }
            break;
        case BREAKER_DISABLED:
        default:
            return ticket(VERDICT_BYPASS, v.epoch);
        }
    }
}

struct breaker_ticket breaker_decide(struct breaker_slot *s, const struct breaker_config *c,
                                     uint64_t now_ms, struct breaker_transition *tr,
                                     bool *transitioned)
{
    uint64_t seen = atomic_load_explicit(&s->word, memory_order_acquire);
    *transitioned = false;
    if (__builtin_expect((seen & ((1u << STATE_BITS) - 1)) == BREAKER_CLOSED, 1))
        return ticket(VERDICT_ALLOW, (uint8_t)(seen >> EPOCH_SHIFT)); /* without unpacking */
    return decide_unclosed(s, c, seen, now_ms, tr, transitioned);
}

bool breaker_rejects_now(struct breaker_slot *s, const struct breaker_config *c, uint64_t now_ms)
{
    struct breaker_view v = breaker_view(s);
    bool rejects = (breaker_state_rejects(v.state) && !open_time_is_over(&v, c, now_ms)) ||
                   (v.state == BREAKER_HALF_OPEN && v.probes_in_flight >= c->half_open_max_calls &&
                    !probes_presumed_lost(s, &v, c, now_ms));
    if (rejects)
        count(&s->rejected);
    return rejects;
}

/* Opens a closed breaker for cause (count, class): one CAS; false when it
 * is no longer closed (another call opened it, or an operator changed it). */
static bool open_from_closed(struct breaker_slot *s, const struct breaker_config *c,
                             enum transition_cause cause, enum outcome_class cls, uint32_t n,
                             uint64_t now_ms, uint32_t retry_after_ms,
                             struct breaker_transition *tr)
{
    uint64_t seen = atomic_load_explicit(&s->word, memory_order_acquire);
    for (;;) {
        struct breaker_view v = unpack(seen);
        if (v.state != BREAKER_CLOSED)
            return false;
        if (try_open(s, c, &seen, &v, now_ms, retry_after_ms)) {
            count(&s->trips);
            note_transition(tr, BREAKER_CLOSED, BREAKER_OPEN, cause, cls, n);
            return true;
        }
    }
}

/* Records a call of the closed state: the consecutive count, then the rate
 * window. */
static bool record_closed(struct breaker_slot *s, const struct breaker_config *c,
                          enum outcome_class cls, bool failure, uint64_t now_ms,
                          uint32_t retry_after_ms, struct breaker_transition *tr)
{
    if (failure) {
        uint32_t n =
            atomic_fetch_add_explicit(&s->consecutive_failures, 1, memory_order_relaxed) + 1;
        if (c->fail_max != 0 && n >= c->fail_max)
            return open_from_closed(s, c, CAUSE_FAILURES, cls, n, now_ms, retry_after_ms, tr);
    } else if (atomic_load_explicit(&s->consecutive_failures, memory_order_relaxed) != 0) {
        atomic_store_explicit(&s->consecutive_failures, 0, memory_order_relaxed);
    }
    if (c->window_ms == 0)
        return false;
    window_add(s, c, now_ms, failure, cls == CLASS_SLOW);
    struct breaker_window w = breaker_window(s, c, now_ms);
    uint32_t percent = 0;
    enum transition_cause cause = rate_exceeded(c, &w, &percent);
    return cause != CAUSE_COUNT &&
           open_from_closed(s, c, cause, cls, percent, now_ms, retry_after_ms, tr);
}

static bool record_probe(struct breaker_slot *s, const struct breaker_config *c,
                         struct breaker_ticket t, enum outcome_class cls, bool failure,
                         uint64_t now_ms, uint32_t retry_after_ms, struct breaker_transition *tr)
{
    uint64_t seen = atomic_load_explicit(&s->word, memory_order_acquire);
    for (;;) {
        struct breaker_view v = unpack(seen), next = v;
        if (v.state != BREAKER_HALF_OPEN || v.epoch != t.epoch)
            return false; /* a late report from an episode that is over */
        if (v.probes_in_flight > 0)
            next.probes_in_flight--;
        if (cls == OUTCOME_IGNORED) {
            if (swap_word(s, &seen, &next))
                return false;
            continue;
        }
        if (failure) {
            if (try_open(s, c, &seen, &v, now_ms, retry_after_ms)) {
                note_transition(tr, BREAKER_HALF_OPEN, BREAKER_OPEN, CAUSE_PROBE_FAILED, cls, 1);
                return true;
            }
            continue;
        }
        next.probe_successes++;
        if (next.probe_successes < c->success_threshold) {
            if (swap_word(s, &seen, &next))
                return false;
            continue;
        }
        next = (struct breaker_view){BREAKER_CLOSED, (uint8_t)(v.epoch + 1), 0, 0, 0};
        if (swap_word(s, &seen, &next)) {
            forget_history(s);
            note_transition(tr, BREAKER_HALF_OPEN, BREAKER_CLOSED, CAUSE_PROBES_OK, OUTCOME_SUCCESS,
                            v.probe_successes + 1u);
            return true;
        }
    }
}

bool breaker_record(struct breaker_slot *s, const struct breaker_config *c, struct breaker_ticket t,
                    enum outcome_class outcome, uint64_t now_ms, uint32_t retry_after_ms,
                    struct breaker_transition *tr)
{
    if (t.verdict != VERDICT_ALLOW && t.verdict != VERDICT_PROBE)
        return false;
    bool failure = outcome != OUTCOME_SUCCESS && outcome < CLASS_COUNT &&
                   (c->failure_mask & CLASS_BIT(outcome));
    if (outcome != OUTCOME_IGNORED)
        count(failure ? &s->failures : &s->successes);
    if (t.verdict == VERDICT_PROBE)
        return record_probe(s, c, t, outcome, failure, now_ms, retry_after_ms, tr);
    if (outcome == OUTCOME_IGNORED)
        return false;
    return record_closed(s, c, outcome, failure, now_ms, retry_after_ms, tr);
}

void breaker_force(struct breaker_slot *s, enum breaker_state st, uint64_t until_ms,
                   struct breaker_transition *tr)
{
    uint64_t seen = atomic_load_explicit(&s->word, memory_order_acquire);
    struct breaker_view v;
    for (;;) {
        v = unpack(seen);
        struct breaker_view next = {st, (uint8_t)(v.epoch + 1), 0, 0,
                                    st == BREAKER_FORCED_OPEN ? until_ms : 0};
        if (swap_word(s, &seen, &next))
            break;
    }
    if (st == BREAKER_CLOSED)
        forget_history(s);
    note_transition(tr, v.state, st, CAUSE_OPERATOR, OUTCOME_SUCCESS, 0);
}

void breaker_reset(struct breaker_slot *s, struct breaker_transition *tr)
{
    breaker_force(s, BREAKER_CLOSED, 0, tr);
    _Atomic uint64_t *counters[] = {&s->successes, &s->failures,       &s->rejected,
                                    &s->trips,     &s->opened_at_wall, &s->fallbacks};
    for (size_t i = 0; i < sizeof counters / sizeof counters[0]; i++)
        atomic_store_explicit(counters[i], 0, memory_order_relaxed);
}

int64_t breaker_retry_in_ms(const struct breaker_view *v, uint64_t now_ms)
{
    if (!breaker_state_rejects(v->state) || (v->state != BREAKER_OPEN && v->time_ms == 0))
        return -1;
    return v->time_ms > now_ms ? (int64_t)(v->time_ms - now_ms) : 0;
}

bool breaker_is_clean(const struct breaker_slot *s)
{
    return breaker_view(s).state == BREAKER_CLOSED &&
           atomic_load_explicit(&s->consecutive_failures, memory_order_relaxed) == 0;
}

bool breaker_state_rejects(enum breaker_state st)
{
    return st == BREAKER_OPEN || st == BREAKER_FORCED_OPEN || st == BREAKER_FLEET_OPEN;
}

const char *breaker_state_name(enum breaker_state st)
{
    static const char names[][sizeof "forced_open"] = {"closed",      "open",     "half_open",
                                                       "forced_open", "disabled", "fleet_open"};
    return (unsigned)st < sizeof names / sizeof names[0] ? names[st] : "invalid";
}

void breaker_describe(const struct breaker_transition *tr, char *buf, size_t len)
{
    const char *cls = outcome_class_name((enum outcome_class)tr->cls);
    switch (tr->cause) {
    case CAUSE_FLEET:
        snprintf(buf, len, "%u host%s of the fleet %s it open", tr->count,
                 tr->count == 1 ? "" : "s", tr->count == 1 ? "has" : "have");
        break;
    case CAUSE_FAILURES:
        snprintf(buf, len, "%u consecutive failures (%s)", tr->count, cls);
        break;
    case CAUSE_TIMEOUT_ELAPSED:
        snprintf(buf, len, "reset timeout elapsed, probing");
        break;
    case CAUSE_PROBE_FAILED:
        snprintf(buf, len, "probe failed (%s)", cls);
        break;
    case CAUSE_PROBES_OK:
        snprintf(buf, len, "%u probe%s succeeded", tr->count, tr->count == 1 ? "" : "s");
        break;
    case CAUSE_PROBE_LOST:
        snprintf(buf, len, "%u probe%s never reported back, probing again", tr->count,
                 tr->count == 1 ? "" : "s");
        break;
    case CAUSE_FAILURE_RATE:
        snprintf(buf, len, "failure rate %u%% in the window (%s)", tr->count, cls);
        break;
    case CAUSE_SLOW_RATE:
        snprintf(buf, len, "slow-call rate %u%% in the window", tr->count);
        break;
    case CAUSE_HALF_OPEN_WAIT:
        snprintf(buf, len, "probes undecided for half_open_max_wait");
        break;
    case CAUSE_FALLBACK:
        snprintf(buf, len, "calls go to fallback address %u", tr->count);
        break;
    default:
        snprintf(buf, len, "changed by operator");
        break;
    }
}

bool breaker_count_fallback(struct breaker_slot *s, uint32_t address, struct breaker_transition *tr)
{
    uint64_t rejected = atomic_load_explicit(&s->rejected, memory_order_relaxed);
    while (rejected != 0 && /* a reset in between zeroed it: nothing to move */
           !atomic_compare_exchange_weak_explicit(&s->rejected, &rejected, rejected - 1,
                                                  memory_order_relaxed, memory_order_relaxed))
        ;
    count(&s->fallbacks);
    struct breaker_view v = breaker_view(s);
    uint64_t mark = 0x100u | v.epoch;
    uint64_t seen = atomic_load_explicit(&s->fallback_episode, memory_order_relaxed);
    if (seen == mark ||
        !atomic_compare_exchange_strong_explicit(&s->fallback_episode, &seen, mark,
                                                 memory_order_relaxed, memory_order_relaxed))
        return false;
    note_transition(tr, v.state, v.state, CAUSE_FALLBACK, OUTCOME_SUCCESS, address);
    return true;
}

bool breaker_fleet_open(struct breaker_slot *s, uint64_t until_ms, uint32_t hosts,
                        struct breaker_transition *tr)
{
    uint64_t seen = atomic_load_explicit(&s->word, memory_order_acquire);
    until_ms &= TIME_MASK;
    if (until_ms == 0)
        return false;
    for (;;) {
        struct breaker_view v = unpack(seen), next = v;
        if (v.state == BREAKER_FLEET_OPEN) {
            if (v.time_ms >= until_ms)
                return false;
            next.time_ms = until_ms; /* same episode, later end: no transition */
            if (swap_word(s, &seen, &next))
                return false;
            continue;
        }
        if (v.state != BREAKER_CLOSED)
            return false; /* the local view wins: open, probing, forced or disabled */
        next = (struct breaker_view){BREAKER_FLEET_OPEN, (uint8_t)(v.epoch + 1), 0, 0, until_ms};
        if (swap_word(s, &seen, &next)) {
            note_transition(tr, BREAKER_CLOSED, BREAKER_FLEET_OPEN, CAUSE_FLEET, OUTCOME_SUCCESS,
                            hosts);
            return true;
        }
    }
}
