#include "runtime.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <unistd.h>

#include "clock.h"
#include "fdtrack.h"
#include "keep_errno.h"
#include "log.h"
#include "match.h"
#include "names.h"
#include "rounds.h"
#include "setup_wait.h"
#include "state.h"

struct runtime {
    struct rules *rules;
    struct matcher *matcher;
    bool has_names;     /* the rules have host-name patterns */
    bool has_addresses; /* the rules have address (or "*") patterns */
    char *state_path;
    struct state *state;
    _Atomic int state_status;            /* enum in runtime.c */
    _Atomic uintptr_t *slots;            /* per breaker: its state_slot, 0 unknown, 1 unavailable */
    _Atomic uint64_t *slot_keys;         /* per breaker: the key its cached slot must still have */
    _Atomic uint64_t *last_success_ms;   /* per breaker: latest success in this process */
    struct host_cache_entry *host_cache; /* with per_host rules: RUNTIME_HOST_CACHE entries */
};

/* A host breaker this process found: its key and 1 + its slot index. */
struct host_cache_entry {
    _Atomic uint64_t key;
    _Atomic uint32_t slot;
};

#define RUNTIME_HOST_CACHE 256

enum { BUILD_NONE, BUILD_RUNNING, BUILD_DONE };
enum { STATE_UNOPENED, STATE_OPENING, STATE_READY, STATE_FAILED };
#define SLOT_UNKNOWN ((uintptr_t)0)
#define SLOT_UNAVAILABLE ((uintptr_t)1)

__thread unsigned runtime_transfer_depth;
_Atomic unsigned runtime_guarded_transfers;
static _Atomic int build_status = BUILD_NONE;
static __thread bool building_here;
static struct runtime *_Atomic built;

/* The system rules file when it exists, else NULL. */
static const char *system_rules(void)
{
    return access(RULES_SYSTEM_PATH, F_OK) == 0 ? RULES_SYSTEM_PATH : NULL;
}

/* Reads FUSEBOX_* settings (none in secure-execution mode) and returns the
 * rules to load: FUSEBOX_RULES, else the system rules file when it exists
 * (*system set); NULL when the shim must stay out of the way. */
static const char *rules_spec(bool *system)
{
    *system = true;
    if (getauxval(AT_SECURE))
        return system_rules();
    const char *disable = getenv("FUSEBOX_DISABLE");
    if (disable && strcmp(disable, "1") == 0)
        return NULL;
    const char *level = getenv("FUSEBOX_LOG");
    if (level && *level) {
        int parsed = log_level_parse(level);
        if (parsed < 0)
            log_msg(LOG_WARN, "FUSEBOX_LOG=%.32s is not off, error, warn, info or debug", level);
        else
            log_set_level((enum log_level)parsed);
    }
    if (disable && *disable && strcmp(disable, "0") != 0)
        log_msg(LOG_WARN, "FUSEBOX_DISABLE=%.32s is not 0 or 1; fusebox stays on", disable);
    const char *to_syslog = getenv("FUSEBOX_SYSLOG");
    if (!log_set_syslog(to_syslog))
        log_msg(LOG_WARN, "FUSEBOX_SYSLOG=%.32s is not 0, 1 or the absolute path of a socket",
                to_syslog);
    const char *spec = getenv("FUSEBOX_RULES");
    *system = !spec || !*spec;
    return *system ? system_rules() : spec;
}

/* Returns the state file path (malloc'd), or NULL after a warning. */
static char *state_path_setting(void)
{
    const char *path = secure_getenv("FUSEBOX_STATE");
    char buf[PATH_MAX], *copy = NULL;
    if (path && *path) {
        if (strnlen(path, PATH_MAX) >= PATH_MAX || path[0] != '/') {
            log_msg(LOG_WARN,
                    "FUSEBOX_STATE must be an absolute path shorter than %d bytes; "
                    "everything passes through",
                    PATH_MAX);
            return NULL;
        }
        copy = strdup(path);
    } else if (state_default_path(buf, sizeof buf) == 0) {
        copy = strdup(buf);
    }
    if (!copy)
        log_msg(LOG_WARN, "no state file path (out of memory?); everything passes through");
    return copy;
}

static void report_bad_rules(char *errors)
{
    const char *first = errors ? errors : "out of memory";
    size_t len = strcspn(first, "\n"), more = 0;
    for (const char *p = first + len; *p; p++)
        more += *p == '\n' && p[1] != '\0';
    log_msg(LOG_WARN, "rules not loaded, everything passes through: %.*s%s", (int)len, first,
            more ? " (and more: run `fusebox check`)" : "");
    free(errors);
}

