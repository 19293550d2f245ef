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
    breaker_record(s, c, t, outcome, now, 0, tr ? tr : &unused);
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
    CHECK(breaker_record(&s, &policy, probe, CLASS_RESET, 1000, 0, &tr));
    CHECK_INT(tr.from, BREAKER_HALF_OPEN);
    CHECK_INT(tr.to, BREAKER_OPEN);
    CHECK_INT(tr.cause, CAUSE_PROBE_FAILED);
    CHECK_INT(s.trips, 1); /* re-opening from half-open is not a trip */
    CHECK_INT(breaker_view(&s).time_ms, 2000);

    probe = decide(&s, &policy, 2000, NULL);
    CHECK(!breaker_record(&s, &policy, probe, OUTCOME_SUCCESS, 2000, 0, &tr));
    CHECK_INT(state_of(&s), BREAKER_HALF_OPEN);
    CHECK_INT(breaker_view(&s).probe_successes, 1);
    probe = decide(&s, &policy, 2001, NULL);
    CHECK_INT(probe.verdict, VERDICT_PROBE);
    CHECK(breaker_record(&s, &policy, probe, OUTCOME_SUCCESS, 2001, 0, &tr));
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
    CHECK(!breaker_record(&s, &policy, probe, OUTCOME_IGNORED, 1000, 0, &tr));
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
    CHECK(!breaker_record(&s, &policy, lost, CLASS_REFUSED, 2001, 0, &tr));
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
    CHECK(!breaker_record(&s, &policy, early, CLASS_REFUSED, 1000, 0, &tr));
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

/* resilience4j's scenarios, with the clock in our hands. */
static const struct breaker_config rated = {
    .fail_max = 0,
    .reset_timeout_ms = 5000,
    .success_threshold = 1,
    .half_open_max_calls = 1,
    .failure_mask = DEFAULT_FAILURE_MASK,
    .window_ms = 10000,
    .min_calls = 20,
    .failure_rate = 50,
};

static void a_rate_trips_only_after_min_calls(void)
{
    struct breaker_slot s = {0};
    struct breaker_transition tr = {0};
    for (int i = 0; i < 19; i++) /* 19 failures: 100 %, but too few calls */
        CHECK(call(&s, &rated, 1000 + (uint64_t)i, CLASS_REFUSED, &tr));
    CHECK_INT(state_of(&s), BREAKER_CLOSED);
    CHECK_INT(breaker_window(&s, &rated, 1100).calls, 19);
    CHECK(call(&s, &rated, 1100, CLASS_REFUSED, &tr));
    CHECK_INT(state_of(&s), BREAKER_OPEN);
    CHECK_INT(tr.cause, CAUSE_FAILURE_RATE);
    CHECK_INT(tr.count, 100);
    CHECK_INT(s.trips, 1);
}

static void a_rate_below_threshold_stays_closed_and_old_calls_leave(void)
{
    struct breaker_slot s = {0};
    struct breaker_transition tr = {0};
    for (int i = 0; i < 20; i++) /* 9 failures in 20 calls: 45 % */
        CHECK(call(&s, &rated, 1000 + (uint64_t)i * 100, i < 9 ? CLASS_TIMEOUT : OUTCOME_SUCCESS,
                   &tr));
    CHECK_INT(state_of(&s), BREAKER_CLOSED);
    struct breaker_window w = breaker_window(&s, &rated, 3000);
    CHECK_INT(w.calls, 20);
    CHECK_INT(w.failures, 9);
    CHECK(call(&s, &rated, 3000, CLASS_TIMEOUT, &tr)); /* 10 of 21: 47 % */
    CHECK_INT(state_of(&s), BREAKER_CLOSED);
    CHECK(call(&s, &rated, 3001, CLASS_TIMEOUT, &tr)); /* 11 of 22: 50 % */
    CHECK_INT(state_of(&s), BREAKER_OPEN);
    CHECK_INT(tr.cause, CAUSE_FAILURE_RATE);
    CHECK_INT(tr.cls, CLASS_TIMEOUT);

    struct breaker_slot later = {0};
    for (int i = 0; i < 15; i++) /* 15 failures, then the window moves on */
        CHECK(call(&later, &rated, 1000, CLASS_REFUSED, NULL));
    CHECK_INT(breaker_window(&later, &rated, 10999).calls, 15);
    CHECK_INT(breaker_window(&later, &rated, 12000).calls, 0);
    for (int i = 0; i < 20; i++)
        CHECK(call(&later, &rated, 12000, OUTCOME_SUCCESS, NULL));
    CHECK_INT(state_of(&later), BREAKER_CLOSED);
}

