#include "state_check.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The state of a check: where problems go and how many there were. */
struct checker {
    state_problem_fn *problem;
    void *ctx;
    size_t count;
};

__attribute__((format(printf, 2, 3))) static void flag(struct checker *c, const char *fmt, ...)
{
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    c->problem(c->ctx, line);
    c->count++;
}

/* Checks the header and the file's length; true when the rest can be read
 * with this layout. */
static bool check_header(struct checker *c, const struct state_header *h, size_t len)
{
    if (len < sizeof *h) {
        flag(c, "file is %zu bytes, shorter than the %u-byte header", len, STATE_HEADER_SIZE);
        return false;
    }
    if (memcmp(h->magic, STATE_MAGIC, sizeof STATE_MAGIC) != 0) {
        flag(c, "header: no magic \"%s\" (not a fusebox state file)", STATE_MAGIC);
        return false;
    }
    static const struct {
        const char *name;
        size_t offset, width;
        uint64_t want;
    } fields[] = {
        {"layout version", offsetof(struct state_header, layout_version), 4, STATE_LAYOUT_VERSION},
        {"header size", offsetof(struct state_header, header_size), 4, STATE_HEADER_SIZE},
        {"file size", offsetof(struct state_header, file_size), 8, STATE_FILE_SIZE},
        {"slot count", offsetof(struct state_header, slot_count), 4, STATE_SLOTS},
        {"slot size", offsetof(struct state_header, slot_size), 4, STATE_SLOT_SIZE},
        {"event count", offsetof(struct state_header, event_count), 4, STATE_EVENTS},
        {"event size", offsetof(struct state_header, event_size), 4, STATE_EVENT_SIZE},
    };
    size_t before = c->count;
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
        uint64_t got = 0;
        memcpy(&got, (const char *)h + fields[i].offset, fields[i].width); /* little-endian */
        if (got != fields[i].want)
            flag(c, "header: %s is %llu, this fusebox reads %llu", fields[i].name,
                 (unsigned long long)got, (unsigned long long)fields[i].want);
    }
    if (c->count == before && len != STATE_FILE_SIZE)
        flag(c, "file is %zu bytes, its header says %zu", len, STATE_FILE_SIZE);
    return c->count == before;
}

/* A free slot: nothing writes to a slot before claiming it, so every byte is
 * zero unless a process claimed it while we looked (its key is then set). */
static void check_free_slot(struct checker *c, const struct state_slot *s, uint32_t i)
{
    const unsigned char *bytes = (const unsigned char *)s;
    size_t nonzero = 0;
    for (size_t k = 0; k < sizeof *s; k++)
        nonzero += bytes[k] != 0;
    if (nonzero && atomic_load_explicit(&s->key, memory_order_acquire) == 0)
        flag(c, "slot %u: free (key 0) but %zu bytes of it are not zero", i, nonzero);
}

/* Counters no process can reach: 2^56 calls is two years at a billion a
 * second, so a larger one is garbage (and would overflow calls = sum). */
#define COUNTER_MAX (UINT64_C(1) << 56)

/* Checks a named slot's breaker: state word and bounds. */
static void check_breaker(struct checker *c, const struct breaker_slot *b, const char *label)
{
    struct breaker_view v = breaker_view(b);
    if (v.state >= BREAKER_STATE_COUNT) {
        flag(c, "%s: state word has impossible state %u", label, (unsigned)v.state);
    } else if (v.state != BREAKER_HALF_OPEN && (v.probes_in_flight || v.probe_successes)) {
        flag(c, "%s: state %s with %u probes in flight and %u probe successes", label,
             breaker_state_name(v.state), v.probes_in_flight, v.probe_successes);
    } else if (v.probe_successes >= BREAKER_MAX_THRESHOLD) {
        flag(c, "%s: %u probe successes, more than any success_threshold allows", label,
             v.probe_successes);
    }
    if ((v.state == BREAKER_CLOSED || v.state == BREAKER_DISABLED) && v.time_ms)
        flag(c, "%s: state %s with a retry time set", label, breaker_state_name(v.state));
    uint32_t fail_max = atomic_load_explicit(&b->fail_max, memory_order_relaxed);
    if (fail_max > BREAKER_MAX_FAIL_MAX)
        flag(c, "%s: fail_max %u is above %u", label, fail_max, BREAKER_MAX_FAIL_MAX);
    const struct {
        const char *name;
        const _Atomic uint64_t *value;
    } counters[] = {{"successes", &b->successes},
                    {"failures", &b->failures},
                    {"rejected", &b->rejected},
                    {"trips", &b->trips},
                    {"fallbacks", &b->fallbacks}};
    for (size_t i = 0; i < sizeof counters / sizeof counters[0]; i++) {
        uint64_t n = atomic_load_explicit(counters[i].value, memory_order_relaxed);
        if (n >= COUNTER_MAX)
            flag(c, "%s: %s counter %llu is implausible", label, counters[i].name,
                 (unsigned long long)n);
    }
}