static void runtime_free(struct runtime *rt)
{
    if (!rt)
        return;
    matcher_free(rt->matcher);
    rules_free(rt->rules);
    free(rt->state_path);
    free((void *)rt->slots);
    free((void *)rt->slot_keys);
    free((void *)rt->last_success_ms);
    free(rt->host_cache);
    free(rt);
}

static struct runtime *runtime_build(void)
{
    bool system;
    const char *spec = rules_spec(&system);
    if (!spec)
        return NULL;
    char *state_path = state_path_setting();
    if (!state_path)
        return NULL;
    char *errors = NULL;
    struct rules *rules =
        system ? rules_load_system(spec, false, &errors) : rules_load_unplaced(spec, &errors);
    if (!rules) {
        report_bad_rules(errors);
        free(state_path);
        return NULL;
    }
    struct runtime *rt = calloc(1, sizeof *rt);
    bool per_host = false;
    for (size_t b = 0; b < rules->breaker_count; b++)
        per_host |= rules->breakers[b].per_host;
    if (rt) {
        rt->rules = rules;
        rt->state_path = state_path;
        rt->matcher = matcher_build(rules);
        size_t n = rules->breaker_count ? rules->breaker_count : 1;
        rt->slots = calloc(n, sizeof *rt->slots);
        rt->slot_keys = calloc(n, sizeof *rt->slot_keys);
        rt->last_success_ms = calloc(n, sizeof *rt->last_success_ms);
        if (per_host)
            rt->host_cache = calloc(RUNTIME_HOST_CACHE, sizeof *rt->host_cache);
    }
    if (!rt || !rt->matcher || !rt->slots || !rt->slot_keys || !rt->last_success_ms ||
        (per_host && !rt->host_cache)) {
        if (!rt) {
            rules_free(rules);
            free(state_path);
        }
        runtime_free(rt);
        log_msg(LOG_WARN, "out of memory; everything passes through");
        return NULL;
    }
    rt->has_names = matcher_has_name_patterns(rt->matcher);
    rt->has_addresses = matcher_has_address_patterns(rt->matcher);
    log_msg(LOG_DEBUG, "%zu breakers, %zu host patterns from %s", rules->breaker_count,
            rules->pattern_count, rules->source);
    return rt;
}

/* A fork child starts with no build in progress and no pending connects or
 * held rounds of its own (the parent's attempts are the parent's to report). */
static void forked_child(void)
{
    int running = BUILD_RUNNING;
    atomic_compare_exchange_strong(&build_status, &running, BUILD_NONE);
    setup_forget_waiters();
    struct runtime *rt = runtime_peek();
    if (rt) {
        int opening = STATE_OPENING;
        atomic_compare_exchange_strong(&rt->state_status, &opening, STATE_UNOPENED);
    }
    fdtrack_take_all(NULL);
    rounds_forget_all();
}

/* The fork handler is registered when the shim is loaded: registered by the
 * first builder instead, a fork that took the handler list between that
 * builder's start and its registration left the child a build "running"
 * for ever, and the child's calls passed through after the wait. */
__attribute__((constructor)) static void register_fork_handler(void)
{
    pthread_atfork(NULL, NULL, forked_child);
}

/* fd 2 at load is the program's stderr, the only one messages go to: a
 * daemon may close it and reuse fd 2 for its data before its first call. */
__attribute__((constructor)) static void pin_stderr(void)
{
    log_pin_stderr();
}

struct runtime *runtime_peek(void)
{
    if (atomic_load_explicit(&build_status, memory_order_acquire) != BUILD_DONE)
        return NULL;
    return atomic_load_explicit(&built, memory_order_relaxed);
}

/* Waits while another thread sets something up (*status stays busy), at
 * most SETUP_WAIT_MS; returns whether it finished. The thread doing the
 * setting up (re-entered from a signal handler) never waits. A call that
 * goes on unfinished passes through undecided and uncounted: said once per
 * process. */
