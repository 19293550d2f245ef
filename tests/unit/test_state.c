/* Unit tests of the shared state file (state.c): the layout that every
 * process relies on, safe creation, refusals, slots and the event ring. */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clock.h"
#include "state.h"
#include "state_check.h"
#include "unit.h"

static char dir[] = "/tmp/fusebox-test-state-XXXXXX";

static const char *path_in_dir(const char *name)
{
    static char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return path;
}

/* Offsets that other processes (and other versions of fusebox reading the
 * same layout version) depend on: changing one needs a new layout version. */
static void layout_is_pinned(void)
{
    CHECK_INT(STATE_FILE_SIZE, 4096 + 4096 * 512 + 1024 * 64);
    CHECK_INT(offsetof(struct state_header, magic), 0);
    CHECK_INT(offsetof(struct state_header, layout_version), 8);
    CHECK_INT(offsetof(struct state_header, file_size), 16);
    CHECK_INT(offsetof(struct state_header, slot_count), 24);
    CHECK_INT(offsetof(struct state_header, event_count), 32);
    CHECK_INT(offsetof(struct state_header, created_wall_ms), 40);
    CHECK_INT(offsetof(struct state_header, events_appended), 48);
    CHECK_INT(offsetof(struct state_header, fleet), 56);
    CHECK_INT(offsetof(struct state_header, fleet.since_wall_ms), 64);
    CHECK_INT(offsetof(struct state_header, fleet.host_id), 80);
    CHECK_INT(offsetof(struct state_header, fleet.node_seq), 144);
    CHECK_INT(offsetof(struct state_header, fleet.failovers), 152);
    CHECK_INT(offsetof(struct state_header, fleet.node_address), 160);
    CHECK_INT(offsetof(struct state_header, fleet.node_master), 432);
    CHECK_INT(offsetof(struct state_header, rules_reloads), 496);
    CHECK_INT(offsetof(struct state_header, reserved), 504);
    CHECK_INT(offsetof(struct state_slot, fleet_quorum), STATE_SLOT_SIZE - 4);
    CHECK_INT(offsetof(struct state_slot, key), 0);
    CHECK_INT(offsetof(struct state_slot, name_ready), 8);
    CHECK_INT(offsetof(struct state_slot, name_words), 16);
    CHECK_INT(offsetof(struct state_slot, breaker), 144);
    CHECK_INT(offsetof(struct state_slot, used_wall_ms), 336);
    CHECK_INT(offsetof(struct state_slot, gc_calls), 344);
    CHECK_INT(offsetof(struct state_slot, gc_since_ms), 352);
    CHECK_INT(offsetof(struct breaker_slot, word), 0);
    CHECK_INT(offsetof(struct breaker_slot, consecutive_failures), 8);
    CHECK_INT(offsetof(struct breaker_slot, fail_max), 12);
    CHECK_INT(offsetof(struct breaker_slot, successes), 16);
    CHECK_INT(offsetof(struct breaker_slot, failures), 24);
    CHECK_INT(offsetof(struct breaker_slot, rejected), 32);
    CHECK_INT(offsetof(struct breaker_slot, trips), 40);
    CHECK_INT(offsetof(struct breaker_slot, opened_at_wall), 48);
    CHECK_INT(offsetof(struct breaker_slot, changed_at_wall), 56);
    CHECK_INT(offsetof(struct breaker_slot, fallbacks), 64);
    CHECK_INT(offsetof(struct breaker_slot, open_streak), 72);
    CHECK_INT(offsetof(struct breaker_slot, fleet_hosts_open), 76);
    CHECK_INT(offsetof(struct breaker_slot, window), 80);
    CHECK_INT(offsetof(struct breaker_slot, half_open_since), 160);
    CHECK_INT(offsetof(struct breaker_slot, last_call_ms), 168);
    CHECK_INT(offsetof(struct breaker_slot, hosts), 176);
    CHECK_INT(offsetof(struct breaker_slot, fallback_episode), 184);
    CHECK_INT(sizeof(struct breaker_slot), 192);
    CHECK_INT(offsetof(struct state_event, seq), 0);
    CHECK_INT(offsetof(struct state_event, slot), 16);
    CHECK_INT(offsetof(struct state_event, from), 28);
    CHECK_INT(offsetof(struct state_event, comm), 32);
}