/* Checks that slot i (key, name) is where state_find_slot looks for it: every
 * slot from its home to it is claimed, and none of them has the same name. */
static void check_probe_path(struct checker *c, const struct state_slot *slots, uint32_t i,
                             const char *name, const char *label)
{
    uint64_t key = atomic_load_explicit(&slots[i].key, memory_order_acquire);
    char other[STATE_NAME_MAX];
    for (uint32_t j = (uint32_t)(key % STATE_SLOTS); j != i; j = (j + 1) % STATE_SLOTS) {
        uint64_t seen = atomic_load_explicit(&slots[j].key, memory_order_acquire);
        if (seen == 0) {
            flag(c, "%s: unreachable, free slot %u lies on its probe path", label, j);
            return;
        }
        if (seen == key && state_slot_name(&slots[j], other) && strcmp(other, name) == 0) {
            flag(c, "%s: same name as slot %u", label, j);
            return;
        }
    }
}

/* Checks slot i; counts it in *breakers when it has a name. */
static void check_slot(struct checker *c, const struct state_slot *slots, uint32_t i,
                       size_t *breakers)
{
    const struct state_slot *s = &slots[i];
    uint64_t key = atomic_load_explicit(&s->key, memory_order_acquire);
    uint32_t ready = atomic_load_explicit(&s->name_ready, memory_order_acquire);
    if (key == 0) {
        check_free_slot(c, s, i);
        return;
    }
    if (key == STATE_KEY_TOMBSTONE || key == STATE_KEY_BUSY)
        return; /* given up (a late writer may have left bytes in it), or being given up */
    if (ready > 1)
        flag(c, "slot %u: name_ready is %u, neither 0 nor 1", i, ready);
    if (ready != 1)
        return; /* claimed, name not written yet: the next user writes it */
    uint64_t words[STATE_NAME_MAX / 8];
    for (size_t k = 0; k < STATE_NAME_MAX / 8; k++)
        words[k] = atomic_load_explicit(&s->name_words[k], memory_order_relaxed);
    char name[STATE_NAME_MAX + 1], label[STATE_NAME_MAX + 32];
    memcpy(name, words, STATE_NAME_MAX);
    name[STATE_NAME_MAX] = '\0';
    size_t len = strlen(name);
    snprintf(label, sizeof label, "slot %u '%.*s'", i, (int)(len < 60 ? len : 60), name);
    if (len == 0)
        flag(c, "%s: name is empty", label);
    else if (len >= STATE_NAME_MAX)
        flag(c, "%s: name is not NUL-terminated", label);
    else if (memcmp(name + len, (const char[STATE_NAME_MAX]){0}, STATE_NAME_MAX - len) != 0)
        flag(c, "%s: bytes after the name's NUL are not zero", label);
    else if (state_name_hash(name) != key)
        flag(c, "%s: key %#llx is not the hash of the name", label, (unsigned long long)key);
    else
        check_probe_path(c, slots, i, name, label);
    check_breaker(c, &s->breaker, label);
    ++*breakers;
}

/* Checks the event at ring index i; counts it in *events when complete. */
static void check_event(struct checker *c, const struct state_header *h,
                        const struct state_slot *slots, const struct state_event *ev, uint32_t i,
                        size_t *events)
{
    uint64_t seq = atomic_load_explicit(&ev->seq, memory_order_acquire);
    uint64_t appended = atomic_load_explicit(&h->events_appended, memory_order_acquire);
    if (seq == 0)
        return;
    uint64_t n = (seq - 1) / 2;
    if (n % STATE_EVENTS != i) {
        flag(c, "event %u: seq %llu is of event %llu, which belongs at index %llu", i,
             (unsigned long long)seq, (unsigned long long)n,
             (unsigned long long)(n % STATE_EVENTS));
        return;
    }
    if (n >= appended) {
        flag(c, "event %u: event %llu, but only %llu were appended", i, (unsigned long long)n,
             (unsigned long long)appended);
        return;
    }
    if (seq % 2)
        return; /* being written, or its writer died */
    uint32_t slot = atomic_load_explicit(&ev->slot, memory_order_relaxed);
    unsigned from = atomic_load_explicit(&ev->from, memory_order_relaxed);
    unsigned to = atomic_load_explicit(&ev->to, memory_order_relaxed);
    unsigned cause = atomic_load_explicit(&ev->cause, memory_order_relaxed);
    unsigned cls = atomic_load_explicit(&ev->cls, memory_order_relaxed);
    if (atomic_load_explicit(&ev->seq, memory_order_acquire) != seq)
        return; /* overwritten while we read it */
    if (slot >= STATE_SLOTS || !atomic_load_explicit(&slots[slot].key, memory_order_acquire))
        flag(c, "event %u: names slot %u, which is not claimed", i, slot);
    if (from >= BREAKER_STATE_COUNT || to >= BREAKER_STATE_COUNT || cause >= CAUSE_COUNT ||
        cls > OUTCOME_IGNORED)
        flag(c, "event %u: impossible transition %u -> %u, cause %u, class %u", i, from, to, cause,
             cls);
    ++*events;
}

