/* Unit tests of the breaker state machine (breaker.c), with a clock passed
 * in, and of its atomicity under threads. */
#include <pthread.h>
#include <string.h>

#include "breaker.h"
#include "unit.h"

static const struct breaker_config policy = {
    .fail_max = 3,
    .reset_timeout_ms = 1000,
    .success_threshold = 2,
    .half_open_max_calls = 1,
    .failure_mask = DEFAULT_FAILURE_MASK,
};

static struct breaker_ticket decide(struct breaker_slot *s, const struct breaker_config *c,
                                    uint64_t now, bool *transitioned)
{
    struct breaker_transition tr;
    bool moved;
    struct breaker_ticket t = breaker_decide(s, c, now, &tr, &moved);
    if (transitioned)
        *transitioned = moved;
    return t;
}

static bool call(struct breaker_slot *s, const struct breaker_config *c, uint64_t now,
                 enum outcome_class outcome, struct breaker_transition *tr)
{
    struct breaker_ticket t = decide(s, c, now, NULL);
    if (t.verdict == VERDICT_REJECT)
        return false;
    struct breaker_transition unused;
    breaker_record(s, c, t, outcome, now, tr ? tr : &unused);
    return true;
}

static enum breaker_state state_of(struct breaker_slot *s)
{
    return breaker_view(s).state;
}

static void opens_after_fail_max_consecutive_failures(void)
{
    struct breaker_slot s = {0};
    struct breaker_transition tr = {0};
    CHECK(call(&s, &policy, 10, CLASS_REFUSED, &tr));
    CHECK(call(&s, &policy, 11, CLASS_REFUSED, &tr));
    CHECK_INT(state_of(&s), BREAKER_CLOSED);
    CHECK_INT(s.consecutive_failures, 2);
    CHECK(call(&s, &policy, 12, CLASS_TIMEOUT, &tr));
    CHECK_INT(state_of(&s), BREAKER_OPEN);
    CHECK_INT(tr.from, BREAKER_CLOSED);
    CHECK_INT(tr.to, BREAKER_OPEN);
    CHECK_INT(tr.cause, CAUSE_FAILURES);
    CHECK_INT(tr.cls, CLASS_TIMEOUT);
    CHECK_INT(tr.count, 3);
    CHECK_INT(s.trips, 1);
    CHECK_INT(breaker_view(&s).time_ms, 12 + 1000);
    char why[64];
    breaker_describe(&tr, why, sizeof why);
    CHECK_STR(why, "3 consecutive failures (timeout)");
}

static void a_success_resets_the_consecutive_count(void)
{
    struct breaker_slot s = {0};
    for (int round = 0; round < 5; round++) {
        call(&s, &policy, 1, CLASS_REFUSED, NULL);
        call(&s, &policy, 1, CLASS_REFUSED, NULL);
        call(&s, &policy, 1, OUTCOME_SUCCESS, NULL);
    }
    CHECK_INT(state_of(&s), BREAKER_CLOSED);
    CHECK_INT(s.consecutive_failures, 0);
    CHECK_INT(s.failures, 10);
    CHECK_INT(s.successes, 5);
}

static void classes_outside_the_mask_count_as_success_and_ignored_as_nothing(void)
{
    struct breaker_config only_refused = policy;
    only_refused.failure_mask = CLASS_BIT(CLASS_REFUSED);
    struct breaker_slot s = {0};
    call(&s, &only_refused, 1, CLASS_REFUSED, NULL);
    call(&s, &only_refused, 1, CLASS_REFUSED, NULL);
    call(&s, &only_refused, 1, CLASS_TIMEOUT, NULL);
    CHECK_INT(s.consecutive_failures, 0);
    CHECK_INT(s.successes, 1);
    call(&s, &only_refused, 1, CLASS_REFUSED, NULL);
    call(&s, &only_refused, 1, OUTCOME_IGNORED, NULL);
    call(&s, &only_refused, 1, CLASS_REFUSED, NULL);
    CHECK_INT(s.consecutive_failures, 2);
    CHECK_INT(s.successes + s.failures, 5);
}

static struct breaker_slot tripped(uint64_t at)
{
    struct breaker_slot s = {0};
    for (int i = 0; i < 3; i++)
        call(&s, &policy, at, CLASS_REFUSED, NULL);
    return s;
}