static void creates_a_private_initialised_file(void)
{
    char err[256];
    const char *path = path_in_dir("new.state");
    struct state *st = state_open(path, true, err, sizeof err);
    if (!CHECK(st != NULL))
        return;
    struct stat sb;
    CHECK_INT(stat(path, &sb), 0);
    CHECK_INT(sb.st_mode & 0777, 0600);
    CHECK_INT(sb.st_size, STATE_FILE_SIZE);
    CHECK((uint64_t)sb.st_blocks * 512 >= STATE_FILE_SIZE); /* its space is reserved */
    CHECK_STR(st->header->magic, STATE_MAGIC);
    CHECK_INT(st->header->layout_version, STATE_LAYOUT_VERSION);
    state_close(st);
    st = state_open(path, false, err, sizeof err); /* and opens it again */
    CHECK(st != NULL);
    state_close(st);
}

/* A file of the right layout with holes (made by a fusebox that did not
 * reserve space) gets them filled at open, its contents unchanged. */
static void fills_the_holes_of_a_sparse_file(void)
{
    char err[256], path[256];
    struct state *st = state_open(path_in_dir("model.state"), true, err, sizeof err);
    snprintf(path, sizeof path, "%s", path_in_dir("sparse.state"));
    int fd = open(path, O_CREAT | O_WRONLY, 0600);
    if (!CHECK(st != NULL) || !CHECK(fd >= 0))
        return;
    CHECK_INT(ftruncate(fd, STATE_FILE_SIZE), 0);
    CHECK_INT(pwrite(fd, st->header, STATE_HEADER_SIZE, 0), STATE_HEADER_SIZE);
    close(fd);
    state_close(st);
    struct stat sb;
    CHECK_INT(stat(path, &sb), 0);
    CHECK((uint64_t)sb.st_blocks * 512 < STATE_FILE_SIZE);
    st = state_open(path, false, err, sizeof err);
    if (!CHECK(st != NULL))
        return;
    CHECK_STR(st->header->magic, STATE_MAGIC);
    CHECK_INT(stat(path, &sb), 0);
    CHECK((uint64_t)sb.st_blocks * 512 >= STATE_FILE_SIZE);
    state_close(st);
}

static void missing_without_create_is_enoent(void)
{
    char err[256];
    CHECK(state_open(path_in_dir("absent.state"), false, err, sizeof err) == NULL);
    CHECK_INT(errno, ENOENT);
}

static void expect_refusal(const char *path, const char *why)
{
    char err[512] = "";
    struct state *st = state_open(path, true, err, sizeof err);
    CHECK_CTX(st == NULL, "%s", path);
    CHECK_CTX(strstr(err, why) != NULL, "got \"%s\", want \"%s\"", err, why);
    state_close(st);
}

static void refuses_what_it_must(void)
{
    char err[256];
    const char *good = path_in_dir("good.state");
    state_close(state_open(good, true, err, sizeof err));

    const char *link = path_in_dir("link.state");
    CHECK_INT(symlink(good, link), 0);
    expect_refusal(link, "symbolic link");

    const char *shared = path_in_dir("shared.state");
    state_close(state_open(shared, true, err, sizeof err));
    chmod(shared, 0666);
    expect_refusal(shared, "writable by group or others");

    const char *small = path_in_dir("small.state");
    int fd = open(small, O_CREAT | O_WRONLY, 0600);
    CHECK(write(fd, "FUSEBOX", 8) == 8);
    close(fd);
    expect_refusal(small, "wrong size");

    const char *garbage = path_in_dir("garbage.state");
    fd = open(garbage, O_CREAT | O_WRONLY, 0600);
    CHECK_INT(ftruncate(fd, STATE_FILE_SIZE), 0);
    close(fd);
    expect_refusal(garbage, "not a fusebox state file");

    if (geteuid() == 0) {
        const char *foreign = path_in_dir("foreign.state");
        state_close(state_open(foreign, true, err, sizeof err));
        CHECK_INT(chown(foreign, 65534, 65534), 0);
        expect_refusal(foreign, "owned by another user");
    }

    const char *subdir = path_in_dir("dir.state");
    mkdir(subdir, 0700);
    expect_refusal(subdir, "state file");

    const char *fifo = path_in_dir("fifo.state");
    mkfifo(fifo, 0600);
    expect_refusal(fifo, "not a regular file");
}

