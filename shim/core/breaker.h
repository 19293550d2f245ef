/* breaker.h — the circuit-breaker state machine on one shared slot.
 *
 * Owns the meaning of a slot's state word and counters: closed → open after
 * fail_max consecutive failures, open → half-open once reset_timeout has
 * passed, half-open → closed after success_threshold probe successes, any
 * probe failure → open again. Every change is one compare-and-swap on a packed
 * 64-bit word, so processes that race agree on each transition and a process
 * killed at any instruction leaves nothing locked. The clock is passed in
 * (milliseconds of CLOCK_MONOTONIC); this module does no I/O. */
#ifndef FUSEBOX_BREAKER_H
#define FUSEBOX_BREAKER_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "outcome.h"

/* Policy of one breaker, as compiled from the rules file. */
struct breaker_config {
    uint32_t fail_max;            /* consecutive failures that open: 1..10000 */
    uint32_t reset_timeout_ms;    /* open time before a probe: 1..86400000 */
    uint32_t success_threshold;   /* probe successes that close: 1..BREAKER_MAX_THRESHOLD */
    uint32_t half_open_max_calls; /* probes in flight at once: 1..BREAKER_MAX_PROBES */
    uint32_t failure_mask;        /* CLASS_BIT(c) set: class c counts as a failure */
    bool fail_dns;                /* name lookups fail too while open (resolver hooks) */
    /* Rate window (failure_rate, slow_call.rate): 0 = none. */
    uint32_t window_ms;    /* length of the window: 1..BREAKER_MAX_WINDOW_MS */
    uint32_t min_calls;    /* calls in the window before a rate may open: 1..BREAKER_MAX_FAIL_MAX */
    uint8_t failure_rate;  /* percent of failures in the window that opens; 0 = off */
    uint8_t slow_rate;     /* percent of slow calls in the window that opens; 0 = off */
    uint32_t slow_call_ms; /* a call that took longer is class slow; 0 = off */
    /* Backoff: the open time of the n-th trip since the last full close is
     * reset_timeout × multiplier^(n-1), at most backoff_max_ms, ± jitter. */
    double backoff_multiplier;        /* 1 = no backoff */
    uint32_t backoff_max_ms;          /* cap of an open time, Retry-After included */
    uint16_t backoff_jitter_permille; /* ± this much of the open time, 0..1000 */
    bool honor_retry_after;           /* an opening stays open for a Retry-After given */
    uint32_t half_open_max_wait_ms;   /* probes undecided this long: open again; 0 = never */
};

#define BREAKER_MAX_FAIL_MAX 10000u
#define BREAKER_MAX_RESET_MS 86400000u
#define BREAKER_MAX_PROBES 63u
#define BREAKER_MAX_THRESHOLD 127u
#define BREAKER_MAX_WINDOW_MS 3600000u
#define BREAKER_WINDOW_BUCKETS 10u
#define BREAKER_MAX_FLEET_MS (10ull * BREAKER_MAX_RESET_MS) /* longer: from another boot */

enum breaker_state {
    BREAKER_CLOSED = 0,
    BREAKER_OPEN = 1,
    BREAKER_HALF_OPEN = 2,
    BREAKER_FORCED_OPEN = 3,
    BREAKER_DISABLED = 4,
    BREAKER_FLEET_OPEN = 5, /* open because other hosts of the fleet have it open */
    BREAKER_STATE_COUNT
};

/* The dynamic state of one breaker, shared by every process (it lives in the
 * state file; see state.h for where). All zero is a valid closed breaker. */