size_t state_check(const void *data, size_t len, state_problem_fn *problem, void *ctx,
                   struct state_census *census)
{
    struct checker c = {problem, ctx, 0};
    *census = (struct state_census){0, 0};
    if (!check_header(&c, data, len))
        return c.count;
    const struct state_header *h = data;
    const struct state_slot *slots = (const void *)((const char *)data + STATE_HEADER_SIZE);
    const struct state_event *events =
        (const void *)((const char *)slots + (size_t)STATE_SLOTS * STATE_SLOT_SIZE);
    for (uint32_t i = 0; i < STATE_SLOTS; i++)
        check_slot(&c, slots, i, &census->breakers);
    for (uint32_t i = 0; i < STATE_EVENTS; i++)
        check_event(&c, h, slots, &events[i], i, &census->events);
    return c.count;
}

static const char *file_type(mode_t mode)
{
    return S_ISDIR(mode)    ? "a directory"
           : S_ISFIFO(mode) ? "a FIFO"
           : S_ISSOCK(mode) ? "a socket"
           : S_ISLNK(mode)  ? "a symbolic link (never followed)"
                            : "a device";
}

/* Checks what lstat says of path; true when its contents can be read. */
static bool check_entry(struct checker *c, const char *path, const struct stat *sb)
{
    if (!S_ISREG(sb->st_mode)) {
        flag(c, "%s is %s, not a regular file", path, file_type(sb->st_mode));
        return false;
    }
    bool shared = state_group_shared(sb);
    if (sb->st_uid != geteuid() && !shared)
        flag(c, "%s is owned by uid %u, not by this user (uid %u)", path, (unsigned)sb->st_uid,
             (unsigned)geteuid());
    if ((sb->st_mode & 022) && !shared)
        flag(c, "%s has mode %04o: writable by group or others", path,
             (unsigned)(sb->st_mode & 07777));
    return true;
}

/* Reads the size bytes of fd into a malloc'd *data (*len: how many one read
 * got; fewer when the file shrank meanwhile). With pread, not a mapping: a
 * page that its filesystem cannot back (a full tmpfs) or that was truncated
 * meanwhile is never a SIGBUS. Returns false with errno on error. */
static bool read_all(int fd, size_t size, char **data, size_t *len)
{
    *data = malloc(size ? size : 1);
    ssize_t n = *data ? pread(fd, *data, size, 0) : -1;
    *len = n > 0 ? (size_t)n : 0;
    return n >= 0;
}

size_t state_check_file(const char *path, state_problem_fn *problem, void *ctx,
                        struct state_census *census)
{
    struct checker c = {problem, ctx, 0};
    struct stat sb;
    *census = (struct state_census){0, 0};
    if (lstat(path, &sb) != 0) {
        flag(&c, "%s: %s", path, strerror(errno));
        return c.count;
    }
    if (!check_entry(&c, path, &sb))
        return c.count;
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    char *data = NULL;
    size_t len = 0;
    if (fd < 0 || fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode))
        flag(&c, "%s: cannot read: %s", path, fd < 0 ? strerror(errno) : "it changed");
    else if (sb.st_size > (off_t)STATE_CHECK_MAX_SIZE)
        flag(&c, "file is %lld bytes, far more than a state file's %zu", (long long)sb.st_size,
             STATE_FILE_SIZE);
    else if (!read_all(fd, (size_t)sb.st_size, &data, &len))
        flag(&c, "%s: cannot read: %s", path, strerror(errno));
    else
        c.count += state_check(data, len, problem, ctx, census);
    free(data);
    if (fd >= 0)
        close(fd);
    return c.count;
}