static void slots_are_found_by_name_and_claimed_once(void)
{
    char err[256], name[STATE_NAME_MAX];
    struct state *st = state_open(path_in_dir("slots.state"), true, err, sizeof err);
    if (!CHECK(st != NULL))
        return;
    CHECK(state_find_slot(st, "payments", false) == NULL);
    struct state_slot *a = state_find_slot(st, "payments", true);
    struct state_slot *b = state_find_slot(st, "search", true);
    CHECK(a != NULL && b != NULL && a != b);
    CHECK(state_find_slot(st, "payments", false) == a);
    CHECK(state_find_slot(st, "payments", true) == a);
    CHECK(state_slot_name(a, name));
    CHECK_STR(name, "payments");
    /* a second mapping of the same file sees the same slot */
    struct state *again = state_open(path_in_dir("slots.state"), false, err, sizeof err);
    struct state_slot *a2 = state_find_slot(again, "payments", false);
    CHECK(a2 != NULL && a2 - again->slots == a - st->slots);
    state_close(again);
    state_close(st);
}

static void a_full_table_has_no_slot_for_a_new_name(void)
{
    char err[256], name[32];
    struct state *st = state_open(path_in_dir("full.state"), true, err, sizeof err);
    if (!CHECK(st != NULL))
        return;
    for (unsigned i = 0; i < STATE_SLOTS; i++) {
        snprintf(name, sizeof name, "breaker-%u", i);
        if (!CHECK_CTX(state_find_slot(st, name, true) != NULL, "%s", name))
            break;
    }
    CHECK(state_find_slot(st, "one-too-many", true) == NULL);
    CHECK(state_find_slot(st, "breaker-77", false) != NULL);
    state_close(st);
}

static void events_ring_keeps_the_latest(void)
{
    char err[256];
    struct state *st = state_open(path_in_dir("events.state"), true, err, sizeof err);
    if (!CHECK(st != NULL))
        return;
    struct state_slot *slot = state_find_slot(st, "api", true);
    for (uint32_t i = 0; i < STATE_EVENTS + 10; i++) {
        struct breaker_transition tr = {.from = BREAKER_CLOSED,
                                        .to = BREAKER_OPEN,
                                        .cause = CAUSE_FAILURES,
                                        .cls = CLASS_REFUSED,
                                        .count = i};
        state_append_event(st, slot, &tr, 1000 + i);
    }
    CHECK_INT(state_events_appended(st), STATE_EVENTS + 10);
    struct event_record ev;
    CHECK(!state_read_event(st, 5, &ev)); /* overwritten */
    CHECK(state_read_event(st, STATE_EVENTS + 9, &ev));
    CHECK_INT(ev.tr.count, STATE_EVENTS + 9);
    CHECK_INT(ev.wall_ms, 1000 + STATE_EVENTS + 9);
    CHECK_INT(ev.pid, getpid());
    CHECK_STR(ev.breaker, "api");
    CHECK_STR(ev.comm, "test_state");
    CHECK(!state_read_event(st, STATE_EVENTS + 10, &ev)); /* not yet written */
    state_close(st);
}

/* Collects the problems of a check into one string, a line each. */
static char problems[8192];