static void a_call_dated_before_its_bucket_leaves_the_window_alone(void)
{
    struct breaker_slot s = {0};
    for (int i = 0; i < 6; i++)
        CHECK(call(&s, &rated, 100000, CLASS_REFUSED, NULL));
    /* a success dated 9.5 s back maps to the same bucket index: it must not
     * take the newer bucket over */
    CHECK(call(&s, &rated, 90500, OUTCOME_SUCCESS, NULL));
    struct breaker_window w = breaker_window(&s, &rated, 100000);
    CHECK_INT(w.calls, 6);
    CHECK_INT(w.failures, 6);
}

static void slow_calls_trip_without_failures(void)
{
    const struct breaker_config slow = {
        .reset_timeout_ms = 5000,
        .success_threshold = 1,
        .half_open_max_calls = 1,
        .failure_mask = DEFAULT_FAILURE_MASK,
        .window_ms = 10000,
        .min_calls = 5,
        .slow_rate = 60,
        .slow_call_ms = 2000,
    };
    struct breaker_slot s = {0};
    struct breaker_transition tr = {0};
    const enum outcome_class calls[] = {CLASS_SLOW, OUTCOME_SUCCESS, CLASS_SLOW, OUTCOME_SUCCESS};
    for (size_t i = 0; i < 4; i++)
        CHECK(call(&s, &slow, 100 + i, calls[i], &tr));
    CHECK_INT(state_of(&s), BREAKER_CLOSED);
    CHECK(call(&s, &slow, 200, CLASS_SLOW, &tr)); /* 3 slow of 5 */
    CHECK_INT(state_of(&s), BREAKER_OPEN);
    CHECK_INT(tr.cause, CAUSE_SLOW_RATE);
    CHECK_INT(tr.count, 60);
    CHECK_INT(s.failures, 0);
    CHECK_INT(s.successes, 5);
}

static uint64_t open_for(struct breaker_slot *s, uint64_t now)
{
    return breaker_view(s).time_ms - now;
}

static void backoff_doubles_until_a_full_close(void)
{
    struct breaker_config c = rated;
    c.fail_max = 1;
    c.window_ms = 0;
    c.backoff_multiplier = 2;
    c.backoff_max_ms = 600000;
    struct breaker_slot s = {0};
    uint64_t now = 1000;
    CHECK(call(&s, &c, now, CLASS_REFUSED, NULL));
    CHECK_INT(open_for(&s, now), 5000);
    now += 5000; /* the probe fails: 10 s */
    CHECK(call(&s, &c, now, CLASS_REFUSED, NULL));
    CHECK_INT(open_for(&s, now), 10000);
    now += 10000; /* and again: 20 s */
    CHECK(call(&s, &c, now, CLASS_REFUSED, NULL));
    CHECK_INT(open_for(&s, now), 20000);
    now += 20000; /* the probe succeeds: closed, and the next trip is 5 s again */
    CHECK(call(&s, &c, now, OUTCOME_SUCCESS, NULL));
    CHECK_INT(state_of(&s), BREAKER_CLOSED);
    CHECK_INT(s.open_streak, 0);
    CHECK(call(&s, &c, now, CLASS_REFUSED, NULL));
    CHECK_INT(open_for(&s, now), 5000);

    c.backoff_max_ms = 12000; /* capped */
    CHECK_INT(breaker_open_ms(&c, 0, 1, 0), 5000);
    CHECK_INT(breaker_open_ms(&c, 1, 1, 0), 10000);
    CHECK_INT(breaker_open_ms(&c, 2, 1, 0), 12000);
    CHECK_INT(breaker_open_ms(&c, 4000000000u, 1, 0), 12000);
}

static void jitter_spreads_open_times_within_bounds(void)
{
    struct breaker_config c = rated;
    c.backoff_multiplier = 2;
    c.backoff_max_ms = 600000;
    c.backoff_jitter_permille = 200;
    uint64_t low = UINT64_MAX, high = 0;
    for (uint64_t seed = 0; seed < 1000; seed++) {
        uint64_t ms = breaker_open_ms(&c, 1, seed, 0);
        low = ms < low ? ms : low;
        high = ms > high ? ms : high;
    }
    CHECK(low >= 8000 && low < 8200);     /* 10 s - 20 % */
    CHECK(high <= 12000 && high > 11800); /* 10 s + 20 % */
}

