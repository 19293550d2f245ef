#include "runtime.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "fdtrack.h"
#include "log.h"
#include "names.h"
#include "state.h"

enum { BUILD_NONE, BUILD_RUNNING, BUILD_DONE };
enum { STATE_UNOPENED, STATE_OPENING, STATE_READY, STATE_FAILED };
#define SLOT_UNKNOWN ((uintptr_t)0)
#define SLOT_UNAVAILABLE ((uintptr_t)1)

__thread unsigned runtime_transfer_depth;
static _Atomic int build_status = BUILD_NONE;
static __thread bool building_here;
#define BUILD_WAIT_ROUNDS 20000 /* of 50 us: one second at most */
static struct runtime *_Atomic built;

/* Reads FUSEBOX_* settings; NULL when the shim must stay out of the way. */
static const char *rules_spec(void)
{
    if (getauxval(AT_SECURE))
        return NULL;
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
    return spec && *spec ? spec : NULL;
}

/* Returns the state file path (malloc'd), or NULL after a warning. */
static char *state_path_setting(void)
{
    const char *path = getenv("FUSEBOX_STATE");
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
    free((void *)rt->last_success_ms);
    free(rt);
}

static struct runtime *runtime_build(void)
{
    const char *spec = rules_spec();
    if (!spec)
        return NULL;
    char *state_path = state_path_setting();
    if (!state_path)
        return NULL;
    char *errors = NULL;
    struct rules *rules = rules_load(spec, &errors);
    if (!rules) {
        report_bad_rules(errors);
        free(state_path);
        return NULL;
    }
    struct runtime *rt = calloc(1, sizeof *rt);
    if (rt) {
        rt->rules = rules;
        rt->state_path = state_path;
        rt->matcher = matcher_build(rules);
        size_t n = rules->breaker_count ? rules->breaker_count : 1;
        rt->slots = calloc(n, sizeof *rt->slots);
        rt->last_success_ms = calloc(n, sizeof *rt->last_success_ms);
    }
    if (!rt || !rt->matcher || !rt->slots || !rt->last_success_ms) {
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

/* A fork child starts with no build in progress and no pending connects of
 * its own (the parent's attempts are the parent's to report). */
static void forked_child(void)
{
    int running = BUILD_RUNNING;
    atomic_compare_exchange_strong(&build_status, &running, BUILD_NONE);
    struct runtime *rt = runtime_peek();
    if (rt) {
        int opening = STATE_OPENING;
        atomic_compare_exchange_strong(&rt->state_status, &opening, STATE_UNOPENED);
    }
    fdtrack_take_all(NULL);
}

struct runtime *runtime_peek(void)
{
    if (atomic_load_explicit(&build_status, memory_order_acquire) != BUILD_DONE)
        return NULL;
    return atomic_load_explicit(&built, memory_order_relaxed);
}

/* Waits, a bounded time, while another thread sets something up (*status
 * stays busy); returns whether it finished. The thread doing the setting up
 * (re-entered from a signal handler) never waits, and neither does anyone
 * past the bound, so a thread holding a lock that the setting up needs costs
 * a delay, never a deadlock. */
static bool finished_elsewhere(_Atomic int *status, int busy)
{
    if (building_here)
        return false;
    const struct timespec pause = {0, 50000};
    for (int i = 0; i < BUILD_WAIT_ROUNDS; i++) {
        if (atomic_load_explicit(status, memory_order_acquire) != busy)
            return true;
        nanosleep(&pause, NULL);
    }
    return false;
}

struct runtime *runtime_get(void)
{
    int status = atomic_load_explicit(&build_status, memory_order_acquire);
    if (__builtin_expect(status == BUILD_DONE, 1))
        return atomic_load_explicit(&built, memory_order_relaxed);
    int saved = errno;
    struct runtime *rt = NULL;
    if (status == BUILD_NONE &&
        atomic_compare_exchange_strong_explicit(&build_status, &status, BUILD_RUNNING,
                                                memory_order_acquire, memory_order_acquire)) {
        building_here = true;
        pthread_atfork(NULL, NULL, forked_child);
        rt = runtime_build();
        atomic_store_explicit(&built, rt, memory_order_relaxed);
        atomic_store_explicit(&build_status, BUILD_DONE, memory_order_release);
        building_here = false;
    } else if (finished_elsewhere(&build_status, BUILD_RUNNING)) {
        rt = atomic_load_explicit(&built, memory_order_relaxed);
    }
    errno = saved;
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
    atomic_store_explicit(&rt->state_status, rt->state ? STATE_READY : STATE_FAILED,
                          memory_order_release);
    return rt->state != NULL;
}

/* Returns breaker b's shared slot, claiming it on first use; NULL when there
 * is none to be had. */
static struct state_slot *slot_of(struct runtime *rt, uint32_t b)
{
    uintptr_t cached = atomic_load_explicit(&rt->slots[b], memory_order_acquire);
    if (__builtin_expect(cached > SLOT_UNAVAILABLE, 1))
        return (struct state_slot *)cached;
    if (cached == SLOT_UNAVAILABLE || !state_ready(rt))
        return NULL;
    const struct rule_breaker *rb = &rt->rules->breakers[b];
    struct state_slot *slot = state_find_slot(rt->state, rb->name, true);
    if (slot) {
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

int runtime_match_address(const struct runtime *rt, int family, const void *addr, uint16_t port)
{
    struct name_candidates names[4];
    size_t n = rt->has_names ? names_lookup(family, addr, names, 4) : 0;
    for (size_t i = 0; i < n; i++) {
        int p = match_pick_port(rt->matcher, names[i].ids, names[i].count, port);
        if (p >= 0)
            return (int)rt->rules->patterns[p].breaker;
    }
    if (!rt->has_addresses)
        return -1;
    int p = match_address(rt->matcher, family, addr, port);
    return p < 0 ? -1 : (int)rt->rules->patterns[p].breaker;
}

int runtime_match_host(const struct runtime *rt, const char *host, uint16_t port)
{
    int p = match_host(rt->matcher, host, port);
    return p < 0 ? -1 : (int)rt->rules->patterns[p].breaker;
}

/* Dates a transition, appends it to the event ring and logs it. */
static void announce(struct runtime *rt, struct state_slot *slot, uint32_t b,
                     const struct breaker_transition *tr)
{
    uint64_t wall_ms = clock_wall_ms();
    breaker_date(&slot->breaker, tr, wall_ms);
    state_append_event(rt->state, slot, tr, wall_ms);
    bool to_syslog = log_syslog_enabled();
    if (log_enabled(LOG_INFO) || to_syslog) {
        char why[96], line[STATE_NAME_MAX + 192];
        breaker_describe(tr, why, sizeof why);
        snprintf(line, sizeof line, "breaker '%s' %s -> %s: %s [%s %d]",
                 rt->rules->breakers[b].name, breaker_state_name((enum breaker_state)tr->from),
                 breaker_state_name((enum breaker_state)tr->to), why, program_invocation_short_name,
                 (int)getpid());
        log_msg(LOG_INFO, "%s", line);
        log_syslog(line);
    }
}

bool runtime_begin(struct runtime *rt, uint32_t b, struct guarded_call *call)
{
    int saved = errno;
    struct state_slot *slot = slot_of(rt, b);
    call->breaker = b;
    call->started_ms = clock_now_ms();
    if (!slot) {
        call->ticket = (struct breaker_ticket){.verdict = VERDICT_BYPASS};
        errno = saved;
        return true;
    }
    struct breaker_transition tr;
    bool transitioned;
    call->ticket = breaker_decide(&slot->breaker, &rt->rules->breakers[b].config, call->started_ms,
                                  &tr, &transitioned);
    if (transitioned)
        announce(rt, slot, b, &tr);
    if (call->ticket.verdict == VERDICT_BYPASS &&
        breaker_view(&slot->breaker).state > BREAKER_DISABLED)
        log_once(LOG_WARN,
                 "state file %s: breaker '%s' is in an impossible state; it passes "
                 "everything through (see fusebox fsck)",
                 rt->state_path, rt->rules->breakers[b].name);
    errno = saved;
    return call->ticket.verdict != VERDICT_REJECT;
}

/* Records an outcome of breaker b; a success is dated started_ms (no clock
 * read on the common path), a failure now. */
static void record(struct runtime *rt, struct state_slot *slot, uint32_t b,
                   struct breaker_ticket ticket, enum outcome_class outcome, uint64_t started_ms)
{
    struct breaker_transition tr;
    uint64_t now = started_ms;
    if (outcome == OUTCOME_SUCCESS)
        atomic_store_explicit(&rt->last_success_ms[b], started_ms, memory_order_relaxed);
    else
        now = clock_now_ms();
    if (breaker_record(&slot->breaker, &rt->rules->breakers[b].config, ticket, outcome, now, &tr))
        announce(rt, slot, b, &tr);
}

void runtime_end(struct runtime *rt, const struct guarded_call *call, enum outcome_class outcome)
{
    if (call->ticket.verdict != VERDICT_ALLOW && call->ticket.verdict != VERDICT_PROBE)
        return;
    int saved = errno;
    struct state_slot *slot = slot_of(rt, call->breaker);
    if (slot)
        record(rt, slot, call->breaker, call->ticket, outcome, call->started_ms);
    errno = saved;
}

void runtime_note(struct runtime *rt, uint32_t b, enum outcome_class outcome)
{
    int saved = errno;
    struct state_slot *slot = slot_of(rt, b);
    if (slot) {
        struct breaker_view v = breaker_view(&slot->breaker);
        if (v.state == BREAKER_CLOSED)
            record(rt, slot, b, (struct breaker_ticket){.verdict = VERDICT_ALLOW, .epoch = v.epoch},
                   outcome, clock_now_ms());
    }
    errno = saved;
}

uint64_t runtime_retry_in_ms(struct runtime *rt, uint32_t b)
{
    struct state_slot *slot = slot_of(rt, b);
    if (!slot)
        return 0;
    struct breaker_view v = breaker_view(&slot->breaker);
    uint64_t now = clock_now_ms();
    bool timed = v.state == BREAKER_OPEN || (v.state == BREAKER_FORCED_OPEN && v.time_ms != 0);
    return timed && v.time_ms > now ? v.time_ms - now : 0;
}

bool runtime_rejects_lookup(struct runtime *rt, uint32_t b)
{
    const struct breaker_config *c = &rt->rules->breakers[b].config;
    if (!c->fail_dns)
        return false;
    int saved = errno;
    struct state_slot *slot = slot_of(rt, b);
    bool rejects = slot && breaker_rejects_now(&slot->breaker, c, clock_now_ms());
    errno = saved;
    return rejects;
}

bool runtime_succeeded_since(const struct runtime *rt, uint32_t b, uint64_t since_ms)
{
    return atomic_load_explicit(&rt->last_success_ms[b], memory_order_relaxed) >= since_ms;
}
