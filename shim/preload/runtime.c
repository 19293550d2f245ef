#include "runtime.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "fdtrack.h"
#include "fork_watch.h"
#include "keep_errno.h"
#include "log.h"
#include "image.h"
#include "image_load.h"
#include "match.h"
#include "names.h"
#include "progname.h"
#include "rounds.h"
#include "setup_wait.h"
#include "sigbus.h"
#include "state.h"

/* A breaker's place in this process: its slot in the state file, the key
 * that slot must still have, and its latest success here. */
struct breaker_cache {
    _Atomic uintptr_t slot; /* its state_slot, SLOT_UNKNOWN or SLOT_UNAVAILABLE */
    _Atomic uint64_t key;
    _Atomic uint64_t last_success_ms;
};

/* One generation of rules in this process: a compiled image and what this
 * process keeps per breaker of it. */
struct ruleset {
    struct image_map map;
    uint32_t gen;       /* 0..RUNTIME_GENERATIONS-1: the top bits of its breaker refs */
    bool has_names;     /* the rules have host-name patterns */
    bool has_addresses; /* the rules have address (or "*") patterns */
    /* match_first_bytes for AF_INET and AF_INET6, NULL also when the rules
     * have names (an address may be a ruled name's): runtime_excludes */
    const uint8_t *v4_first, *v6_first;
    struct breaker_cache *cache; /* per breaker */
};

