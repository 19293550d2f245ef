/* Unit tests of the shared state file (state.c): the layout that every
 * process relies on, safe creation, refusals, slots and the event ring. */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "state.h"
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
    CHECK_INT(offsetof(struct state_slot, key), 0);
    CHECK_INT(offsetof(struct state_slot, name_ready), 8);
    CHECK_INT(offsetof(struct state_slot, name_words), 16);
    CHECK_INT(offsetof(struct state_slot, breaker), 144);
    CHECK_INT(offsetof(struct breaker_slot, word), 0);
    CHECK_INT(offsetof(struct breaker_slot, consecutive_failures), 8);
    CHECK_INT(offsetof(struct breaker_slot, fail_max), 12);
    CHECK_INT(offsetof(struct breaker_slot, successes), 16);
    CHECK_INT(offsetof(struct breaker_slot, failures), 24);
    CHECK_INT(offsetof(struct breaker_slot, rejected), 32);
    CHECK_INT(offsetof(struct breaker_slot, trips), 40);
    CHECK_INT(offsetof(struct breaker_slot, opened_at_wall), 48);
    CHECK_INT(offsetof(struct breaker_slot, changed_at_wall), 56);
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
    CHECK_STR(st->header->magic, STATE_MAGIC);
    CHECK_INT(st->header->layout_version, STATE_LAYOUT_VERSION);
    state_close(st);
    st = state_open(path, false, err, sizeof err); /* and opens it again */
    CHECK(st != NULL);
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
        struct breaker_transition tr = {.from = BREAKER_CLOSED, .to = BREAKER_OPEN,
                                        .cause = CAUSE_FAILURES, .cls = CLASS_REFUSED, .count = i};
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

int main(void)
{
    if (!mkdtemp(dir))
        return 1;
    RUN(layout_is_pinned);
    RUN(creates_a_private_initialised_file);
    RUN(missing_without_create_is_enoent);
    RUN(refuses_what_it_must);
    RUN(slots_are_found_by_name_and_claimed_once);
    RUN(a_full_table_has_no_slot_for_a_new_name);
    RUN(events_ring_keeps_the_latest);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        return 1;
    return unit_done();
}