static void collect(void *ctx, const char *problem)
{
    (void)ctx;
    size_t len = strlen(problems);
    snprintf(problems + len, sizeof problems - len, "%s\n", problem);
}

/* Checks st's file; returns the number of problems (text in problems). */
static size_t check(const struct state *st, struct state_census *census)
{
    problems[0] = '\0';
    return state_check(st->header, st->size, collect, NULL, census);
}

static struct state *fresh(const char *name)
{
    char err[256];
    unlink(path_in_dir(name));
    return state_open(path_in_dir(name), true, err, sizeof err);
}

static void per_host_breakers_are_bounded_and_reuse_the_least_recent(void)
{
    struct state_census census;
    struct state *st = fresh("hosts.state");
    if (!CHECK(st != NULL))
        return;
    struct state_slot *rule = state_find_slot(st, "api", true);
    struct state_slot *a = state_find_host(st, rule, "api/10.0.0.1:80", 2);
    struct state_slot *b = state_find_host(st, rule, "api/10.0.0.2:80", 2);
    if (!CHECK(rule && a && b && a != b))
        return;
    CHECK_INT(a->owner, rule - st->slots + 1);
    CHECK_INT(rule->breaker.hosts, 2);
    CHECK(state_find_host(st, rule, "api/10.0.0.1:80", 2) == a); /* found, not counted */
    CHECK_INT(rule->breaker.hosts, 2);
    a->breaker.last_call_ms = 5000;
    b->breaker.last_call_ms = 4000; /* b is the least recent: a third host takes its place */
    struct state_slot *c = state_find_host(st, rule, "api/10.0.0.3:80", 2);
    CHECK(c != NULL && c != a);
    CHECK_INT(rule->breaker.hosts, 2);
    CHECK(state_find_slot(st, "api/10.0.0.2:80", false) == NULL);
    CHECK(state_find_slot(st, "api/10.0.0.3:80", false) == c);
    char name[STATE_NAME_MAX];
    CHECK(state_slot_name(c, name) && strcmp(name, "api/10.0.0.3:80") == 0);
    CHECK_INT(check(st, &census), 0);
    CHECK_CTX(problems[0] == '\0', "%s", problems);

    struct breaker_transition tr; /* open hosts are never given up */
    breaker_force(&a->breaker, BREAKER_FORCED_OPEN, 0, &tr);
    c->breaker.consecutive_failures = 1;
    CHECK(state_find_host(st, rule, "api/10.0.0.4:80", 2) == NULL);
    c->breaker.consecutive_failures = 0;
    struct state_slot *d = state_find_host(st, rule, "api/10.0.0.4:80", 2);
    CHECK(d != NULL && d != a);
    CHECK(state_find_slot(st, "api/10.0.0.3:80", false) == NULL);
    CHECK(state_find_slot(st, "api/10.0.0.1:80", false) == a);
    CHECK_INT(check(st, &census), 0);
    CHECK_CTX(problems[0] == '\0', "%s", problems);

    /* a count left too high by a process killed mid-claim is recounted */
    rule->breaker.hosts = 2;
    breaker_force(&a->breaker, BREAKER_CLOSED, 0, &tr);
    a->breaker.consecutive_failures = 1;
    d->breaker.consecutive_failures = 1;
    rule->breaker.hosts = 5; /* two children, but the count says five */
    struct state_slot *e = state_find_host(st, rule, "api/10.0.0.5:80", 3);
    CHECK(e != NULL && e != a && e != d);
    CHECK_INT(rule->breaker.hosts, 3);
    state_close(st);
}