static bool finished_elsewhere(_Atomic int *status, int busy)
{
    if (!building_here && setup_wait(status, busy))
        return true;
    static atomic_flag said = ATOMIC_FLAG_INIT;
    if (atomic_flag_test_and_set(&said))
        return false;
    if (building_here)
        log_msg(LOG_WARN, "a network call passed through uncounted: a signal handler interrupted "
                          "fusebox setting up on its thread (said once per process)");
    else
        log_msg(LOG_WARN,
                "a network call passed through uncounted: fusebox was still setting up on "
                "another thread after %d s (said once per process)",
                SETUP_WAIT_MS / 1000);
    return false;
}

struct runtime *runtime_get(void)
{
    int status = atomic_load_explicit(&build_status, memory_order_acquire);
    if (__builtin_expect(status == BUILD_DONE, 1))
        return atomic_load_explicit(&built, memory_order_relaxed);
    KEEP_ERRNO();
    struct runtime *rt = NULL;
    if (status == BUILD_NONE &&
        atomic_compare_exchange_strong_explicit(&build_status, &status, BUILD_RUNNING,
                                                memory_order_acquire, memory_order_acquire)) {
        building_here = true;
        rt = runtime_build();
        atomic_store_explicit(&built, rt, memory_order_relaxed);
        setup_finish(&build_status, BUILD_DONE);
        building_here = false;
    } else if (finished_elsewhere(&build_status, BUILD_RUNNING)) {
        rt = atomic_load_explicit(&built, memory_order_relaxed);
    }
    return rt;
}

/* Maps the state file on first need; false when it cannot be used. */
static bool state_ready(struct runtime *rt)
{
    int status = atomic_load_explicit(&rt->state_status, memory_order_acquire);
    if (__builtin_expect(status == STATE_READY, 1))
        return true;
    if (status == STATE_FAILED)
        return false;
    if (status == STATE_OPENING ||
        !atomic_compare_exchange_strong_explicit(&rt->state_status, &status, STATE_OPENING,
                                                 memory_order_acquire, memory_order_acquire))
        return finished_elsewhere(&rt->state_status, STATE_OPENING) &&
               atomic_load_explicit(&rt->state_status, memory_order_acquire) == STATE_READY;
    char err[PATH_MAX + 128];
    building_here = true;
    rt->state = state_open(rt->state_path, true, err, sizeof err);
    building_here = false;
    if (!rt->state)
        log_msg(LOG_WARN, "%s; everything passes through", err);
    setup_finish(&rt->state_status, rt->state ? STATE_READY : STATE_FAILED);
    return rt->state != NULL;
}

/* True, after one warning, when the state file was truncated under this
 * process (its mapping is zero pages now, see sigbus.h). */
static bool state_was_lost(const struct runtime *rt)
{
    if (__builtin_expect(!state_lost(rt->state), 1))
        return false;
    log_once(LOG_WARN,
             "state file %s was truncated while in use; everything passes through "
             "(fusebox reset --all --recreate makes a new one)",
             rt->state_path);
    return true;
}

/* slot_of past its cached slot (cached: rt->slots[b] as slot_of found it):
 * maps the state file on first need and finds, or claims, breaker b's slot.
 * Out of line, so that the cached path keeps a small frame. */
static __attribute__((noinline)) struct state_slot *slot_lookup(struct runtime *rt, uint32_t b,
                                                                uintptr_t cached)
{
    if (cached <= SLOT_UNAVAILABLE &&
        (cached == SLOT_UNAVAILABLE || !state_ready(rt) || state_was_lost(rt)))
        return NULL;
    const struct rule_breaker *rb = &rt->rules->breakers[b];
    struct state_slot *slot = state_find_slot(rt->state, rb->name, true);
    if (slot) {
        atomic_store_explicit(&rt->slot_keys[b], state_name_hash(rb->name), memory_order_relaxed);
        atomic_store_explicit(&slot->breaker.fail_max, rb->config.fail_max, memory_order_relaxed);
    } else {
        log_once(LOG_WARN,
                 "state file %s has no free slot; breaker '%s' and later new ones "
                 "pass through",
                 rt->state_path, rb->name);
    }
    atomic_store_explicit(&rt->slots[b], slot ? (uintptr_t)slot : SLOT_UNAVAILABLE,
                          memory_order_release);
    return slot;
}

/* Returns breaker b's shared slot, claiming it on first use; NULL when there
 * is none to be had, or the state file was lost. */