static void retry_after_keeps_an_opening_open_up_to_the_cap(void)
{
    struct breaker_config c = rated;
    c.fail_max = 1;
    c.window_ms = 0;
    c.reset_timeout_ms = 1000;
    c.backoff_max_ms = 600000;
    c.honor_retry_after = true;
    c.failure_mask |= CLASS_BIT(CLASS_HTTP_429);
    struct breaker_slot s = {0};
    struct breaker_transition tr;
    struct breaker_ticket t = decide(&s, &c, 100, NULL);
    CHECK(breaker_record(&s, &c, t, CLASS_HTTP_429, 100, 7000, &tr));
    CHECK_INT(open_for(&s, 100), 7000);
    CHECK_INT(breaker_open_ms(&c, 0, 1, 900000000), 600000); /* capped by backoff.max */
    c.honor_retry_after = false;
    CHECK_INT(breaker_open_ms(&c, 0, 1, 7000), 1000);
    c.honor_retry_after = true;
    CHECK_INT(breaker_open_ms(&c, 0, 1, 500), 1000); /* never shorter than the policy */
}

static void half_open_max_wait_reopens_undecided_probes(void)
{
    struct breaker_config c = rated;
    c.fail_max = 1;
    c.window_ms = 0;
    c.reset_timeout_ms = 1000;
    c.half_open_max_calls = 2;
    c.half_open_max_wait_ms = 300;
    struct breaker_slot s = {0};
    struct breaker_transition tr;
    bool moved;
    CHECK(call(&s, &c, 0, CLASS_REFUSED, NULL));
    struct breaker_ticket probe = decide(&s, &c, 1000, NULL);
    CHECK_INT(probe.verdict, VERDICT_PROBE);
    CHECK_INT(decide(&s, &c, 1299, NULL).verdict, VERDICT_PROBE);
    CHECK_INT(breaker_decide(&s, &c, 1300, &tr, &moved).verdict, VERDICT_REJECT);
    CHECK(moved);
    CHECK_INT(tr.cause, CAUSE_HALF_OPEN_WAIT);
    CHECK_INT(state_of(&s), BREAKER_OPEN);
    CHECK_INT(open_for(&s, 1300), 1000);
    CHECK(!breaker_record(&s, &c, probe, OUTCOME_SUCCESS, 1400, 0, &tr)); /* too late */
    CHECK_INT(state_of(&s), BREAKER_OPEN);

    /* a process killed between entering half-open and dating it: the lost-probe
     * rule (reset_timeout after the last grant) still ends the episode */
    CHECK_INT(decide(&s, &c, 2300, NULL).verdict, VERDICT_PROBE);
    CHECK_INT(decide(&s, &c, 2301, NULL).verdict, VERDICT_PROBE);
    s.half_open_since = 0;
    CHECK_INT(decide(&s, &c, 2900, NULL).verdict, VERDICT_REJECT); /* not known: no max wait */
    CHECK_INT(breaker_decide(&s, &c, 3301, &tr, &moved).verdict, VERDICT_PROBE);
    CHECK(moved);
    CHECK_INT(tr.cause, CAUSE_PROBE_LOST);

    /* an episode start ahead of now (a file from another boot) is not trusted
     * either: the lost-probe rule frees the place */
    CHECK_INT(decide(&s, &c, 3302, NULL).verdict, VERDICT_PROBE);
    s.half_open_since = (uint64_t)breaker_view(&s).epoch << 56 | 900000;
    CHECK_INT(decide(&s, &c, 3400, NULL).verdict, VERDICT_REJECT);
    CHECK_INT(breaker_decide(&s, &c, 4302, &tr, &moved).verdict, VERDICT_PROBE);
    CHECK_INT(tr.cause, CAUSE_PROBE_LOST);
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
    CHECK(!breaker_record(&s, &policy, t, CLASS_REFUSED, 600, 0, &tr));
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
        if (breaker_record(&shared, &shared_policy, t, o, now, 0, &tr) &&
            tr.from == BREAKER_CLOSED && tr.to == BREAKER_OPEN)
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

static struct breaker_slot windowed;
static const struct breaker_config window_only = {
    .reset_timeout_ms = 1000,
    .success_threshold = 1,
    .half_open_max_calls = 1,
    .failure_mask = DEFAULT_FAILURE_MASK,
    .window_ms = 10000,
    .min_calls = 1,
    .failure_rate = 50,
};
#define WINDOW_CALLS 5000 /* per thread: 40 000 in one bucket, below its 65 535 */

static void *fill_window(void *arg)
{
    (void)arg;
    for (int i = 0; i < WINDOW_CALLS; i++) /* every 4th a failure: 25 %, below the rate */
        call(&windowed, &window_only, 5000, i % 4 == 3 ? CLASS_RESET : OUTCOME_SUCCESS, NULL);
    return NULL;
}

static void threads_fill_the_window_exactly(void)
{
    pthread_t threads[THREADS];
    for (uintptr_t i = 0; i < THREADS; i++)
        pthread_create(&threads[i], NULL, fill_window, NULL);
    for (int i = 0; i < THREADS; i++)
        pthread_join(threads[i], NULL);
    struct breaker_window w = breaker_window(&windowed, &window_only, 5000);
    CHECK_INT(w.calls, THREADS * WINDOW_CALLS);
    CHECK_INT(w.failures, THREADS * WINDOW_CALLS / 4);
    CHECK_INT(state_of(&windowed), BREAKER_CLOSED);
}

static void a_fallback_moves_the_rejection_and_is_announced_once_per_episode(void)
{
    struct breaker_slot s = {0};
    struct breaker_transition tr = {0};
    for (uint64_t now = 10; now < 13; now++)
        call(&s, &policy, now, CLASS_REFUSED, NULL);
    CHECK_INT(state_of(&s), BREAKER_OPEN);
    CHECK_INT(decide(&s, &policy, 20, NULL).verdict, VERDICT_REJECT);
    CHECK(breaker_count_fallback(&s, 2, &tr));
    CHECK_INT(tr.from, BREAKER_OPEN);
    CHECK_INT(tr.to, BREAKER_OPEN);
    CHECK_INT(tr.cause, CAUSE_FALLBACK);
    CHECK_INT(tr.count, 2);
    CHECK_INT(s.rejected, 0);
    CHECK_INT(s.fallbacks, 1);
    for (int i = 0; i < 3; i++) {
        CHECK_INT(decide(&s, &policy, 30, NULL).verdict, VERDICT_REJECT);
        CHECK(!breaker_count_fallback(&s, 1, &tr));
    }
    CHECK_INT(s.rejected, 0);
    CHECK_INT(s.fallbacks, 4);
    CHECK(!breaker_count_fallback(&s, 1, &tr)); /* a reset zeroed rejected meanwhile */
    CHECK_INT(s.rejected, 0);
    CHECK_INT(s.fallbacks, 5);
    CHECK_INT(decide(&s, &policy, 30, NULL).verdict, VERDICT_REJECT); /* no fallback reached */
    CHECK_INT(s.rejected, 1);
    char why[96];
    breaker_describe(&tr, why, sizeof why);
    CHECK_STR(why, "calls go to fallback address 2");
    /* The probe fails: a new open episode announces its first fallback again. */
    CHECK(call(&s, &policy, 12 + 1000, CLASS_REFUSED, NULL));
    CHECK_INT(state_of(&s), BREAKER_OPEN);
    CHECK_INT(decide(&s, &policy, 1100, NULL).verdict, VERDICT_REJECT);
    CHECK(breaker_count_fallback(&s, 1, &tr));
    struct breaker_transition reset;
    breaker_reset(&s, &reset);
    CHECK_INT(s.fallbacks, 0);
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
    RUN(a_rate_trips_only_after_min_calls);
    RUN(a_rate_below_threshold_stays_closed_and_old_calls_leave);
    RUN(slow_calls_trip_without_failures);
    RUN(a_call_dated_before_its_bucket_leaves_the_window_alone);
    RUN(backoff_doubles_until_a_full_close);
    RUN(jitter_spreads_open_times_within_bounds);
    RUN(retry_after_keeps_an_opening_open_up_to_the_cap);
    RUN(half_open_max_wait_reopens_undecided_probes);
    RUN(fleet_open_only_from_closed_then_probes_on_its_own);
    RUN(threads_count_every_call_once);
    RUN(threads_fill_the_window_exactly);
    RUN(a_fallback_moves_the_rejection_and_is_announced_once_per_episode);
    return unit_done();
}
