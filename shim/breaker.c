/* The state word packs everything a transition must change at once:
 *
 *   bits  0..2   state (enum breaker_state)
 *   bits  3..10  epoch: bumped by every transition, so a probe's report is
 *                applied only to the half-open episode that granted it
 *   bits 11..16  probes in flight (half-open)
 *   bits 17..23  probe successes so far (half-open)
 *   bits 24..63  time in ms: retry-at (open, forced open; 0 = never) or
 *                when the last probe was granted (half-open)
 */
#include "breaker.h"

#include <stdio.h>

#define STATE_BITS 3
#define EPOCH_SHIFT 3
#define INFLIGHT_SHIFT 11
#define OK_SHIFT 17
#define TIME_SHIFT 24
#define TIME_MASK ((UINT64_C(1) << 40) - 1)

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

/* An open breaker whose retry time lies further ahead than this policy could
 * have set (a file from another boot, a clock that went back) is due now. */
static bool open_time_is_over(const struct breaker_view *v, const struct breaker_config *c,
                              uint64_t now_ms)
{
    if (v->state == BREAKER_FORCED_OPEN || v->state == BREAKER_FLEET_OPEN)
        return v->time_ms != 0 && now_ms >= v->time_ms;
    return now_ms >= v->time_ms || v->time_ms - now_ms > c->reset_timeout_ms;
}

/* True when the last probe of a half-open episode was granted reset_timeout
 * ago or more (its process may have died), or implausibly far ahead. */