struct breaker_slot {
    _Atomic uint64_t word;                 /* packed: see breaker.c */
    _Atomic uint32_t consecutive_failures; /* in the closed state */
    _Atomic uint32_t fail_max;             /* last policy seen, for display */
    _Atomic uint64_t successes;
    _Atomic uint64_t failures;
    _Atomic uint64_t rejected;
    _Atomic uint64_t trips;            /* closed → open transitions */
    _Atomic uint64_t opened_at_wall;   /* CLOCK_REALTIME ms of the last opening */
    _Atomic uint64_t changed_at_wall;  /* CLOCK_REALTIME ms of the last transition */
    _Atomic uint64_t fallbacks;        /* calls sent to a fallback destination while open */
    _Atomic uint32_t open_streak;      /* openings since the last full close (backoff) */
    _Atomic uint32_t fleet_hosts_open; /* hosts of the fleet that have it open (fleet agent) */
    _Atomic uint64_t window[BREAKER_WINDOW_BUCKETS]; /* rate window buckets: see breaker.c */
    _Atomic uint64_t half_open_since;                /* epoch and start of the half-open episode */
    _Atomic uint64_t last_call_ms;     /* CLOCK_MONOTONIC ms of a recent call, to the second */
    _Atomic uint32_t hosts;            /* per-host rule: breakers of its hosts in use */
    _Atomic uint64_t fallback_episode; /* 0x100 | epoch of the last episode whose first
                                          fallback was announced; 0: none yet */
};

enum breaker_verdict {
    VERDICT_ALLOW,  /* closed: go ahead, report the outcome */
    VERDICT_PROBE,  /* half-open: go ahead as a probe, report the outcome */
    VERDICT_REJECT, /* open: fail the call without trying */
    VERDICT_BYPASS, /* disabled: go ahead, report nothing */
};

/* What breaker_decide hands out and breaker_record takes back. */
struct breaker_ticket {
    uint8_t verdict; /* enum breaker_verdict */
    uint8_t epoch;   /* episode of the state word when decided */
};

/* Why a transition happened, for the event ring. */
enum transition_cause {
    CAUSE_FAILURES,        /* fail_max consecutive failures (count, class) */
    CAUSE_TIMEOUT_ELAPSED, /* reset_timeout passed: first probe */
    CAUSE_PROBE_FAILED,    /* a probe failed (class) */
    CAUSE_PROBES_OK,       /* success_threshold probes succeeded (count) */
    CAUSE_PROBE_LOST,      /* probes never reported back: new probe episode */
    CAUSE_OPERATOR,        /* changed by the fusebox command */
    CAUSE_FAILURE_RATE,    /* failure percentage of the window (count = percent, class) */
    CAUSE_SLOW_RATE,       /* slow-call percentage of the window (count = percent) */
    CAUSE_HALF_OPEN_WAIT,  /* probes undecided for half_open_max_wait */
    CAUSE_FLEET,           /* other hosts of the fleet have it open (count = hosts) */
    CAUSE_FALLBACK,        /* not a transition: the episode's first call went to the
                              fallback (from = to; count = the address's number, from 1) */
    CAUSE_COUNT
};

struct breaker_transition {
    uint8_t from, to; /* enum breaker_state */
    uint8_t cause;    /* enum transition_cause */
    uint8_t cls;      /* enum outcome_class of the call that caused it */
    uint32_t count;   /* failures or successes that caused it */
};

/* A decoded state word. */
struct breaker_view {
    enum breaker_state state;
    uint8_t epoch;
    uint8_t probes_in_flight;
    uint8_t probe_successes;
    uint64_t time_ms; /* open/forced: retry at (0 = never); half-open: last probe granted */
};

/* Decides whether a call may go ahead at now_ms. Counts a rejection; may move
 * open → half-open (then *tr is filled and true is returned through
 * *transitioned). Never blocks; leaves errno alone. */
struct breaker_ticket breaker_decide(struct breaker_slot *s, const struct breaker_config *c,
                                     uint64_t now_ms, struct breaker_transition *tr,
                                     bool *transitioned);

/* For a call that is not a breaker call itself (a name lookup ahead of a
 * connect): true, counting a rejection, when the breaker would reject a call
 * now; it never moves the breaker to half-open. */
bool breaker_rejects_now(struct breaker_slot *s, const struct breaker_config *c, uint64_t now_ms);

/* Records the outcome of a call that breaker_decide let through with ticket t.
 * OUTCOME_IGNORED counts as nothing (but frees a probe's place). A closed
 * breaker counts it towards fail_max and into the rate window. When this call
 * opens the breaker, retry_after_ms (a server's Retry-After; 0 = none) is the
 * least open time if the policy honours it. Returns true and fills *tr when
 * this call made the breaker change state (the caller then dates it with
 * breaker_date). Leaves errno alone. */