struct runtime {
    struct ruleset *_Atomic current; /* NULL: no good rules yet, everything passes through */
    struct ruleset *_Atomic kept[RUNTIME_GENERATIONS]; /* by generation */
    uint32_t next_gen;
    char *spec;  /* FUSEBOX_RULES, or the system rules file */
    bool system; /* spec is the system rules file */
    char *state_path;
    struct state *state;
    _Atomic int state_status;            /* enum in runtime.c */
    _Atomic uint64_t *_Atomic reloads;   /* the state file's rules_reloads, once mapped */
    _Atomic int64_t checked_s;           /* time() when it last looked at the rules source */
    _Atomic bool checking;               /* a thread is looking at it */
    _Atomic uint64_t reloads_seen;       /* rules_reloads when it last looked */
    struct image_source warned;          /* the bad source last warned about */
    bool has_warned;                     /* warned is set */
    struct host_cache_entry *host_cache; /* RUNTIME_HOST_CACHE entries */
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
static __thread bool building_here __attribute__((tls_model("initial-exec")));
static struct runtime *_Atomic built;
static const struct image_breaker no_breaker = {.protocol = PROTOCOL_TCP};

/* The system rules file when it exists, else NULL. */
static const char *system_rules(void)
{
    return access(RULES_SYSTEM_PATH, F_OK) == 0 ? RULES_SYSTEM_PATH : NULL;
}

/* Reads FUSEBOX_* settings (none in secure-execution mode: secure_getenv,
 * rather than getauxval, whose version GLIBC_2.16 every process loading
 * the shim would check at start) and returns the rules to load:
 * FUSEBOX_RULES, else the system rules file when it exists (*system set);
 * NULL when the shim must stay out of the way. */
static const char *rules_spec(bool *system)
{
    *system = true;
    const char *disable = secure_getenv("FUSEBOX_DISABLE");
    if (disable && strcmp(disable, "1") == 0)
        return NULL;
    const char *level = secure_getenv("FUSEBOX_LOG");
    if (level && *level) {
        int parsed = log_level_parse(level);
        if (parsed < 0)
            log_msg(LOG_WARN, "FUSEBOX_LOG=%.32s is not off, error, warn, info or debug", level);
        else
            log_set_level((enum log_level)parsed);
    }
    if (disable && *disable && strcmp(disable, "0") != 0)
        log_msg(LOG_WARN, "FUSEBOX_DISABLE=%.32s is not 0 or 1; fusebox stays on", disable);
    const char *to_syslog = secure_getenv("FUSEBOX_SYSLOG");
    if (!log_set_syslog(to_syslog))
        log_msg(LOG_WARN, "FUSEBOX_SYSLOG=%.32s is not 0, 1 or the absolute path of a socket",
                to_syslog);
    const char *spec = secure_getenv("FUSEBOX_RULES");
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

/* The first line of errors and how many more there are, for a warning. */
static void first_problem(const char *errors, int *len, size_t *more)
{
    *len = (int)strcspn(errors, "\n");
    *more = 0;
    for (const char *p = errors + *len; *p; p++)
        *more += *p == '\n' && p[1] != '\0';
}

/* Warns, once per bad version of the source, that the rules did not load:
 * with the last good rules in force (last_good), or passing through. */
static void report_bad_rules(struct runtime *rt, const struct image_load *l, bool last_good)
{
    if (rt->has_warned && image_same_source(&rt->warned, &l->source))
        return;
    rt->warned = l->source;
    rt->has_warned = true;
    const char *errors = l->errors ? l->errors : "out of memory";
    int len;
    size_t more;
    first_problem(errors, &len, &more);
    const char *more_text = more ? " (and more: run `fusebox check`)" : "";
    if (last_good)
        log_msg(LOG_WARN, "rules do not compile, the last good rules stay in force: %.*s%s", len,
                errors, more_text);
    else
        log_msg(LOG_WARN, "rules not loaded, everything passes through: %.*s%s", len, errors,
                more_text);
}

/* Makes a ruleset of the image l mapped, taking the mapping; NULL on out of
 * memory (the mapping is left to the caller). */
static struct ruleset *ruleset_new(struct image_load *l)
{
    struct ruleset *rs = calloc(1, sizeof *rs);
    uint32_t n = l->map.matcher.breaker_count;
    if (rs)
        rs->cache = calloc(n ? n : 1, sizeof *rs->cache);
    if (!rs || !rs->cache) {
        free(rs);
        return NULL;
    }
    rs->map = l->map;
    image_rehome(&rs->map);
    rs->has_names = matcher_has_name_patterns(&rs->map.matcher);
    rs->has_addresses = matcher_has_address_patterns(&rs->map.matcher);
    if (!rs->has_names) {
        rs->v4_first = match_first_bytes(&rs->map.matcher, AF_INET);
        rs->v6_first = match_first_bytes(&rs->map.matcher, AF_INET6);
    }
    return rs;
}

static void ruleset_free(struct ruleset *rs)
{
    if (!rs)
        return;
    image_unmap(&rs->map);
    free(rs->cache);
    free(rs);
}

/* Makes the image l mapped the process's rules, generation next_gen. The
 * ruleset RUNTIME_GENERATIONS generations old gives up its place (and is
 * freed); the one in force until now stays mapped for the calls that began
 * under it, unguarded (its file was replaced, so nothing can truncate it). */
static void switch_to(struct runtime *rt, struct image_load *l, const char *cause)
{
    struct ruleset *rs = ruleset_new(l);
    if (!rs) {
        image_unmap(&l->map);
        log_once(LOG_WARN, "out of memory; the rules in force stay");
        return;
    }
    rs->gen = rt->next_gen;
    rt->next_gen = (rt->next_gen + 1) % RUNTIME_GENERATIONS;
    struct ruleset *old = atomic_exchange(&rt->kept[rs->gen], rs);
    struct ruleset *previous = atomic_exchange_explicit(&rt->current, rs, memory_order_release);
    if (previous && !previous->map.in_heap)
        sigbus_unguard(previous->map.base);
    ruleset_free(old);
    log_msg(LOG_DEBUG, "%u breakers, %u host patterns from %s (generation %u, %s)",
            rs->map.matcher.breaker_count, rs->map.matcher.pattern_count, rt->spec, rs->gen, cause);
}

/* Warns, once, that the image in force was lost; returns true. */
static __attribute__((noinline, cold)) bool warn_image_lost(const struct runtime *rt)
{
    log_once(LOG_WARN,
             "the compiled rules %s were truncated while in use; everything passes through "
             "until they are compiled again (within a second)",
             rt->spec);
    return true;
}

/* True, after one warning, when the image of rs was truncated under this
 * process (its mapping is zero pages now). */
static inline bool image_was_lost(const struct runtime *rt, struct ruleset *rs)
{
    if (__builtin_expect(!atomic_load_explicit(&rs->map.lost, memory_order_relaxed), 1))
        return false;
    return warn_image_lost(rt);
}

/* Looks at the rules source (the caller holds rt->checking) for cause:
 * loads its image when it changed, warns once about a version that does
 * not compile. */
static void look_at_rules(struct runtime *rt, const char *cause)
{
    struct ruleset *cur = atomic_load_explicit(&rt->current, memory_order_relaxed);
    struct image_source now;
    bool known = image_source_now(rt->spec, &now);
    /* reading the image in force finds it truncated, if it was (sigbus.h) */
    bool current = known && cur && image_load_is_current(&cur->map, &now);
    if (cur && image_was_lost(rt, cur)) {
        cur = NULL; /* whatever it said, the rules must be loaded again */
        current = false;
    }
    if (current || (known && rt->has_warned && image_same_source(&rt->warned, &now)))
        return;
    struct image_load l;
    bool usable = image_load(rt->spec, rt->system, rt->state_path, &l);
    if (l.image_problem)
        log_once(LOG_WARN, "%s: %s", l.image_path, l.image_problem);
    if (l.freshness != IMAGE_CURRENT)
        report_bad_rules(rt, &l, usable);
    bool same = cur && usable &&
                image_same_source(&cur->map.matcher.header->source, &l.map.matcher.header->source);
    if (usable && !same)
        switch_to(rt, &l, cause);
    image_load_release(&l, !usable || same);
}

/* Looks at the rules now (in second now_s of the clock), unless another
 * thread is. */
static void check_rules(struct runtime *rt, int64_t now_s)
{
    if (atomic_exchange_explicit(&rt->checking, true, memory_order_acquire))
        return;
    KEEP_ERRNO();
    _Atomic uint64_t *reloads = atomic_load_explicit(&rt->reloads, memory_order_acquire);
    uint64_t seen = atomic_load_explicit(&rt->reloads_seen, memory_order_relaxed);
    uint64_t now_seen = reloads ? atomic_load_explicit(reloads, memory_order_relaxed) : seen;
    atomic_store_explicit(&rt->reloads_seen, now_seen, memory_order_relaxed);
    atomic_store_explicit(&rt->checked_s, now_s, memory_order_relaxed);
    bool was = building_here;
    building_here = true;
    look_at_rules(rt, now_seen != seen ? "after fusebox reload" : "the rules changed");
    building_here = was;
    atomic_store_explicit(&rt->checking, false, memory_order_release);
}

/* Whether the rules must be looked at now, in second now_s of the clock:
 * in every second of time() other than that of the last look (at most once
 * a second, and never more than a second after an edit), or at once after
 * fusebox reload. time() is the cheapest clock there is (one load in the
 * vDSO); a clock that jumps only brings a look forward. */
static bool check_due(struct runtime *rt, int64_t now_s)
{
    _Atomic uint64_t *reloads = atomic_load_explicit(&rt->reloads, memory_order_acquire);
    return now_s != atomic_load_explicit(&rt->checked_s, memory_order_relaxed) ||
           (reloads && atomic_load_explicit(reloads, memory_order_relaxed) !=
                           atomic_load_explicit(&rt->reloads_seen, memory_order_relaxed));
}

static struct runtime *runtime_build(void)
{
    bool system;
    const char *spec = rules_spec(&system);
    if (!spec)
        return NULL;
    program_name(); /* looked up now, not by an announcement in a signal handler */
    char *state_path = state_path_setting();
    if (!state_path)
        return NULL;
    struct runtime *rt = calloc(1, sizeof *rt);
    if (rt) {
        rt->spec = strdup(spec);
        rt->system = system;
        rt->state_path = state_path;
        rt->host_cache = calloc(RUNTIME_HOST_CACHE, sizeof *rt->host_cache);
    }
    if (!rt || !rt->spec || !rt->host_cache) {
        if (rt)
            free(rt->spec);
        free(rt ? rt->host_cache : NULL);
        free(rt);
        free(state_path);
        log_msg(LOG_WARN, "out of memory; everything passes through");
        return NULL;
    }
    atomic_store_explicit(&rt->checking, true, memory_order_relaxed);
    atomic_store_explicit(&rt->checked_s, (int64_t)time(NULL), memory_order_relaxed);
    look_at_rules(rt, "first use");
    atomic_store_explicit(&rt->checking, false, memory_order_release);
    return rt;
}

/* A fork child starts with no build in progress and no pending connects or
 * held rounds of its own (the parent's attempts are the parent's to report);
 * in it, as in the parent, no socket's O_NONBLOCK is known any more (each
 * open file is shared with the other process). */
static void forked_child(void)
{
    int running = BUILD_RUNNING;
    atomic_compare_exchange_strong(&build_status, &running, BUILD_NONE);
    setup_forget_waiters();
    struct runtime *rt = atomic_load_explicit(&built, memory_order_relaxed);
    if (rt && atomic_load_explicit(&build_status, memory_order_relaxed) == BUILD_DONE) {
        int opening = STATE_OPENING;
        atomic_compare_exchange_strong(&rt->state_status, &opening, STATE_UNOPENED);
        atomic_store(&rt->checking, false);
    }
    fdtrack_take_all(NULL);
    fdtrack_forget_flags_all();
    rounds_forget_all();
}

static void register_fork_handlers(void)
{
    pthread_atfork(NULL, fdtrack_forget_flags_all, forked_child);
}

/* Registered before the first build starts: registered by the builder after
 * its start, a fork that took the handler list in between left the child a
 * build "running" for ever, and the child's calls passed through after the
 * wait. */
void runtime_watch_forks(void)
{
    static struct fork_watch watch = FORK_WATCH_INIT;
    fork_watch(&watch, register_fork_handlers);
}

/* fd 2 at load is the program's stderr, the only one messages go to: a
 * daemon may close it and reuse fd 2 for its data before its first call. */
__attribute__((constructor)) static void pin_stderr(void)
{
    log_pin_stderr();
}

static struct ruleset *current_of(const struct runtime *rt)
{
    return atomic_load_explicit(&((struct runtime *)rt)->current, memory_order_acquire);
}

/* The ruleset of breaker ref (kept holds the one in force too), with its
 * index in *index; NULL when that generation is gone or the index is out of
 * its range. */
static inline __attribute__((always_inline)) struct ruleset *
ruleset_of(const struct runtime *rt, uint32_t ref, uint32_t *index)
{
    uint32_t gen = ref >> RUNTIME_GEN_SHIFT;
    struct ruleset *rs = atomic_load_explicit(
        &((struct runtime *)rt)->kept[gen % RUNTIME_GENERATIONS], memory_order_acquire);
    *index = ref & RUNTIME_INDEX_MASK;
    return rs && rs->gen == gen && *index < rs->map.matcher.breaker_count ? rs : NULL;
}

/* The ref of breaker (or pattern) index i of rs; -1 stays -1. */
static int ref_of(const struct ruleset *rs, int i)
{
    return i < 0 ? -1 : (int)(rs->gen << RUNTIME_GEN_SHIFT | (uint32_t)i);
}

/* The runtime with rules in force, or NULL (also while the image in force
 * is lost). */
static inline __attribute__((always_inline)) struct runtime *in_force(struct runtime *rt)
{
    struct ruleset *rs = rt ? current_of(rt) : NULL;
    if (__builtin_expect(!rs, 0))
        return NULL;
    return __builtin_expect(!image_was_lost(rt, rs), 1) ? rt : NULL;
}

struct runtime *runtime_peek(void)
{
    if (atomic_load_explicit(&build_status, memory_order_acquire) != BUILD_DONE)
        return NULL;
    return in_force(atomic_load_explicit(&built, memory_order_relaxed));
}

struct runtime *runtime_ready(void)
{
    if (atomic_load_explicit(&build_status, memory_order_acquire) != BUILD_DONE)
        return NULL;
    struct runtime *rt = atomic_load_explicit(&built, memory_order_relaxed);
    struct ruleset *rs = rt ? current_of(rt) : NULL;
    return rs && !atomic_load_explicit(&rs->map.lost, memory_order_relaxed) ? rt : NULL;
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

/* check_rules when this thread is not setting up already (a signal
 * handler interrupted it). Out of line, as is runtime_first_get, so that
 * runtime_get keeps a small frame. */
static __attribute__((noinline)) void check_rules_here(struct runtime *rt, int64_t now_s)
{
    if (!building_here)
        check_rules(rt, now_s);
}

/* runtime_get before the runtime is built (build_status was status):
 * builds it, or waits for the thread that does. */
static __attribute__((noinline)) struct runtime *runtime_first_get(int status)
{
    KEEP_ERRNO();
    struct runtime *rt = NULL;
    runtime_watch_forks();
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
    return in_force(rt);
}

/* Looks at the rules of rt, a built runtime, when it is time (check_due). */
static inline void look_when_due(struct runtime *rt)
{
    int64_t now_s = (int64_t)time(NULL);
    if (__builtin_expect(check_due(rt, now_s), 0))
        check_rules_here(rt, now_s);
}

struct runtime *runtime_get(void)
{
    int status = atomic_load_explicit(&build_status, memory_order_acquire);
    if (__builtin_expect(status != BUILD_DONE, 0))
        return runtime_first_get(status);
    struct runtime *rt = atomic_load_explicit(&built, memory_order_relaxed);
    if (__builtin_expect(!rt, 0))
        return NULL;
    look_when_due(rt);
    return in_force(rt);
}

void runtime_look_when_due(void)
{
    if (atomic_load_explicit(&build_status, memory_order_acquire) != BUILD_DONE)
        return;
    struct runtime *rt = atomic_load_explicit(&built, memory_order_relaxed);
    if (__builtin_expect(rt != NULL, 1))
        look_when_due(rt);
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
    bool was = building_here;
    building_here = true;
    rt->state = state_open(rt->state_path, true, err, sizeof err);
    building_here = was;
    if (!rt->state) {
        log_msg(LOG_WARN, "%s; everything passes through", err);
    } else {
        atomic_store_explicit(
            &rt->reloads_seen,
            atomic_load_explicit(&rt->state->header->rules_reloads, memory_order_relaxed),
            memory_order_relaxed);
        atomic_store_explicit(&rt->reloads, &rt->state->header->rules_reloads,
                              memory_order_release);
    }
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

/* Breaker i of rs. */
static const struct image_breaker *breaker_at(const struct ruleset *rs, uint32_t i)
{
    return &rs->map.matcher.breakers[i];
}

/* slot_of past its cached slot (cached: its cache entry as slot_of found
 * it): maps the state file on first need and finds, or claims, breaker i
 * of rs's slot. Out of line, so that the cached path keeps a small frame. */
static __attribute__((noinline)) struct state_slot *
slot_lookup(struct runtime *rt, struct ruleset *rs, uint32_t i, uintptr_t cached)
{
    KEEP_ERRNO();
    if (cached <= SLOT_UNAVAILABLE &&
        (cached == SLOT_UNAVAILABLE || !state_ready(rt) || state_was_lost(rt)))
        return NULL;
    struct breaker_cache *c = &rs->cache[i];
    const struct image_breaker *ib = breaker_at(rs, i);
    const char *name = image_breaker_name(&rs->map.matcher, i);
    struct state_slot *slot = *name ? state_find_slot(rt->state, name, true) : NULL;
    if (slot) {
        atomic_store_explicit(&c->key, ib->name_hash, memory_order_relaxed);
        atomic_store_explicit(&slot->breaker.fail_max, ib->config.fail_max, memory_order_relaxed);
    } else {
        log_once(LOG_WARN,
                 "state file %s has no free slot; breaker '%s' and later new ones "
                 "pass through",
                 rt->state_path, name);
    }
    atomic_store_explicit(&c->slot, slot ? (uintptr_t)slot : SLOT_UNAVAILABLE,
                          memory_order_release);
    return slot;
}

/* Returns breaker i of rs's shared slot, claiming it on first use; NULL when
 * there is none to be had, or the state file was lost. */
static struct state_slot *slot_of(struct runtime *rt, struct ruleset *rs, uint32_t i)
{
    struct breaker_cache *c = &rs->cache[i];
    uintptr_t cached = atomic_load_explicit(&c->slot, memory_order_acquire);
    if (__builtin_expect(cached > SLOT_UNAVAILABLE, 1)) {
        struct state_slot *slot = (struct state_slot *)cached;
        if (state_was_lost(rt))
            return NULL;
        if (__builtin_expect(atomic_load_explicit(&slot->key, memory_order_relaxed) ==
                                 atomic_load_explicit(&c->key, memory_order_relaxed),
                             1))
            return slot;
        /* fusebox gc gave the slot back while this process kept it: find the
         * breaker's slot again (a new one when it is gone) */
    }
    return slot_lookup(rt, rs, i, cached);
}

int runtime_match_candidates(const struct runtime *rt, const struct name_candidates *c,
                             uint16_t port)
{
    const struct ruleset *rs = current_of(rt);
    uint32_t ids[NAMES_CANDIDATES], n = 0;
    for (uint32_t i = 0; i < c->count && i < NAMES_CANDIDATES; i++)
        if (c->ids[i] >> RUNTIME_GEN_SHIFT == rs->gen) /* else resolved under other rules */
            ids[n++] = c->ids[i] & RUNTIME_INDEX_MASK;
    const struct matcher *m = &rs->map.matcher;
    return ref_of(rs, match_breaker_of(m, match_pick_port(m, ids, n, port)));
}

/* runtime_match_address by the names this process resolved to addr; -1
 * when none of them is ruled. Out of line, so that a connect to an address
 * alone keeps a small frame. */
static __attribute__((noinline)) int match_resolved(const struct runtime *rt, int family,
                                                    const void *addr, uint16_t port)
{
    struct name_candidates names[4];
    size_t n = names_lookup(family, addr, names, 4);
    for (size_t i = 0; i < n; i++) {
        int b = runtime_match_candidates(rt, &names[i], port);
        if (b >= 0)
            return b;
    }
    return -1;
}

bool runtime_excludes(const struct runtime *rt, int family, const uint8_t *first)
{
    const struct ruleset *rs = current_of(rt);
    const uint8_t *set = family == AF_INET ? rs->v4_first : rs->v6_first;
    return set && match_first_byte_excludes(set, *first);
}

int runtime_match_address(const struct runtime *rt, int family, const void *addr, uint16_t port)
{
    const struct ruleset *rs = current_of(rt);
    const struct matcher *m = &rs->map.matcher;
    if (rs->has_names) {
        int b = match_resolved(rt, family, addr, port);
        if (b >= 0)
            return b;
    }
    return rs->has_addresses ? ref_of(rs, match_breaker_of(m, match_address(m, family, addr, port)))
                             : -1;
}

int runtime_match_host(const struct runtime *rt, const char *host, uint16_t port)
{
    const struct ruleset *rs = current_of(rt);
    const struct matcher *m = &rs->map.matcher;
    return ref_of(rs, match_breaker_of(m, match_host(m, host, port)));
}

bool runtime_has_names(const struct runtime *rt)
{
    return current_of(rt)->has_names;
}

uint32_t runtime_name_candidates(const struct runtime *rt, const char *name,
                                 struct name_candidates *c)
{
    const struct ruleset *rs = current_of(rt);
    c->count = (uint32_t)match_name_candidates(&rs->map.matcher, name, strlen(name), c->ids,
                                               NAMES_CANDIDATES);
    for (uint32_t i = 0; i < c->count; i++)
        c->ids[i] = (uint32_t)ref_of(rs, (int)c->ids[i]);
    return c->count;
}

uint32_t runtime_generation(const struct runtime *rt)
{
    return current_of(rt)->gen;
}

const struct image_breaker *runtime_breaker(const struct runtime *rt, uint32_t b)
{
    uint32_t i;
    const struct ruleset *rs = ruleset_of(rt, b, &i);
    return rs ? breaker_at(rs, i) : &no_breaker;
}

const struct fallback_address *runtime_fallbacks(const struct runtime *rt, uint32_t b,
                                                 uint32_t *count)
{
    uint32_t i;
    const struct ruleset *rs = ruleset_of(rt, b, &i);
    *count = 0;
    return rs ? image_fallbacks(&rs->map.matcher, i, count) : NULL;
}

/* Appends an event of the breaker deciding call, at wall_ms, to the event
 * ring and logs it. */
static __attribute__((noinline, cold)) void tell(struct runtime *rt, struct state_slot *slot,
                                                 const struct guarded_call *call,
                                                 const struct breaker_transition *tr,
                                                 uint64_t wall_ms)
{
    state_append_event(rt->state, slot, tr, wall_ms);
    bool to_syslog = log_syslog_enabled();
    if (log_enabled(LOG_INFO) || to_syslog) {
        char why[96], line[STATE_NAME_MAX + 192], name[STATE_NAME_MAX];
        breaker_describe(tr, why, sizeof why);
        snprintf(
            line, sizeof line, "breaker '%s' %s -> %s: %s [%s %d]",
            runtime_breaker_name(rt, call, name), breaker_state_name((enum breaker_state)tr->from),
            breaker_state_name((enum breaker_state)tr->to), why, program_name(), (int)getpid());
        log_msg(LOG_INFO, "%s", line);
        log_syslog(line);
    }
}

/* Dates a transition, appends it to the event ring and logs it. */
static __attribute__((noinline, cold)) void announce(struct runtime *rt, struct state_slot *slot,
                                                     const struct guarded_call *call,
                                                     const struct breaker_transition *tr)
{
    KEEP_ERRNO();
    uint64_t wall_ms = clock_wall_ms();
    breaker_date(&slot->breaker, tr, wall_ms);
    tell(rt, slot, call, tr, wall_ms);
}

/* Returns the slot of host's own breaker under per_host breaker i of rs
 * (whose slot is parent) and sets call->host_slot and host_tag; NULL when
 * there is none to be had. Remembered per process; a remembered slot whose
 * key changed (given up for reuse) is looked up again. */
static __attribute__((noinline)) struct state_slot *
host_slot_of(struct runtime *rt, const struct ruleset *rs, uint32_t i, struct state_slot *parent,
             const char *host, uint16_t port, struct guarded_call *call)
{
    KEEP_ERRNO();
    const struct image_breaker *ib = breaker_at(rs, i);
    const char *rule = image_breaker_name(&rs->map.matcher, i);
    char name[STATE_NAME_MAX];
    if (!rules_host_breaker_name(rule, host, port, name, sizeof name))
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
    struct state_slot *slot = state_find_host(rt->state, parent, name, ib->max_hosts);
    if (!slot) {
        log_once(LOG_WARN,
                 "breaker '%s' has no room for another host (max_hosts %u, all in use); "
                 "such hosts share the rule's own breaker",
                 rule, ib->max_hosts);
        return NULL;
    }
    atomic_store_explicit(&slot->breaker.fail_max, ib->config.fail_max, memory_order_relaxed);
    call->host_slot = (uint32_t)(slot - rt->state->slots) + 1;
    call->host_tag = state_slot_tag(key);
    /* Two threads may write one entry at once: a mixed pair is harmless, since
     * a hit also needs the slot's own key to be key. */
    atomic_store_explicit(&e->key, key, memory_order_relaxed);
    atomic_store_explicit(&e->slot, call->host_slot, memory_order_release);
    return slot;
}

/* The slot deciding call (of breaker i of rs): its host's, else its rule's;
 * NULL when none, or when its host's was given up for another host since
 * the call began. */
static struct state_slot *call_slot(struct runtime *rt, struct ruleset *rs, uint32_t i,
                                    const struct guarded_call *call)
{
    if (!call->host_slot)
        return slot_of(rt, rs, i);
    struct state_slot *slot = &rt->state->slots[call->host_slot - 1];
    uint64_t key = atomic_load_explicit(&slot->key, memory_order_acquire);
    return state_slot_tag(key) == call->host_tag ? slot : NULL;
}

const char *runtime_breaker_name(struct runtime *rt, const struct guarded_call *call, char *buf)
{
    uint32_t i;
    struct ruleset *rs = ruleset_of(rt, call->breaker, &i);
    struct state_slot *slot = rs && call->host_slot ? call_slot(rt, rs, i, call) : NULL;
    if (!slot || !state_slot_name(slot, buf))
        snprintf(buf, STATE_NAME_MAX, "%s", rs ? image_breaker_name(&rs->map.matcher, i) : "?");
    return buf;
}

/* Asks slot's breaker (breaker i of rs) about call (its breaker and start
 * filled in) and announces the transition that may make. */
static void decide(struct runtime *rt, const struct ruleset *rs, uint32_t i,
                   struct state_slot *slot, struct guarded_call *call)
{
    struct breaker_transition tr;
    bool transitioned;
    call->ticket = breaker_decide(&slot->breaker, &breaker_at(rs, i)->config, call->started_ms, &tr,
                                  &transitioned);
    if (transitioned)
        announce(rt, slot, call, &tr);
}

/* host_slot_of for the address addr of family (its text is the host's
 * name). Out of line, so that its buffer stays out of the common path's
 * frame. */
static __attribute__((noinline)) struct state_slot *
address_slot_of(struct runtime *rt, const struct ruleset *rs, uint32_t i, struct state_slot *parent,
                int family, const void *addr, uint16_t port, struct guarded_call *call)
{
    char host[INET6_ADDRSTRLEN];
    return inet_ntop(family, addr, host, sizeof host)
               ? host_slot_of(rt, rs, i, parent, host, port, call)
               : NULL;
}

/* runtime_begin_host, or runtime_begin_address when host is NULL and addr
 * is not. */
static inline __attribute__((always_inline)) bool begin(struct runtime *rt, uint32_t b,
                                                        const char *host, int family,
                                                        const void *addr, uint16_t port,
                                                        struct guarded_call *call)
{
    uint32_t i;
    struct ruleset *rs = ruleset_of(rt, b, &i);
    struct state_slot *slot = rs ? slot_of(rt, rs, i) : NULL;
    call->breaker = b;
    call->host_slot = call->host_tag = 0;
    call->started_ms = clock_now_ms();
    if (!slot) {
        call->ticket = (struct breaker_ticket){.verdict = VERDICT_BYPASS};
        return true;
    }
    if ((host || addr) && breaker_at(rs, i)->per_host) {
        struct state_slot *own = host ? host_slot_of(rt, rs, i, slot, host, port, call)
                                      : address_slot_of(rt, rs, i, slot, family, addr, port, call);
        if (own) {
            slot = own;
            uint64_t used = atomic_load_explicit(&own->breaker.last_call_ms, memory_order_relaxed);
            if (call->started_ms - used >= 1000)
                atomic_store_explicit(&own->breaker.last_call_ms, call->started_ms,
                                      memory_order_relaxed);
        }
    }
    decide(rt, rs, i, slot, call);
    if (call->ticket.verdict == VERDICT_BYPASS &&
        breaker_view(&slot->breaker).state >= BREAKER_STATE_COUNT)
        log_once(LOG_WARN,
                 "state file %s: breaker '%s' is in an impossible state; it passes "
                 "everything through (see fusebox fsck)",
                 rt->state_path, image_breaker_name(&rs->map.matcher, i));
    return call->ticket.verdict != VERDICT_REJECT;
}

bool runtime_begin_host(struct runtime *rt, uint32_t b, const char *host, uint16_t port,
                        struct guarded_call *call)
{
    return begin(rt, b, host, AF_UNSPEC, NULL, port, call);
}

bool runtime_begin_address(struct runtime *rt, uint32_t b, int family, const void *addr,
                           uint16_t port, struct guarded_call *call)
{
    return begin(rt, b, NULL, family, addr, port, call);
}

bool runtime_begin(struct runtime *rt, uint32_t b, struct guarded_call *call)
{
    return runtime_begin_host(rt, b, NULL, 0, call);
}

bool runtime_begin_again(struct runtime *rt, const struct guarded_call *earlier,
                         struct guarded_call *call)
{
    uint32_t i;
    *call = *earlier;
    call->started_ms = clock_now_ms();
    struct ruleset *rs = ruleset_of(rt, earlier->breaker, &i);
    struct state_slot *slot = rs ? call_slot(rt, rs, i, earlier) : NULL;
    if (!slot)
        call->ticket = (struct breaker_ticket){.verdict = VERDICT_BYPASS};
    else
        decide(rt, rs, i, slot, call);
    return call->ticket.verdict != VERDICT_REJECT;
}

/* Records the outcome of call (of breaker i of rs) in slot; a success is
 * dated when the call started (no clock read on the common path, unless the
 * policy times slow calls or keeps a window, which takes calls as they
 * end), a failure now. A success that took longer than slow_call is
 * recorded as slow. */
static void record(struct runtime *rt, struct ruleset *rs, uint32_t i, struct state_slot *slot,
                   const struct guarded_call *call, enum outcome_class outcome,
                   uint32_t retry_after_ms)
{
    const struct breaker_config *c = &breaker_at(rs, i)->config;
    struct breaker_transition tr;
    uint64_t now = call->started_ms;
    if (outcome == OUTCOME_SUCCESS) {
        atomic_store_explicit(&rs->cache[i].last_success_ms, now, memory_order_relaxed);
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
    uint32_t i;
    struct ruleset *rs = ruleset_of(rt, call->breaker, &i);
    struct state_slot *slot = rs ? call_slot(rt, rs, i, call) : NULL;
    if (slot)
        record(rt, rs, i, slot, call, outcome, retry_after_ms);
}

void runtime_end(struct runtime *rt, const struct guarded_call *call, enum outcome_class outcome)
{
    runtime_end_after(rt, call, outcome, 0);
}

void runtime_note(struct runtime *rt, uint32_t b, enum outcome_class outcome)
{
    uint32_t i;
    struct ruleset *rs = ruleset_of(rt, b, &i);
    struct state_slot *slot = rs ? slot_of(rt, rs, i) : NULL;
    if (slot) {
        struct breaker_view v = breaker_view(&slot->breaker);
        struct guarded_call call = {
            .breaker = b,
            .ticket = {.verdict = VERDICT_ALLOW, .epoch = v.epoch},
            .started_ms = clock_now_ms(),
        };
        if (v.state == BREAKER_CLOSED)
            record(rt, rs, i, slot, &call, outcome, 0);
    }
}

uint64_t runtime_retry_in_ms(struct runtime *rt, const struct guarded_call *call, bool *forced)
{
    uint32_t i;
    struct ruleset *rs = ruleset_of(rt, call->breaker, &i);
    struct state_slot *slot = rs ? call_slot(rt, rs, i, call) : NULL;
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
    uint32_t i;
    struct ruleset *rs = ruleset_of(rt, b, &i);
    if (!rs)
        return false;
    const struct image_breaker *ib = breaker_at(rs, i);
    if (!ib->config.fail_dns || ib->fallback_count) /* the connect goes on */
        return false;
    struct state_slot *slot = slot_of(rt, rs, i);
    return slot && breaker_rejects_now(&slot->breaker, &ib->config, clock_now_ms());
}

const struct image_breaker *runtime_connected(struct runtime *rt, const struct guarded_call *call)
{
    uint32_t i;
    struct ruleset *rs = ruleset_of(rt, call->breaker, &i);
    if (!rs)
        return &no_breaker;
    atomic_store_explicit(&rs->cache[i].last_success_ms, call->started_ms, memory_order_relaxed);
    return breaker_at(rs, i);
}

bool runtime_succeeded_since(const struct runtime *rt, uint32_t b, uint64_t since_ms)
{
    uint32_t i;
    struct ruleset *rs = ruleset_of(rt, b, &i);
    return rs &&
           atomic_load_explicit(&rs->cache[i].last_success_ms, memory_order_relaxed) >= since_ms;
}

void runtime_fallback(struct runtime *rt, const struct guarded_call *rejected, uint32_t address)
{
    KEEP_ERRNO();
    uint32_t i;
    struct ruleset *rs = ruleset_of(rt, rejected->breaker, &i);
    struct state_slot *slot = rs ? call_slot(rt, rs, i, rejected) : NULL;
    struct breaker_transition tr;
    if (slot && breaker_count_fallback(&slot->breaker, address, &tr))
        tell(rt, slot, rejected, &tr, clock_wall_ms());
}