static void open_rejects_until_reset_timeout_then_probes_once(void)
{
    struct breaker_slot s = tripped(100);
    CHECK_INT(decide(&s, &policy, 100, NULL).verdict, VERDICT_REJECT);
    CHECK_INT(decide(&s, &policy, 1099, NULL).verdict, VERDICT_REJECT);
    CHECK_INT(s.rejected, 2);
    bool moved;
    struct breaker_ticket probe = decide(&s, &policy, 1100, &moved);
    CHECK_INT(probe.verdict, VERDICT_PROBE);
    CHECK(moved);
    CHECK_INT(state_of(&s), BREAKER_HALF_OPEN);
    CHECK_INT(decide(&s, &policy, 1101, NULL).verdict, VERDICT_REJECT);
    CHECK_INT(breaker_view(&s).probes_in_flight, 1);
}

static void probe_failure_reopens_and_success_threshold_closes(void)
{
    struct breaker_slot s = tripped(0);
    struct breaker_transition tr;
    struct breaker_ticket probe = decide(&s, &policy, 1000, NULL);
    CHECK(breaker_record(&s, &policy, probe, CLASS_RESET, 1000, &tr));
    CHECK_INT(tr.from, BREAKER_HALF_OPEN);
    CHECK_INT(tr.to, BREAKER_OPEN);
    CHECK_INT(tr.cause, CAUSE_PROBE_FAILED);
    CHECK_INT(s.trips, 1); /* re-opening from half-open is not a trip */
    CHECK_INT(breaker_view(&s).time_ms, 2000);

    probe = decide(&s, &policy, 2000, NULL);
    CHECK(!breaker_record(&s, &policy, probe, OUTCOME_SUCCESS, 2000, &tr));
    CHECK_INT(state_of(&s), BREAKER_HALF_OPEN);
    CHECK_INT(breaker_view(&s).probe_successes, 1);
    probe = decide(&s, &policy, 2001, NULL);
    CHECK_INT(probe.verdict, VERDICT_PROBE);
    CHECK(breaker_record(&s, &policy, probe, OUTCOME_SUCCESS, 2001, &tr));
    CHECK_INT(tr.to, BREAKER_CLOSED);
    CHECK_INT(tr.cause, CAUSE_PROBES_OK);
    CHECK_INT(tr.count, 2);
    CHECK_INT(s.consecutive_failures, 0);
    CHECK_INT(decide(&s, &policy, 2002, NULL).verdict, VERDICT_ALLOW);
}

static void an_ignored_probe_frees_its_place(void)
{
    struct breaker_slot s = tripped(0);
    struct breaker_transition tr;
    struct breaker_ticket probe = decide(&s, &policy, 1000, NULL);
    CHECK(!breaker_record(&s, &policy, probe, OUTCOME_IGNORED, 1000, &tr));
    CHECK_INT(state_of(&s), BREAKER_HALF_OPEN);
    CHECK_INT(breaker_view(&s).probes_in_flight, 0);
    CHECK_INT(decide(&s, &policy, 1001, NULL).verdict, VERDICT_PROBE);
}

static void a_lost_probe_is_replaced_after_reset_timeout(void)
{
    struct breaker_slot s = tripped(0);
    struct breaker_ticket lost = decide(&s, &policy, 1000, NULL);
    CHECK_INT(decide(&s, &policy, 1999, NULL).verdict, VERDICT_REJECT);
    bool moved;
    struct breaker_ticket fresh = decide(&s, &policy, 2000, &moved);
    CHECK_INT(fresh.verdict, VERDICT_PROBE);
    CHECK(moved);
    CHECK(fresh.epoch != lost.epoch);
    /* the lost probe reports at last: its episode is over, it changes nothing */
    struct breaker_transition tr;
    CHECK(!breaker_record(&s, &policy, lost, CLASS_REFUSED, 2001, &tr));
    CHECK_INT(state_of(&s), BREAKER_HALF_OPEN);
    CHECK_INT(breaker_view(&s).probes_in_flight, 1);
}

static void a_late_closed_call_does_not_touch_half_open(void)
{
    struct breaker_slot s = {0};
    struct breaker_ticket early = decide(&s, &policy, 0, NULL);
    for (int i = 0; i < 3; i++)
        call(&s, &policy, 0, CLASS_REFUSED, NULL);
    decide(&s, &policy, 1000, NULL); /* half-open, probe out */
    struct breaker_transition tr;
    CHECK(!breaker_record(&s, &policy, early, CLASS_REFUSED, 1000, &tr));
    CHECK_INT(state_of(&s), BREAKER_HALF_OPEN);
}