static struct state_slot *slot_of(struct runtime *rt, uint32_t b)
{
    uintptr_t cached = atomic_load_explicit(&rt->slots[b], memory_order_acquire);
    if (__builtin_expect(cached > SLOT_UNAVAILABLE, 1)) {
        struct state_slot *slot = (struct state_slot *)cached;
        if (state_was_lost(rt))
            return NULL;
        if (__builtin_expect(atomic_load_explicit(&slot->key, memory_order_relaxed) ==
                                 atomic_load_explicit(&rt->slot_keys[b], memory_order_relaxed),
                             1))
            return slot;
        /* fusebox gc gave the slot back while this process kept it: find the
         * breaker's slot again (a new one when it is gone) */
    }
    return slot_lookup(rt, b, cached);
}

/* The breaker of pattern p, or -1 when p is (no pattern). */
static int breaker_of(const struct runtime *rt, int p)
{
    return p < 0 ? -1 : (int)rt->rules->patterns[p].breaker;
}

int runtime_match_candidates(const struct runtime *rt, const struct name_candidates *c,
                             uint16_t port)
{
    return breaker_of(rt, match_pick_port(rt->matcher, c->ids, c->count, port));
}

int runtime_match_address(const struct runtime *rt, int family, const void *addr, uint16_t port)
{
    struct name_candidates names[4];
    size_t n = rt->has_names ? names_lookup(family, addr, names, 4) : 0;
    for (size_t i = 0; i < n; i++) {
        int b = runtime_match_candidates(rt, &names[i], port);
        if (b >= 0)
            return b;
    }
    return rt->has_addresses ? breaker_of(rt, match_address(rt->matcher, family, addr, port)) : -1;
}

int runtime_match_host(const struct runtime *rt, const char *host, uint16_t port)
{
    return breaker_of(rt, match_host(rt->matcher, host, port));
}

bool runtime_has_names(const struct runtime *rt)
{
    return rt->has_names;
}

uint32_t runtime_name_candidates(const struct runtime *rt, const char *name,
                                 struct name_candidates *c)
{
    c->count =
        (uint32_t)match_name_candidates(rt->matcher, name, strlen(name), c->ids, NAMES_CANDIDATES);
    return c->count;
}

const struct rule_breaker *runtime_breaker(const struct runtime *rt, uint32_t b)
{
    return &rt->rules->breakers[b];
}

/* Appends an event of the breaker deciding call, at wall_ms, to the event
 * ring and logs it. */
static void tell(struct runtime *rt, struct state_slot *slot, const struct guarded_call *call,
                 const struct breaker_transition *tr, uint64_t wall_ms)
{
    state_append_event(rt->state, slot, tr, wall_ms);
    bool to_syslog = log_syslog_enabled();
    if (log_enabled(LOG_INFO) || to_syslog) {
        char why[96], line[STATE_NAME_MAX + 192], name[STATE_NAME_MAX];
        breaker_describe(tr, why, sizeof why);
        snprintf(line, sizeof line, "breaker '%s' %s -> %s: %s [%s %d]",
                 runtime_breaker_name(rt, call, name),
                 breaker_state_name((enum breaker_state)tr->from),
                 breaker_state_name((enum breaker_state)tr->to), why, program_invocation_short_name,
                 (int)getpid());
        log_msg(LOG_INFO, "%s", line);
        log_syslog(line);
    }
}

/* Dates a transition, appends it to the event ring and logs it. */
static void announce(struct runtime *rt, struct state_slot *slot, const struct guarded_call *call,
                     const struct breaker_transition *tr)
{
    uint64_t wall_ms = clock_wall_ms();
    breaker_date(&slot->breaker, tr, wall_ms);
    tell(rt, slot, call, tr, wall_ms);
}

/* Returns the slot of host's own breaker under per_host rule b (whose slot
 * is parent) and sets call->host_slot and host_tag; NULL when there is none
 * to be had. Remembered per process; a remembered slot whose key changed
 * (given up for reuse) is looked up again. */