static bool probes_presumed_lost(const struct breaker_view *v, const struct breaker_config *c,
                                 uint64_t now_ms)
{
    if (v->time_ms > now_ms)
        return v->time_ms - now_ms > c->reset_timeout_ms;
    return now_ms - v->time_ms >= c->reset_timeout_ms;
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

struct breaker_ticket breaker_decide(struct breaker_slot *s, const struct breaker_config *c,
                                     uint64_t now_ms, struct breaker_transition *tr,
                                     bool *transitioned)
{
    uint64_t seen = atomic_load_explicit(&s->word, memory_order_acquire);
    *transitioned = false;
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
            next = (struct breaker_view){BREAKER_HALF_OPEN, (uint8_t)(v.epoch + 1), 1, 0, now_ms};
            if (swap_word(s, &seen, &next)) {
                note_transition(tr, v.state, BREAKER_HALF_OPEN, CAUSE_TIMEOUT_ELAPSED,
                                OUTCOME_SUCCESS, 0);
                *transitioned = true;
                return ticket(VERDICT_PROBE, next.epoch);
            }
            break;
        case BREAKER_HALF_OPEN:
            if (v.probes_in_flight < c->half_open_max_calls) {
                next.probes_in_flight++;
                next.time_ms = now_ms;
                if (swap_word(s, &seen, &next))
                    return ticket(VERDICT_PROBE, next.epoch);
            } else if (probes_presumed_lost(&v, c, now_ms)) {
                next =
                    (struct breaker_view){BREAKER_HALF_OPEN, (uint8_t)(v.epoch + 1), 1, 0, now_ms};
                if (swap_word(s, &seen, &next)) {
                    note_transition(tr, BREAKER_HALF_OPEN, BREAKER_HALF_OPEN, CAUSE_PROBE_LOST,
                                    OUTCOME_SUCCESS, v.probes_in_flight);
                    *transitioned = true;
                    return ticket(VERDICT_PROBE, next.epoch);
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

bool breaker_rejects_now(struct breaker_slot *s, const struct breaker_config *c, uint64_t now_ms)
{
    struct breaker_view v = breaker_view(s);
    bool rejects = (breaker_state_rejects(v.state) && !open_time_is_over(&v, c, now_ms)) ||
                   (v.state == BREAKER_HALF_OPEN && v.probes_in_flight >= c->half_open_max_calls &&
                    !probes_presumed_lost(&v, c, now_ms));
    if (rejects)
        count(&s->rejected);
    return rejects;
}

static bool record_closed_failure(struct breaker_slot *s, const struct breaker_config *c,
                                  enum outcome_class cls, uint64_t now_ms,
                                  struct breaker_transition *tr)
{
    uint32_t n = atomic_fetch_add_explicit(&s->consecutive_failures, 1, memory_order_relaxed) + 1;
    if (n < c->fail_max)
        return false;
    uint64_t seen = atomic_load_explicit(&s->word, memory_order_acquire);
    for (;;) {
        struct breaker_view v = unpack(seen);
        if (v.state != BREAKER_CLOSED)
            return false;
        struct breaker_view next = {BREAKER_OPEN, (uint8_t)(v.epoch + 1), 0, 0,
                                    now_ms + c->reset_timeout_ms};
        if (swap_word(s, &seen, &next)) {
            count(&s->trips);
            note_transition(tr, BREAKER_CLOSED, BREAKER_OPEN, CAUSE_FAILURES, cls, n);
            return true;
        }
    }
}

static bool record_probe(struct breaker_slot *s, const struct breaker_config *c,
                         struct breaker_ticket t, enum outcome_class cls, bool failure,
                         uint64_t now_ms, struct breaker_transition *tr)
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
            next = (struct breaker_view){BREAKER_OPEN, (uint8_t)(v.epoch + 1), 0, 0,
                                         now_ms + c->reset_timeout_ms};
            if (swap_word(s, &seen, &next)) {
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
            atomic_store_explicit(&s->consecutive_failures, 0, memory_order_relaxed);
            note_transition(tr, BREAKER_HALF_OPEN, BREAKER_CLOSED, CAUSE_PROBES_OK, OUTCOME_SUCCESS,
                            v.probe_successes + 1u);
            return true;
        }
    }
}

bool breaker_record(struct breaker_slot *s, const struct breaker_config *c, struct breaker_ticket t,
                    enum outcome_class outcome, uint64_t now_ms, struct breaker_transition *tr)
{
    if (t.verdict != VERDICT_ALLOW && t.verdict != VERDICT_PROBE)
        return false;
    bool failure = outcome != OUTCOME_SUCCESS && outcome < CLASS_COUNT &&
                   (c->failure_mask & CLASS_BIT(outcome));
    if (outcome != OUTCOME_IGNORED)
        count(failure ? &s->failures : &s->successes);
    if (t.verdict == VERDICT_PROBE)
        return record_probe(s, c, t, outcome, failure, now_ms, tr);
    if (outcome == OUTCOME_IGNORED)
        return false;
    if (failure)
        return record_closed_failure(s, c, outcome, now_ms, tr);
    if (atomic_load_explicit(&s->consecutive_failures, memory_order_relaxed) != 0)
        atomic_store_explicit(&s->consecutive_failures, 0, memory_order_relaxed);
    return false;
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
        atomic_store_explicit(&s->consecutive_failures, 0, memory_order_relaxed);
    note_transition(tr, v.state, st, CAUSE_OPERATOR, OUTCOME_SUCCESS, 0);
}

void breaker_reset(struct breaker_slot *s, struct breaker_transition *tr)
{
    breaker_force(s, BREAKER_CLOSED, 0, tr);
    _Atomic uint64_t *counters[] = {&s->successes, &s->failures, &s->rejected, &s->trips,
                                    &s->opened_at_wall};
    for (size_t i = 0; i < sizeof counters / sizeof counters[0]; i++)
        atomic_store_explicit(counters[i], 0, memory_order_relaxed);
}

int64_t breaker_retry_in_ms(const struct breaker_view *v, uint64_t now_ms)
{
    if (!breaker_state_rejects(v->state) || (v->state != BREAKER_OPEN && v->time_ms == 0))
        return -1;
    return v->time_ms > now_ms ? (int64_t)(v->time_ms - now_ms) : 0;
}

bool breaker_state_rejects(enum breaker_state st)
{
    return st == BREAKER_OPEN || st == BREAKER_FORCED_OPEN || st == BREAKER_FLEET_OPEN;
}

const char *breaker_state_name(enum breaker_state st)
{
    static const char *const names[] = {"closed",      "open",     "half_open",
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
        return;
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
    default:
        snprintf(buf, len, "changed by operator");
        break;
    }
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