static void an_open_time_beyond_the_policy_is_not_trusted(void)
{
    struct breaker_slot s = tripped(50000); /* retry at 51000 */
    CHECK_INT(decide(&s, &policy, 1000, NULL).verdict, VERDICT_PROBE);
}

static void a_lookup_is_rejected_only_while_calls_would_be(void)
{
    struct breaker_slot s = {0};
    CHECK(!breaker_rejects_now(&s, &policy, 0));
    s = tripped(0);
    CHECK(breaker_rejects_now(&s, &policy, 999));
    CHECK_INT(s.rejected, 1);
    CHECK(!breaker_rejects_now(&s, &policy, 1000)); /* due: the next connect probes */
    CHECK_INT(state_of(&s), BREAKER_OPEN);
    decide(&s, &policy, 1000, NULL); /* the probe is out */
    CHECK(breaker_rejects_now(&s, &policy, 1001));
}

static void forced_states(void)
{
    struct breaker_slot s = {0};
    struct breaker_transition tr;
    breaker_force(&s, BREAKER_FORCED_OPEN, 0, &tr);
    CHECK_INT(tr.cause, CAUSE_OPERATOR);
    CHECK_INT(decide(&s, &policy, UINT32_MAX, NULL).verdict, VERDICT_REJECT);
    breaker_force(&s, BREAKER_FORCED_OPEN, 500, &tr);
    CHECK_INT(decide(&s, &policy, 499, NULL).verdict, VERDICT_REJECT);
    CHECK_INT(decide(&s, &policy, 500, NULL).verdict, VERDICT_PROBE);
    breaker_force(&s, BREAKER_DISABLED, 0, &tr);
    struct breaker_ticket t = decide(&s, &policy, 600, NULL);
    CHECK_INT(t.verdict, VERDICT_BYPASS);
    CHECK(!breaker_record(&s, &policy, t, CLASS_REFUSED, 600, &tr));
    CHECK_INT(s.failures, 0);
    breaker_reset(&s, &tr);
    CHECK_INT(state_of(&s), BREAKER_CLOSED);
    CHECK_INT(s.rejected + s.successes + s.failures + s.trips, 0);
    CHECK_STR(breaker_state_name(BREAKER_HALF_OPEN), "half_open");
    CHECK_STR(breaker_state_name(BREAKER_FORCED_OPEN), "forced_open");
}

static void fleet_open_only_from_closed_then_probes_on_its_own(void)
{
    struct breaker_slot s = {0};
    struct breaker_transition tr = {0};
    CHECK(!breaker_fleet_open(&s, 0, 1, &tr)); /* no time: nothing */
    CHECK(breaker_fleet_open(&s, 2000, 2, &tr));
    CHECK_INT(tr.from, BREAKER_CLOSED);
    CHECK_INT(tr.to, BREAKER_FLEET_OPEN);
    CHECK_INT(tr.cause, CAUSE_FLEET);
    CHECK_INT(tr.count, 2);
    char why[96];
    breaker_describe(&tr, why, sizeof why);
    CHECK_STR(why, "2 hosts of the fleet have it open");
    uint8_t epoch = breaker_view(&s).epoch;
    CHECK(!breaker_fleet_open(&s, 1500, 1, &tr)); /* an earlier end changes nothing */
    CHECK_INT(breaker_view(&s).time_ms, 2000);
    CHECK(!breaker_fleet_open(&s, 3000, 1, &tr)); /* a later one extends, same episode */
    CHECK_INT(breaker_view(&s).time_ms, 3000);
    CHECK_INT(breaker_view(&s).epoch, epoch);
    CHECK(breaker_state_rejects(state_of(&s)));
    CHECK_INT(decide(&s, &policy, 2999, NULL).verdict, VERDICT_REJECT);
    struct breaker_view v = breaker_view(&s);
    CHECK_INT(breaker_retry_in_ms(&v, 2500), 500);
    CHECK_STR(breaker_state_name(BREAKER_FLEET_OPEN), "fleet_open");
    bool moved;
    CHECK_INT(decide(&s, &policy, 3000, &moved).verdict, VERDICT_PROBE);
    CHECK(moved);
    CHECK_INT(state_of(&s), BREAKER_HALF_OPEN);
    CHECK(!breaker_fleet_open(&s, 9000, 3, &tr)); /* probing: the local view wins */
    CHECK_INT(state_of(&s), BREAKER_HALF_OPEN);
    const enum breaker_state others[] = {BREAKER_OPEN, BREAKER_FORCED_OPEN, BREAKER_DISABLED};
    for (size_t i = 0; i < sizeof others / sizeof others[0]; i++) {
        struct breaker_slot o = {0};
        breaker_force(&o, others[i], 100, &tr);
        uint64_t word = o.word;
        CHECK(!breaker_fleet_open(&o, 9000, 3, &tr));
        CHECK(o.word == word);
    }
    CHECK_INT(s.trips, 0); /* a fleet opening is not a local trip */
}