bool breaker_record(struct breaker_slot *s, const struct breaker_config *c, struct breaker_ticket t,
                    enum outcome_class outcome, uint64_t now_ms, uint32_t retry_after_ms,
                    struct breaker_transition *tr);

/* Calls, failures and slow calls in the rate window that ends at now_ms. */
struct breaker_window {
    uint32_t calls, failures, slow;
};
struct breaker_window breaker_window(const struct breaker_slot *s, const struct breaker_config *c,
                                     uint64_t now_ms);

/* Returns how long an opening stays open: reset_timeout times
 * backoff_multiplier^streak (streak: openings since the last full close), at
 * most breaker_open_cap_ms, then ± jitter drawn from seed, then at least
 * retry_after_ms (up to the cap) when the policy honours Retry-After. */
uint64_t breaker_open_ms(const struct breaker_config *c, uint32_t streak, uint64_t seed,
                         uint32_t retry_after_ms);

/* The longest open time before jitter: backoff_max or reset_timeout. */
uint64_t breaker_open_cap_ms(const struct breaker_config *c);

/* Stamps the wall-clock time (ms since the epoch) of transition tr on the
 * slot: when it last changed, and when it last opened. */
void breaker_date(struct breaker_slot *s, const struct breaker_transition *tr, uint64_t wall_ms);

/* Decodes the state word as it is now. */
struct breaker_view breaker_view(const struct breaker_slot *s);

/* Sets the breaker to state st (closed, forced open until until_ms or for
 * ever when 0, disabled) on an operator's request; closing clears the
 * consecutive count. Fills *tr (to be dated with breaker_date). */
void breaker_force(struct breaker_slot *s, enum breaker_state st, uint64_t until_ms,
                   struct breaker_transition *tr);

/* Closes the breaker and zeroes its counters (fusebox reset). Fills *tr. */
void breaker_reset(struct breaker_slot *s, struct breaker_transition *tr);

/* Writes why the transition happened into buf ("3 consecutive failures
 * (refused)", "probe failed (timeout)", …). */
void breaker_describe(const struct breaker_transition *tr, char *buf, size_t len);

/* True when the breaker is closed with no failure counted: forgetting it
 * forgets nothing. */
bool breaker_is_clean(const struct breaker_slot *s);

/* True for the states that reject calls until their time is over: open,
 * forced open, fleet open. */
bool breaker_state_rejects(enum breaker_state st);

/* Returns the milliseconds from now_ms until a breaker in view v lets a probe
 * through; 0 when that time has come, -1 when it rejects for ever (forced
 * open without a time) or does not reject by time (closed, half-open,
 * disabled). */
int64_t breaker_retry_in_ms(const struct breaker_view *v, uint64_t now_ms);

/* A call that breaker_decide rejected went to fallback address number
 * address (from 1) instead: moves it from the rejected count to the
 * fallbacks count. Returns true, filling *tr (from = to = the state now,
 * cause CAUSE_FALLBACK), for the first such call of the episode (the state
 * word's epoch), so that one event says calls go to the fallback without
 * flooding the ring; two processes racing may both announce it. */
bool breaker_count_fallback(struct breaker_slot *s, uint32_t address,
                            struct breaker_transition *tr);

/* Returns the name of a state as status prints it ("closed", "half_open", …). */
const char *breaker_state_name(enum breaker_state st);

/* Moves a closed breaker to fleet_open until until_ms (CLOCK_MONOTONIC ms,
 * not 0) because hosts hosts of the fleet have it open: one compare-and-swap,
 * so it races safely with calls. A breaker already fleet_open whose time ends
 * earlier gets the later time (same episode, no transition). Any other state
 * (open, half-open, forced open, disabled) is left alone: the local view
 * wins. Returns true and fills *tr (closed → fleet_open, cause CAUSE_FLEET,
 * count hosts; to be dated with breaker_date) when it moved the breaker. */
bool breaker_fleet_open(struct breaker_slot *s, uint64_t until_ms, uint32_t hosts,
                        struct breaker_transition *tr);

#endif