static void a_tombstone_keeps_the_names_behind_it_reachable(void)
{
    struct state_census census;
    struct state *st = fresh("tombstone.state");
    if (!CHECK(st != NULL))
        return;
    struct state_slot *rule = state_find_slot(st, "r", true);
    /* many hosts, so some share a probe path; give up every other one */
    char name[64];
    for (unsigned i = 0; i < 600; i++) {
        snprintf(name, sizeof name, "r/h%u:1", i);
        CHECK(state_find_host(st, rule, name, 1000) != NULL);
    }
    for (unsigned i = 0; i < 600; i += 2) {
        snprintf(name, sizeof name, "r/h%u:1", i);
        struct state_slot *s = state_find_slot(st, name, false);
        s->breaker.last_call_ms = 0;
    }
    for (unsigned i = 1; i < 600; i += 2) {
        snprintf(name, sizeof name, "r/h%u:1", i);
        state_find_slot(st, name, false)->breaker.last_call_ms = 10;
    }
    for (unsigned i = 0; i < 300; i++) { /* max 600: each new host evicts an even one */
        snprintf(name, sizeof name, "r/new%u:1", i);
        CHECK(state_find_host(st, rule, name, 600) != NULL);
    }
    for (unsigned i = 1; i < 600; i += 2) {
        snprintf(name, sizeof name, "r/h%u:1", i);
        CHECK_CTX(state_find_slot(st, name, false) != NULL, "%s", name);
    }
    CHECK_INT(rule->breaker.hosts, 600);
    CHECK_INT(check(st, &census), 0);
    CHECK_CTX(problems[0] == '\0', "%s", problems);
    state_close(st);
}

#define DAY_MS 86400000u

static void reclaim_gives_back_only_idle_slots(void)
{
    struct state_census census;
    struct state *st = fresh("reclaim.state");
    if (!CHECK(st != NULL))
        return;
    uint64_t t0 = 1800000000000u; /* wall-clock ms, long after the slots were used */
    struct state_slot *old = state_find_slot(st, "old", true);
    struct state_slot *busy = state_find_slot(st, "busy", true);
    struct state_slot *forced = state_find_slot(st, "forced", true);
    if (!CHECK(old && busy && forced))
        return;
    uint64_t key = state_name_hash("old"), busy_key = state_name_hash("busy");
    CHECK(old->used_wall_ms > 0 && old->used_wall_ms < t0); /* dated by the claim */
    struct breaker_transition tr;
    breaker_force(&forced->breaker, BREAKER_FORCED_OPEN, 0, &tr);
    old->breaker.successes = 3;
    busy->breaker.failures = 1;
    /* a first look notes the counts: nothing is known idle yet */
    CHECK_INT(state_reclaim(old, key, DAY_MS, t0), STATE_KEPT_USED);
    CHECK_INT(state_reclaim(busy, busy_key, DAY_MS, t0), STATE_KEPT_USED);
    CHECK_INT(state_reclaim(forced, state_name_hash("forced"), 0, t0), STATE_KEPT_OPERATOR);
    CHECK_INT(state_reclaim(old, state_name_hash("other"), 0, t0), STATE_KEPT_GONE);
    /* a day later: old counted nothing more; busy had a call; a process began to use it */
    busy->breaker.failures = 2;
    CHECK_INT(state_reclaim(busy, busy_key, DAY_MS, t0 + DAY_MS), STATE_KEPT_USED);
    CHECK_INT(state_reclaim(old, key, DAY_MS, t0 + DAY_MS - 1), STATE_KEPT_USED);
    old->used_wall_ms = t0 + 10;
    CHECK_INT(state_reclaim(old, key, DAY_MS, t0 + DAY_MS), STATE_KEPT_USED);
    CHECK_INT(state_reclaim(old, key, DAY_MS, t0 + DAY_MS + 10), STATE_RECLAIMED);
    CHECK_INT(old->key, STATE_KEY_TOMBSTONE);
    CHECK_INT(old->used_wall_ms + old->gc_calls + old->gc_since_ms + old->breaker.successes, 0);
    CHECK(state_find_slot(st, "old", false) == NULL);
    CHECK_INT(state_reclaim(old, key, 0, t0 + 2 * DAY_MS), STATE_KEPT_GONE);
    /* busy: its note is from t0 + DAY_MS; a transition later keeps it longer */
    busy->breaker.changed_at_wall = t0 + DAY_MS + 500;
    CHECK_INT(state_reclaim(busy, busy_key, DAY_MS, t0 + 2 * DAY_MS), STATE_KEPT_USED);
    CHECK_INT(state_reclaim(busy, busy_key, DAY_MS, t0 + 2 * DAY_MS + 500), STATE_RECLAIMED);
    /* idle 0: whatever no rule names goes at once, but never an operator's */
    struct state_slot *fresh_one = state_find_slot(st, "fresh", true);
    CHECK_INT(state_reclaim(fresh_one, state_name_hash("fresh"), 0, clock_wall_ms()),
              STATE_RECLAIMED);
    CHECK_INT(state_reclaim(forced, state_name_hash("forced"), 0, t0 + 9 * DAY_MS),
              STATE_KEPT_OPERATOR);
    /* the tombstones are taken again, wiped */
    struct state_slot *again = state_find_slot(st, "old", true);
    CHECK(again != NULL && again->breaker.successes == 0 && again->gc_since_ms == 0);
    CHECK_INT(check(st, &census), 0);
    CHECK_CTX(problems[0] == '\0', "%s", problems);
    CHECK_INT(census.breakers, 2);
    state_close(st);
}