static struct state_slot *host_slot_of(struct runtime *rt, uint32_t b, struct state_slot *parent,
                                       const char *host, uint16_t port, struct guarded_call *call)
{
    const struct rule_breaker *rb = &rt->rules->breakers[b];
    char name[STATE_NAME_MAX];
    if (!rules_host_breaker_name(rb->name, host, port, name, sizeof name))
        return NULL;
    uint64_t key = state_name_hash(name);
    struct host_cache_entry *e = &rt->host_cache[key % RUNTIME_HOST_CACHE];
    uint32_t cached = atomic_load_explicit(&e->slot, memory_order_acquire);
    if (cached != 0 && atomic_load_explicit(&e->key, memory_order_acquire) == key &&
        atomic_load_explicit(&rt->state->slots[cached - 1].key, memory_order_acquire) == key) {
        call->host_slot = cached;
        call->host_tag = state_slot_tag(key);
        return &rt->state->slots[cached - 1];
    }
    struct state_slot *slot = state_find_host(rt->state, parent, name, rb->max_hosts);
    if (!slot) {
        log_once(LOG_WARN,
                 "breaker '%s' has no room for another host (max_hosts %u, all in use); "
                 "such hosts share the rule's own breaker",
                 rb->name, rb->max_hosts);
        return NULL;
    }
    atomic_store_explicit(&slot->breaker.fail_max, rb->config.fail_max, memory_order_relaxed);
    call->host_slot = (uint32_t)(slot - rt->state->slots) + 1;
    call->host_tag = state_slot_tag(key);
    /* Two threads may write one entry at once: a mixed pair is harmless, since
     * a hit also needs the slot's own key to be key. */
    atomic_store_explicit(&e->key, key, memory_order_relaxed);
    atomic_store_explicit(&e->slot, call->host_slot, memory_order_release);
    return slot;
}

/* The slot deciding call: its host's, else its rule's; NULL when none, or
 * when its host's was given up for another host since the call began. */
static struct state_slot *call_slot(struct runtime *rt, const struct guarded_call *call)
{
    if (!call->host_slot)
        return slot_of(rt, call->breaker);
    struct state_slot *slot = &rt->state->slots[call->host_slot - 1];
    uint64_t key = atomic_load_explicit(&slot->key, memory_order_acquire);
    return state_slot_tag(key) == call->host_tag ? slot : NULL;
}

const char *runtime_breaker_name(struct runtime *rt, const struct guarded_call *call, char *buf)
{
    struct state_slot *slot = call->host_slot ? call_slot(rt, call) : NULL;
    if (!slot || !state_slot_name(slot, buf))
        snprintf(buf, STATE_NAME_MAX, "%s", rt->rules->breakers[call->breaker].name);
    return buf;
}

/* Asks slot's breaker about call (its breaker and start filled in) and
 * announces the transition that may make. */
static void decide(struct runtime *rt, struct state_slot *slot, struct guarded_call *call)
{
    struct breaker_transition tr;
    bool transitioned;
    call->ticket = breaker_decide(&slot->breaker, &rt->rules->breakers[call->breaker].config,
                                  call->started_ms, &tr, &transitioned);
    if (transitioned)
        announce(rt, slot, call, &tr);
}

bool runtime_begin_host(struct runtime *rt, uint32_t b, const char *host, uint16_t port,
                        struct guarded_call *call)
{
    KEEP_ERRNO();
    struct state_slot *slot = slot_of(rt, b);
    call->breaker = b;
    call->host_slot = call->host_tag = 0;
    call->started_ms = clock_now_ms();
    if (!slot) {
        call->ticket = (struct breaker_ticket){.verdict = VERDICT_BYPASS};
        return true;
    }
    if (host && rt->rules->breakers[b].per_host) { /* then host_cache exists */
        struct state_slot *own = host_slot_of(rt, b, slot, host, port, call);
        if (own) {
            slot = own;
            uint64_t used = atomic_load_explicit(&own->breaker.last_call_ms, memory_order_relaxed);
            if (call->started_ms - used >= 1000)
                atomic_store_explicit(&own->breaker.last_call_ms, call->started_ms,
                                      memory_order_relaxed);
        }
    }
    decide(rt, slot, call);
    if (call->ticket.verdict == VERDICT_BYPASS &&
        breaker_view(&slot->breaker).state >= BREAKER_STATE_COUNT)
        log_once(LOG_WARN,
                 "state file %s: breaker '%s' is in an impossible state; it passes "
                 "everything through (see fusebox fsck)",
                 rt->state_path, rt->rules->breakers[b].name);
    return call->ticket.verdict != VERDICT_REJECT;
}

bool runtime_begin(struct runtime *rt, uint32_t b, struct guarded_call *call)
{
    return runtime_begin_host(rt, b, NULL, 0, call);
}