/* Threads hammer one breaker with a mix of outcomes and a clock that moves;
 * every call must be counted exactly once, every trip must be announced by
 * exactly one thread, and the probes of one half-open episode (one epoch)
 * never exceed the bound. (Across episodes they may: a probe that outlives
 * reset_timeout is presumed lost and replaced.) */
#define THREADS 8
#define CALLS 20000

static struct breaker_slot shared;
/* reset_timeout spans hundreds of calls, so the 8-bit epoch cannot wrap round
 * while one probe is in flight. */
static const struct breaker_config shared_policy = {
    .fail_max = 4,
    .reset_timeout_ms = 50,
    .success_threshold = 2,
    .half_open_max_calls = 3,
    .failure_mask = DEFAULT_FAILURE_MASK,
};
static _Atomic uint64_t clock_ms = 1, announced_trips, made, max_probes_seen;
static _Atomic int probes_now[256]; /* by epoch */

static void *hammer(void *arg)
{
    unsigned seed = (unsigned)(uintptr_t)arg;
    for (int i = 0; i < CALLS; i++) {
        seed = seed * 1103515245u + 12345u;
        uint64_t now = atomic_fetch_add(&clock_ms, (seed >> 16) % 7 == 0) + 1;
        struct breaker_transition tr;
        bool moved;
        struct breaker_ticket t = breaker_decide(&shared, &shared_policy, now, &tr, &moved);
        atomic_fetch_add(&made, 1);
        if (t.verdict == VERDICT_REJECT)
            continue;
        if (t.verdict == VERDICT_PROBE) {
            int n = atomic_fetch_add(&probes_now[t.epoch], 1) + 1;
            uint64_t seen = atomic_load(&max_probes_seen);
            while ((uint64_t)n > seen && !atomic_compare_exchange_weak(&max_probes_seen, &seen, n))
                ;
        }
        enum outcome_class o = (seed >> 8) % 3 ? CLASS_REFUSED : OUTCOME_SUCCESS;
        if (t.verdict == VERDICT_PROBE)
            atomic_fetch_sub(&probes_now[t.epoch], 1);
        if (breaker_record(&shared, &shared_policy, t, o, now, &tr) && tr.from == BREAKER_CLOSED &&
            tr.to == BREAKER_OPEN)
            atomic_fetch_add(&announced_trips, 1);
    }
    return NULL;
}

static void threads_count_every_call_once(void)
{
    pthread_t threads[THREADS];
    for (uintptr_t i = 0; i < THREADS; i++)
        pthread_create(&threads[i], NULL, hammer, (void *)(i + 1));
    for (int i = 0; i < THREADS; i++)
        pthread_join(threads[i], NULL);
    CHECK_INT(made, THREADS * CALLS);
    CHECK_INT(shared.successes + shared.failures + shared.rejected, THREADS * CALLS);
    CHECK_INT(shared.trips, announced_trips);
    CHECK(shared.trips > 0);
    CHECK(max_probes_seen > 0);
    CHECK(max_probes_seen <= shared_policy.half_open_max_calls);
}

int main(void)
{
    RUN(opens_after_fail_max_consecutive_failures);
    RUN(a_success_resets_the_consecutive_count);
    RUN(classes_outside_the_mask_count_as_success_and_ignored_as_nothing);
    RUN(open_rejects_until_reset_timeout_then_probes_once);
    RUN(probe_failure_reopens_and_success_threshold_closes);
    RUN(an_ignored_probe_frees_its_place);
    RUN(a_lost_probe_is_replaced_after_reset_timeout);
    RUN(a_late_closed_call_does_not_touch_half_open);
    RUN(an_open_time_beyond_the_policy_is_not_trusted);
    RUN(a_lookup_is_rejected_only_while_calls_would_be);
    RUN(forced_states);
    RUN(fleet_open_only_from_closed_then_probes_on_its_own);
    RUN(threads_count_every_call_once);
    return unit_done();
}