static void reclaim_survives_a_burier_killed_midway(void)
{
    struct state_census census;
    struct state *st = fresh("reclaim-killed.state");
    if (!CHECK(st != NULL))
        return;
    struct state_slot *a = state_find_slot(st, "a", true);
    if (!CHECK(a != NULL))
        return;
    a->key = STATE_KEY_BUSY; /* a gc killed after taking it */
    CHECK(state_find_slot(st, "a", false) == NULL);
    struct state_slot *b = state_find_slot(st, "a", true); /* nobody waits: a new slot */
    CHECK(b != NULL && b != a);
    CHECK_INT(state_reclaim(a, state_name_hash("a"), 0, clock_wall_ms()), STATE_KEPT_GONE);
    CHECK_INT(check(st, &census), 0);
    CHECK_CTX(problems[0] == '\0', "%s", problems);
    CHECK_INT(census.breakers, 1);
    state_close(st);
}

static void check_passes_a_good_file_and_counts(void)
{
    struct state *st = fresh("check-good.state");
    if (!CHECK(st != NULL))
        return;
    struct state_census census;
    CHECK_INT(check(st, &census), 0);
    CHECK_INT(census.breakers, 0);
    CHECK_INT(census.events, 0);
    struct breaker_transition tr;
    for (unsigned i = 0; i < 300; i++) {
        char name[32];
        snprintf(name, sizeof name, "b%u", i);
        struct state_slot *slot = state_find_slot(st, name, true);
        breaker_force(&slot->breaker, BREAKER_FORCED_OPEN, 1000, &tr);
        state_append_event(st, slot, &tr, 1);
    }
    state_find_slot(st, "api", true)->breaker.word = 2 | 3 << 11 | 5 << 17; /* half-open */
    CHECK_INT(check(st, &census), 0);
    CHECK_CTX(problems[0] == '\0', "%s", problems);
    CHECK_INT(census.breakers, 301);
    CHECK_INT(census.events, 300);
    state_close(st);
}

/* Expects exactly one problem containing want after corrupting st. */
static void expect_problem(const struct state *st, const char *want)
{
    struct state_census census;
    CHECK_INT(check(st, &census), 1);
    CHECK_CTX(strstr(problems, want) != NULL, "got \"%s\", want \"%s\"", problems, want);
}

static void check_names_header_problems(void)
{
    struct state *st = fresh("check-header.state");
    if (!CHECK(st != NULL))
        return;
    struct state_census census;
    problems[0] = '\0';
    CHECK_INT(state_check(st->header, 100, collect, NULL, &census), 1);
    CHECK(strstr(problems, "file is 100 bytes, shorter than the 4096-byte header") != NULL);
    problems[0] = '\0';
    CHECK_INT(state_check(st->header, 5000, collect, NULL, &census), 1);
    CHECK(strstr(problems, "file is 5000 bytes, its header says 2166784") != NULL);
    st->header->event_size = 32;
    expect_problem(st, "header: event size is 32, this fusebox reads 64");
    st->header->magic[0] = 'X';
    expect_problem(st, "header: no magic");
    state_close(st);
}