bool runtime_begin_again(struct runtime *rt, const struct guarded_call *earlier,
                         struct guarded_call *call)
{
    KEEP_ERRNO();
    *call = *earlier;
    call->started_ms = clock_now_ms();
    struct state_slot *slot = call_slot(rt, earlier);
    if (!slot)
        call->ticket = (struct breaker_ticket){.verdict = VERDICT_BYPASS};
    else
        decide(rt, slot, call);
    return call->ticket.verdict != VERDICT_REJECT;
}

/* Records the outcome of call in slot; a success is dated when the call
 * started (no clock read on the common path, unless the policy times slow
 * calls or keeps a window, which takes calls as they end), a failure now. A
 * success that took longer than slow_call is recorded as slow. */
static void record(struct runtime *rt, struct state_slot *slot, const struct guarded_call *call,
                   enum outcome_class outcome, uint32_t retry_after_ms)
{
    const struct breaker_config *c = &rt->rules->breakers[call->breaker].config;
    struct breaker_transition tr;
    uint64_t now = call->started_ms;
    if (outcome == OUTCOME_SUCCESS) {
        atomic_store_explicit(&rt->last_success_ms[call->breaker], now, memory_order_relaxed);
        if (c->slow_call_ms != 0 || c->window_ms != 0)
            now = clock_now_ms();
        if (c->slow_call_ms != 0 && now - call->started_ms > c->slow_call_ms)
            outcome = CLASS_SLOW;
    } else {
        now = clock_now_ms();
    }
    if (breaker_record(&slot->breaker, c, call->ticket, outcome, now, retry_after_ms, &tr))
        announce(rt, slot, call, &tr);
}

void runtime_end_after(struct runtime *rt, const struct guarded_call *call,
                       enum outcome_class outcome, uint32_t retry_after_ms)
{
    if (call->ticket.verdict != VERDICT_ALLOW && call->ticket.verdict != VERDICT_PROBE)
        return;
    KEEP_ERRNO();
    struct state_slot *slot = call_slot(rt, call);
    if (slot)
        record(rt, slot, call, outcome, retry_after_ms);
}

void runtime_end(struct runtime *rt, const struct guarded_call *call, enum outcome_class outcome)
{
    runtime_end_after(rt, call, outcome, 0);
}

void runtime_note(struct runtime *rt, uint32_t b, enum outcome_class outcome)
{
    KEEP_ERRNO();
    struct state_slot *slot = slot_of(rt, b);
    if (slot) {
        struct breaker_view v = breaker_view(&slot->breaker);
        struct guarded_call call = {
            .breaker = b,
            .ticket = {.verdict = VERDICT_ALLOW, .epoch = v.epoch},
            .started_ms = clock_now_ms(),
        };
        if (v.state == BREAKER_CLOSED)
            record(rt, slot, &call, outcome, 0);
    }
}

uint64_t runtime_retry_in_ms(struct runtime *rt, const struct guarded_call *call, bool *forced)
{
    struct state_slot *slot = call_slot(rt, call);
    *forced = false;
    if (!slot)
        return 0;
    struct breaker_view v = breaker_view(&slot->breaker);
    *forced = v.state == BREAKER_FORCED_OPEN;
    int64_t in_ms = breaker_retry_in_ms(&v, clock_now_ms());
    return in_ms > 0 ? (uint64_t)in_ms : 0;
}

bool runtime_rejects_lookup(struct runtime *rt, uint32_t b)
{
    const struct breaker_config *c = &rt->rules->breakers[b].config;
    if (!c->fail_dns || rt->rules->breakers[b].fallback_count) /* the connect goes on */
        return false;
    KEEP_ERRNO();
    struct state_slot *slot = slot_of(rt, b);
    bool rejects = slot && breaker_rejects_now(&slot->breaker, c, clock_now_ms());
    return rejects;
}

void runtime_connected(struct runtime *rt, const struct guarded_call *call)
{
    atomic_store_explicit(&rt->last_success_ms[call->breaker], call->started_ms,
                          memory_order_relaxed);
}

bool runtime_succeeded_since(const struct runtime *rt, uint32_t b, uint64_t since_ms)
{
    return atomic_load_explicit(&rt->last_success_ms[b], memory_order_relaxed) >= since_ms;
}

void runtime_fallback(struct runtime *rt, const struct guarded_call *rejected, uint32_t address)
{
    KEEP_ERRNO();
    struct state_slot *slot = call_slot(rt, rejected);
    struct breaker_transition tr;
    if (slot && breaker_count_fallback(&slot->breaker, address, &tr))
        tell(rt, slot, rejected, &tr, clock_wall_ms());
}