static void check_names_slot_problems(void)
{
    struct state *st = fresh("check-slots.state");
    if (!CHECK(st != NULL))
        return;
    struct state_slot *slot = state_find_slot(st, "payments", true);
    unsigned i = (unsigned)(slot - st->slots);
    char want[128];
    slot->breaker.word = 7;
    snprintf(want, sizeof want, "slot %u 'payments': state word has impossible state 7", i);
    expect_problem(st, want);
    slot->breaker.word = 1 | 4 << 11; /* open with 4 probes in flight */
    expect_problem(st, "'payments': state open with 4 probes in flight");
    slot->breaker.word = 0;
    slot->breaker.fail_max = 20000;
    expect_problem(st, "fail_max 20000 is above 10000");
    slot->breaker.fail_max = 3;
    slot->breaker.trips = UINT64_MAX;
    expect_problem(st, "trips counter 18446744073709551615 is implausible");
    slot->breaker.trips = 0;
    slot->name_ready = 2;
    expect_problem(st, "name_ready is 2");
    slot->name_ready = 1;
    memset((char *)slot->name_words, 'a', STATE_NAME_MAX);
    expect_problem(st, "name is not NUL-terminated");
    memset((char *)slot->name_words, 0, STATE_NAME_MAX);
    expect_problem(st, "name is empty");
    memcpy((char *)slot->name_words, "payments\0z", 10);
    expect_problem(st, "bytes after the name's NUL are not zero");
    memcpy((char *)slot->name_words, "paymentz\0\0", 10);
    expect_problem(st, "is not the hash of the name");
    state_close(st);
}

static void check_finds_misplaced_and_stray_slots(void)
{
    struct state *st = fresh("check-place.state");
    if (!CHECK(st != NULL))
        return;
    struct state_slot *slot = state_find_slot(st, "payments", true);
    unsigned i = (unsigned)(slot - st->slots), next = (i + 1) % STATE_SLOTS;
    char want[128];
    memcpy(&st->slots[next], slot, sizeof *slot); /* a twin one further on */
    snprintf(want, sizeof want, "slot %u 'payments': same name as slot %u", next, i);
    expect_problem(st, want);
    memset(slot, 0, sizeof *slot); /* now only the twin, past a free slot */
    snprintf(want, sizeof want, "unreachable, free slot %u lies on its probe path", i);
    expect_problem(st, want);
    memset(&st->slots[next], 0, sizeof *slot);
    st->slots[9].breaker.successes = 1;
    expect_problem(st, "slot 9: free (key 0) but 1 bytes of it are not zero");
    state_close(st);
}

static void check_finds_event_problems(void)
{
    struct state *st = fresh("check-events.state");
    if (!CHECK(st != NULL))
        return;
    struct state_slot *slot = state_find_slot(st, "api", true);
    struct breaker_transition tr = {.from = BREAKER_CLOSED, .to = BREAKER_OPEN};
    state_append_event(st, slot, &tr, 1);
    state_append_event(st, slot, &tr, 2);
    st->events[1].seq = 2 * 7 + 2;
    expect_problem(st, "event 1: seq 16 is of event 7, which belongs at index 7");
    st->events[1].seq = 2 * (STATE_EVENTS + 1) + 2;
    expect_problem(st, "event 1: event 1025, but only 2 were appended");
    st->events[1].seq = 3; /* being written: fine */
    struct state_census census;
    CHECK_INT(check(st, &census), 0);
    CHECK_INT(census.events, 1);
    st->events[0].to = 9;
    expect_problem(st, "event 0: impossible transition 0 -> 9");
    st->events[0].to = 1;
    st->events[0].slot = 77;
    expect_problem(st, "event 0: names slot 77, which is not claimed");
    state_close(st);
}

static void check_survives_random_slots_and_events(void)
{
    struct state *st = fresh("check-random.state");
    if (!CHECK(st != NULL))
        return;
    unsigned char *body = (unsigned char *)st->slots;
    srand(6);
    for (size_t i = 0; i < STATE_FILE_SIZE - STATE_HEADER_SIZE; i++)
        body[i] = (unsigned char)(rand() % 4 ? 0 : rand());
    st->header->events_appended = (uint64_t)rand() << 20;
    struct state_census census;
    CHECK(check(st, &census) > STATE_SLOTS / 2);
    state_close(st);
}

static void check_file_judges_the_file_itself(void)
{
    struct state_census census;
    char good[256];
    snprintf(good, sizeof good, "%s", path_in_dir("check-file.state"));
    state_close(fresh("check-file.state"));
    problems[0] = '\0';
    CHECK_INT(state_check_file(good, collect, NULL, &census), 0);
    chmod(good, 0620);
    CHECK_INT(state_check_file(good, collect, NULL, &census), 1);
    CHECK(strstr(problems, "has mode 0620: writable by group or others") != NULL);
    const char *fifo = path_in_dir("check-fifo.state");
    mkfifo(fifo, 0600);
    problems[0] = '\0';
    CHECK_INT(state_check_file(fifo, collect, NULL, &census), 1);
    CHECK(strstr(problems, "is a FIFO, not a regular file") != NULL);
}

static void recreate_replaces_but_never_follows(void)
{
    char err[512], target[256], link[256];
    snprintf(target, sizeof target, "%s", path_in_dir("recreate-target"));
    snprintf(link, sizeof link, "%s", path_in_dir("recreate.state"));
    FILE *f = fopen(target, "w");
    fputs("keep", f);
    fclose(f);
    CHECK_INT(symlink(target, link), 0);
    CHECK_INT(state_recreate(link, err, sizeof err), 0);
    struct stat sb;
    CHECK_INT(lstat(link, &sb), 0);
    CHECK(S_ISREG(sb.st_mode) && (sb.st_mode & 0777) == 0600);
    CHECK_INT(stat(target, &sb), 0);
    CHECK_INT(sb.st_size, 4);
    struct state *st = state_open(link, false, err, sizeof err);
    CHECK(st != NULL);
    state_close(st);
    const char *subdir = path_in_dir("recreate-dir.state");
    mkdir(subdir, 0700);
    CHECK_INT(state_recreate(subdir, err, sizeof err), -1);
    CHECK(strstr(err, "is a directory; not replacing it") != NULL);
}

int main(void)
{
    if (!mkdtemp(dir))
        return 1;
    RUN(layout_is_pinned);
    RUN(creates_a_private_initialised_file);
    RUN(fills_the_holes_of_a_sparse_file);
    RUN(missing_without_create_is_enoent);
    RUN(refuses_what_it_must);
    RUN(slots_are_found_by_name_and_claimed_once);
    RUN(a_full_table_has_no_slot_for_a_new_name);
    RUN(events_ring_keeps_the_latest);
    RUN(check_passes_a_good_file_and_counts);
    RUN(check_names_header_problems);
    RUN(check_names_slot_problems);
    RUN(check_finds_misplaced_and_stray_slots);
    RUN(check_finds_event_problems);
    RUN(check_survives_random_slots_and_events);
    RUN(check_file_judges_the_file_itself);
    RUN(recreate_replaces_but_never_follows);
    RUN(per_host_breakers_are_bounded_and_reuse_the_least_recent);
    RUN(a_tombstone_keeps_the_names_behind_it_reachable);
    RUN(reclaim_gives_back_only_idle_slots);
    RUN(reclaim_survives_a_burier_killed_midway);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        return 1;
    return unit_done();
}
