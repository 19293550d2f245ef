#include "state.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clock.h"
#include "keep_errno.h"
#include "progname.h"
#include "refusal.h"
#include "sigbus.h"
#include "temp_file.h"

_Static_assert(sizeof(struct state_header) == STATE_HEADER_SIZE, "header size");
_Static_assert(sizeof(struct state_slot) == STATE_SLOT_SIZE, "slot size");
_Static_assert(sizeof(struct state_event) == STATE_EVENT_SIZE, "event size");

static bool is_private_dir(const char *dir)
{
    struct stat sb;
    return dir && dir[0] == '/' && stat(dir, &sb) == 0 && S_ISDIR(sb.st_mode) &&
           sb.st_uid == geteuid() && (sb.st_mode & 077) == 0;
}

static bool is_dir(const char *dir)
{
    struct stat sb;
    return stat(dir, &sb) == 0 && S_ISDIR(sb.st_mode);
}

int state_default_path(char *buf, size_t len)
{
    const char *xdg = secure_getenv("XDG_RUNTIME_DIR");
    int n;
    if (is_private_dir(xdg)) {
        n = snprintf(buf, len, "%s/fusebox.state", xdg);
    } else {
        const char *dir = "/dev/shm";
        if (!is_dir(dir)) {
            const char *tmp = secure_getenv("TMPDIR");
            dir = tmp && tmp[0] == '/' ? tmp : "/tmp";
        }
        n = snprintf(buf, len, "%s/fusebox-%u.state", dir, (unsigned)geteuid());
    }
    return n > 0 && (size_t)n < len ? 0 : -1;
}

/* Whether gid is the group STATE_GROUP. Looks it up (NSS may read files or
 * ask a daemon), so it is called only for what has the marks of sharing. */
static bool is_state_group(gid_t gid)
{
    bool yes = false;
    int rc = ERANGE;
    for (size_t size = 1024; rc == ERANGE && size <= (1u << 20); size *= 4) {
        char *buf = malloc(size);
        struct group grp, *found = NULL;
        if (!buf)
            break;
        rc = getgrnam_r(STATE_GROUP, &grp, buf, size, &found);
        yes = rc == 0 && found && found->gr_gid == gid;
        free(buf);
    }
    return yes;
}

bool state_group_shared(const struct stat *sb)
{
    return S_ISREG(sb->st_mode) && (sb->st_mode & 07777) == 0660 && is_state_group(sb->st_gid);
}

/* Whether the directory of path is set-group-ID and of group STATE_GROUP:
 * a file made there is shared by the group (mode 0660). */
static bool in_shared_dir(const char *path)
{
    char dir[4096];
    const char *slash = strrchr(path, '/');
    struct stat sb;
    if (!slash)
        snprintf(dir, sizeof dir, ".");
    else if (snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path) >= (int)sizeof dir)
        return false;
    return stat(*dir ? dir : "/", &sb) == 0 && S_ISDIR(sb.st_mode) && (sb.st_mode & S_ISGID) &&
           is_state_group(sb.st_gid);
}

static void init_header(struct state_header *h)
{
    h->layout_version = STATE_LAYOUT_VERSION;
    h->header_size = STATE_HEADER_SIZE;
    h->file_size = STATE_FILE_SIZE;
    h->slot_count = STATE_SLOTS;
    h->slot_size = STATE_SLOT_SIZE;
    h->event_count = STATE_EVENTS;
    h->event_size = STATE_EVENT_SIZE;
    h->created_wall_ms = clock_wall_ms();
    memcpy(h->magic, STATE_MAGIC, sizeof STATE_MAGIC);
}

/* Makes a fully initialised file under a temporary name, its space reserved
 * (no page of it can later fail to be backed), and gives it the name path
 * (replace false: with link, only where nothing is; true: with rename, in
 * place of what is there), so no process ever sees a half-made file. Nothing is mapped, so a
 * full filesystem is an error, not a SIGBUS; the temporary file is removed
 * whatever fails. Returns 0, or -1 with errno (EEXIST from link: another
 * process made it first; ENOSPC: no room for it). */
/* (A flag rather than a pointer to link or rename: their addresses would
 * cost every process that loads the shim two symbol lookups at start.) */
static int create_file(const char *path, bool replace)
{
    char tmp[4096];
    if (snprintf(tmp, sizeof tmp, "%s.XXXXXX", path) >= (int)sizeof tmp) {
        errno = ENAMETOOLONG;
        return -1;
    }
    int fd = temp_file_create(tmp);
    if (fd < 0)
        return -1;
    struct state_header header = {0};
    init_header(&header);
    int err = fchmod(fd, in_shared_dir(path) ? 0660 : 0600) != 0
                  ? errno
                  : posix_fallocate(fd, 0, (off_t)STATE_FILE_SIZE);
    if (err == 0) {
        ssize_t n = pwrite(fd, &header, sizeof header, 0);
        err = n == (ssize_t)sizeof header ? 0 : n < 0 ? errno : EIO;
    }
    if (err == 0 && (replace ? rename(tmp, path) : link(tmp, path)) != 0)
        err = errno;
    if (err != 0 || !replace)
        unlink(tmp);
    close(fd);
    errno = err;
    return err ? -1 : 0;
}

bool state_header_is_valid(const struct state_header *h)
{
    return memcmp(h->magic, STATE_MAGIC, sizeof STATE_MAGIC) == 0 &&
           h->layout_version == STATE_LAYOUT_VERSION && h->header_size == STATE_HEADER_SIZE &&
           h->file_size == STATE_FILE_SIZE && h->slot_count == STATE_SLOTS &&
           h->slot_size == STATE_SLOT_SIZE && h->event_count == STATE_EVENTS &&
           h->event_size == STATE_EVENT_SIZE;
}

/* Checks what fstat says of an open state file; returns NULL or the reason. */
static const char *refusal(const struct stat *sb)
{
    if (!S_ISREG(sb->st_mode))
        return "not a regular file";
    bool shared = (sb->st_mode & 022) && state_group_shared(sb);
    if ((sb->st_mode & 022) && !shared)
        return (sb->st_mode & 07777) == 0660
                   ? "writable by group or others (a shared file's group must be " STATE_GROUP ")"
                   : "writable by group or others";
    if (sb->st_uid != geteuid() && !shared)
        return "owned by another user";
    if ((size_t)sb->st_size != STATE_FILE_SIZE)
        return "wrong size (another layout version?)";
    return NULL;
}

static int open_existing(const char *path, bool create)
{
    for (int attempt = 0; attempt < 3; attempt++) {
        int fd = open(path, O_RDWR | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
        if (fd >= 0 || errno != ENOENT || !create)
            return fd;
        if (create_file(path, false) == 0 || errno == EEXIST)
            continue;
        return -1;
    }
    errno = ENOENT;
    return -1;
}

/* Gives every page of the open state file fd (fstat: sb) its space: a file
 * made before fusebox reserved space, or truncated and extended since, has
 * holes, which are filled now (their contents stay zero). Returns 0, or the
 * errno why they cannot be (ENOSPC). A filesystem that allocates nothing
 * ahead (ZFS) is taken at its word. */
static int fill_holes(int fd, const struct stat *sb)
{
    if ((uint64_t)sb->st_blocks * 512u >= STATE_FILE_SIZE)
        return 0;
    return posix_fallocate(fd, 0, (off_t)STATE_FILE_SIZE);
}

/* Checks the open file fd as a state file: NULL, or the reason it is refused
 * (with *sys, when not 0, the errno behind it). */
static const char *unusable(int fd, int *sys)
{
    struct stat sb;
    struct state_header h;
    *sys = 0;
    if (fstat(fd, &sb) != 0) {
        *sys = errno;
        return "cannot stat it";
    }
    const char *why = refusal(&sb);
    if (why)
        return why;
    if (pread(fd, &h, sizeof h, 0) != (ssize_t)sizeof h || !state_header_is_valid(&h))
        return "not a fusebox state file of this layout version";
    if ((*sys = fill_holes(fd, &sb)) != 0)
        return "it has holes, and its space cannot be reserved";
    return NULL;
}

struct state *state_open(const char *path, bool create, char *err, size_t errlen)
{
    int fd = open_existing(path, create), sys = 0;
    if (fd < 0) {
        KEEP_ERRNO();
        refuse(err, errlen, "state file %s: %s", path,
               errno == ELOOP ? "is a symbolic link" : strerror(errno));
        return NULL;
    }
    const char *why = unusable(fd, &sys);
    struct state *st = why ? NULL : calloc(1, sizeof *st);
    void *map = MAP_FAILED;
    if (st) {
        map = mmap(NULL, STATE_FILE_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        if (map == MAP_FAILED || !sigbus_guard(map, STATE_FILE_SIZE, &st->lost)) {
            why = map == MAP_FAILED ? "cannot map it" : "cannot guard its mapping";
            sys = errno;
        }
    } else if (!why) {
        why = "out of memory";
    }
    close(fd);
    if (why) {
        refuse(err, errlen, "state file %s: %s%s%s", path, why, sys ? ": " : "",
               sys ? strerror(sys) : "");
        if (map != MAP_FAILED)
            munmap(map, STATE_FILE_SIZE);
        free(st);
        errno = EINVAL;
        return NULL;
    }
    st->header = map;
    st->slots = (struct state_slot *)((char *)map + STATE_HEADER_SIZE);
    st->events = (struct state_event *)((char *)map + STATE_HEADER_SIZE +
                                        (size_t)STATE_SLOTS * STATE_SLOT_SIZE);
    st->size = STATE_FILE_SIZE;
    return st;
}

void state_close(struct state *st)
{
    if (!st)
        return;
    sigbus_unguard(st->header);
    munmap(st->header, st->size);
    free(st);
}

uint64_t state_name_hash(const char *name)
{
    uint64_t h = UINT64_C(14695981039346656037);
    for (const unsigned char *p = (const unsigned char *)name; *p; p++)
        h = (h ^ *p) * UINT64_C(1099511628211);
    return h > STATE_KEY_BUSY ? h : h + STATE_KEY_BUSY + 1;
}

static void pack_name(const char *name, uint64_t words[STATE_NAME_MAX / 8])
{
    memset(words, 0, STATE_NAME_MAX);
    size_t len = strnlen(name, STATE_NAME_MAX - 1);
    memcpy(words, name, len);
}

static bool slot_has_name(const struct state_slot *slot, const uint64_t words[STATE_NAME_MAX / 8])
{
    for (size_t i = 0; i < STATE_NAME_MAX / 8; i++)
        if (atomic_load_explicit(&slot->name_words[i], memory_order_relaxed) != words[i])
            return false;
    return true;
}

/* Writes the name into a slot whose key we (or a process that died before
 * finishing) claimed; every writer writes the same bytes. */
static void publish_name(struct state_slot *slot, const uint64_t words[STATE_NAME_MAX / 8])
{
    for (size_t i = 0; i < STATE_NAME_MAX / 8; i++)
        atomic_store_explicit(&slot->name_words[i], words[i], memory_order_relaxed);
    atomic_store_explicit(&slot->name_ready, 1, memory_order_release);
}

/* Wipes a slot this process has just claimed or is giving up, all but its
 * key: a tombstone may hold what a late writer left in it. */
static void wipe_slot(struct state_slot *slot)
{
    atomic_store_explicit(&slot->name_ready, 0, memory_order_relaxed);
    atomic_store_explicit(&slot->owner, 0, memory_order_relaxed);
    for (size_t i = 0; i < STATE_NAME_MAX / 8; i++)
        atomic_store_explicit(&slot->name_words[i], 0, memory_order_relaxed);
    memset((void *)&slot->breaker, 0, sizeof slot->breaker);
    atomic_store_explicit(&slot->used_wall_ms, 0, memory_order_relaxed);
    atomic_store_explicit(&slot->gc_calls, 0, memory_order_relaxed);
    atomic_store_explicit(&slot->gc_since_ms, 0, memory_order_relaxed);
    atomic_store_explicit(&slot->fleet_quorum, 0, memory_order_relaxed);
}

/* Takes the slot named by key to bury it: busy, one CAS (sequentially
 * consistent: see mark_used), so of two buriers one wins and no lookup finds
 * it meanwhile. A process killed while it holds it leaves a busy slot that
 * nobody waits for. Returns false when the slot no longer has that key. */
static bool take_to_bury(struct state_slot *slot, uint64_t key)
{
    return key > STATE_KEY_BUSY &&
           atomic_compare_exchange_strong_explicit(&slot->key, &key, STATE_KEY_BUSY,
                                                   memory_order_seq_cst, memory_order_acquire);
}

/* Buries a slot taken by take_to_bury: wiped, then a reusable tombstone. */
static void bury_taken(struct state_slot *slot)
{
    wipe_slot(slot);
    atomic_store_explicit(&slot->key, STATE_KEY_TOMBSTONE, memory_order_release);
}

/* Gives a slot taken by take_to_bury back as it was. */
static void untake(struct state_slot *slot, uint64_t key)
{
    atomic_store_explicit(&slot->key, key, memory_order_release);
}

/* Returns the slot before mine on key's probe path that has key and our name
 * (or no name yet), or NULL. Two processes that claimed different slots for
 * one name (one took a tombstone the other had passed while it was still
 * alive) both look: the earlier slot wins. */
static struct state_slot *earlier_claim(struct state *st, const struct state_slot *mine,
                                        uint64_t key, const uint64_t words[STATE_NAME_MAX / 8])
{
    for (uint32_t j = (uint32_t)(key % STATE_SLOTS); &st->slots[j] != mine;
         j = (j + 1) % STATE_SLOTS) {
        struct state_slot *slot = &st->slots[j];
        if (atomic_load_explicit(&slot->key, memory_order_acquire) == key &&
            (!atomic_load_explicit(&slot->name_ready, memory_order_acquire) ||
             slot_has_name(slot, words)))
            return slot;
    }
    return NULL;
}

/* Looks name up along its probe path; with claim, takes the first
 * tombstone on the path, or else the free slot that ends it. Sets *claimed
 * when this call claimed the slot it returns. */
static struct state_slot *find_on_path(struct state *st, const char *name, bool claim,
                                       bool *claimed)
{
    uint64_t key = state_name_hash(name), words[STATE_NAME_MAX / 8];
    pack_name(name, words);
    *claimed = false;
    for (uint32_t attempt = 0; attempt < STATE_SLOTS; attempt++) { /* something moved: again */
        struct state_slot *tombstone = NULL, *slot = NULL, *found = NULL;
        uint64_t seen = 0;
        bool moved = false;
        for (uint32_t i = 0; i < STATE_SLOTS && !found && !moved; i++) {
            slot = &st->slots[(key + i) % STATE_SLOTS];
            seen = atomic_load_explicit(&slot->key, memory_order_acquire);
            if (seen == 0)
                break;
            if (seen == STATE_KEY_TOMBSTONE && !tombstone)
                tombstone = slot;
            if (seen != key)
                continue;
            if (!atomic_load_explicit(&slot->name_ready, memory_order_acquire)) {
                publish_name(slot, words); /* its claimer died before writing it */
                moved = atomic_load_explicit(&slot->key, memory_order_acquire) != key;
                found = moved ? NULL : slot; /* unless it was being buried meanwhile */
            } else if (slot_has_name(slot, words)) {
                found = slot;
            }
        }
        if (found)
            return found;
        if (moved)
            continue;
        if (!claim || (seen != 0 && !tombstone))
            return NULL; /* not there (the table is full when no slot is free) */
        if (tombstone) { /* the name is nowhere on its path: reuse the tombstone */
            slot = tombstone;
            seen = STATE_KEY_TOMBSTONE;
        }
        if (!atomic_compare_exchange_strong_explicit(&slot->key, &seen, key, memory_order_acq_rel,
                                                     memory_order_acquire))
            continue;
        if (tombstone)
            wipe_slot(slot);
        publish_name(slot, words);
        struct state_slot *earlier = earlier_claim(st, slot, key, words);
        if (!earlier) {
            *claimed = true;
            return slot;
        }
        if (take_to_bury(slot, key))
            bury_taken(slot);
        publish_name(earlier, words);
        return earlier;
    }
    return NULL;
}

/* Dates the use of a slot just found for name (key key); false when it was
 * taken to be buried meanwhile. The date is stored, and the key read back,
 * in sequential consistency, as take_to_bury takes it and state_reclaim
 * reads the date back: either the burier sees the date and gives the slot
 * back, or this sees the slot is gone. */
static bool mark_used(struct state_slot *slot, uint64_t key)
{
    atomic_store_explicit(&slot->used_wall_ms, clock_wall_ms(), memory_order_seq_cst);
    return atomic_load_explicit(&slot->key, memory_order_seq_cst) == key;
}

struct state_slot *state_find_slot(struct state *st, const char *name, bool claim)
{
    bool claimed;
    uint64_t key = state_name_hash(name);
    for (uint32_t attempt = 0; attempt < STATE_SLOTS; attempt++) { /* buried meanwhile: again */
        struct state_slot *slot = find_on_path(st, name, claim, &claimed);
        if (!slot || !claim || mark_used(slot, key))
            return slot;
    }
    return NULL;
}

/* Returns the evictable child of parent (index parent_index) used least
 * recently, or NULL: a child whose breaker is closed with no failure counted,
 * so that forgetting it forgets nothing. Counts the parent's children in
 * *children (the parent's own count may have leaked: see state_find_host). */
static struct state_slot *least_recent_child(struct state *st, uint32_t parent_index,
                                             uint32_t *children)
{
    struct state_slot *best = NULL;
    uint64_t best_ms = UINT64_MAX;
    *children = 0;
    for (uint32_t i = 0; i < STATE_SLOTS; i++) {
        struct state_slot *s = &st->slots[i];
        if (atomic_load_explicit(&s->owner, memory_order_acquire) != parent_index + 1 ||
            atomic_load_explicit(&s->key, memory_order_acquire) <= STATE_KEY_BUSY)
            continue;
        ++*children;
        if (!breaker_is_clean(&s->breaker))
            continue;
        uint64_t used = atomic_load_explicit(&s->breaker.last_call_ms, memory_order_relaxed);
        if (used < best_ms) {
            best = s;
            best_ms = used;
        }
    }
    return best;
}

/* Gives up child (of parent) for reuse, unless another process took it
 * first or it stopped being clean (it failed or opened) meanwhile. */
static void evict_child(struct state_slot *parent, struct state_slot *child)
{
    uint64_t key = atomic_load_explicit(&child->key, memory_order_acquire);
    if (!take_to_bury(child, key))
        return;
    if (!breaker_is_clean(&child->breaker)) {
        untake(child, key);
        return;
    }
    bury_taken(child);
    atomic_fetch_sub_explicit(&parent->breaker.hosts, 1, memory_order_relaxed);
}

/* The calls counted in a slot: each call the breaker decided counts once. */
static uint64_t calls_of(const struct state_slot *slot)
{
    const struct breaker_slot *b = &slot->breaker;
    return atomic_load_explicit(&b->successes, memory_order_relaxed) +
           atomic_load_explicit(&b->failures, memory_order_relaxed) +
           atomic_load_explicit(&b->rejected, memory_order_relaxed) +
           atomic_load_explicit(&b->fallbacks, memory_order_relaxed);
}

/* When a named slot was last seen used, at now_wall_ms: the latest of its
 * last transition, a process beginning to use it, and the first look (by
 * this function) at its present count of calls, which it notes then. A
 * date ahead of now (the clock went back) counts as now. */
static uint64_t last_used(struct state_slot *slot, uint64_t now_wall_ms)
{
    uint64_t calls = calls_of(slot);
    uint64_t since = atomic_load_explicit(&slot->gc_since_ms, memory_order_relaxed);
    if (since == 0 || atomic_load_explicit(&slot->gc_calls, memory_order_relaxed) != calls) {
        atomic_store_explicit(&slot->gc_calls, calls, memory_order_relaxed);
        atomic_store_explicit(&slot->gc_since_ms, now_wall_ms, memory_order_relaxed);
        since = now_wall_ms;
    }
    uint64_t changed = atomic_load_explicit(&slot->breaker.changed_at_wall, memory_order_relaxed);
    uint64_t used = atomic_load_explicit(&slot->used_wall_ms, memory_order_seq_cst);
    uint64_t last = since > changed ? since : changed;
    last = used > last ? used : last;
    return last < now_wall_ms ? last : now_wall_ms;
}

/* True when the breaker in slot is an operator's: forced open or disabled. */
static bool operator_state(const struct state_slot *slot)
{
    enum breaker_state st = breaker_view(&slot->breaker).state;
    return st == BREAKER_FORCED_OPEN || st == BREAKER_DISABLED;
}

enum state_reclaim state_reclaim(struct state_slot *slot, uint64_t key, uint64_t idle_ms,
                                 uint64_t now_wall_ms)
{
    if (atomic_load_explicit(&slot->key, memory_order_acquire) != key)
        return STATE_KEPT_GONE;
    if (operator_state(slot))
        return STATE_KEPT_OPERATOR;
    uint64_t used = last_used(slot, now_wall_ms);
    if (now_wall_ms - used < idle_ms)
        return STATE_KEPT_USED;
    if (!take_to_bury(slot, key))
        return STATE_KEPT_GONE;
    if (operator_state(slot) || last_used(slot, now_wall_ms) != used) { /* in use meanwhile */
        untake(slot, key);
        return STATE_KEPT_USED;
    }
    bury_taken(slot);
    return STATE_RECLAIMED;
}

struct state_slot *state_find_host(struct state *st, struct state_slot *parent, const char *name,
                                   uint32_t max_hosts)
{
    bool claimed;
    struct state_slot *slot = find_on_path(st, name, false, &claimed);
    uint32_t parent_index = (uint32_t)(parent - st->slots), children;
    for (int round = 0; !slot && round < 3; round++) {
        uint32_t hosts = atomic_fetch_add_explicit(&parent->breaker.hosts, 1, memory_order_relaxed);
        if (hosts < max_hosts) {
            slot = find_on_path(st, name, true, &claimed);
            if (slot && claimed)
                atomic_store_explicit(&slot->owner, parent_index + 1, memory_order_release);
            else
                atomic_fetch_sub_explicit(&parent->breaker.hosts, 1, memory_order_relaxed);
            return slot;
        }
        atomic_fetch_sub_explicit(&parent->breaker.hosts, 1, memory_order_relaxed);
        struct state_slot *victim = least_recent_child(st, parent_index, &children);
        if (children < max_hosts) /* a process killed mid-claim left the count high */
            atomic_store_explicit(&parent->breaker.hosts, children, memory_order_relaxed);
        else if (!victim)
            return NULL;
        else
            evict_child(parent, victim);
    }
    return slot;
}

bool state_slot_name(const struct state_slot *slot, char *buf)
{
    if (atomic_load_explicit(&slot->key, memory_order_acquire) <= STATE_KEY_BUSY ||
        !atomic_load_explicit(&slot->name_ready, memory_order_acquire))
        return false;
    uint64_t words[STATE_NAME_MAX / 8];
    for (size_t i = 0; i < STATE_NAME_MAX / 8; i++)
        words[i] = atomic_load_explicit(&slot->name_words[i], memory_order_relaxed);
    memcpy(buf, words, STATE_NAME_MAX);
    buf[STATE_NAME_MAX - 1] = '\0';
    return buf[0] != '\0';
}

void state_append_event(struct state *st, const struct state_slot *slot,
                        const struct breaker_transition *tr, uint64_t wall_ms)
{
    KEEP_ERRNO();
    uint64_t n = atomic_fetch_add_explicit(&st->header->events_appended, 1, memory_order_relaxed);
    struct state_event *ev = &st->events[n % STATE_EVENTS];
    uint64_t comm[2] = {0, 0};
    const char *name = program_name();
    memcpy(comm, name, strnlen(name, sizeof comm));
    atomic_store_explicit(&ev->seq, 2 * n + 1, memory_order_relaxed);
    /* Release stores: a reader that sees any of them sees the odd seq too. */
    atomic_store_explicit(&ev->wall_ms, wall_ms, memory_order_release);
    atomic_store_explicit(&ev->slot, (uint32_t)(slot - st->slots), memory_order_release);
    atomic_store_explicit(&ev->pid, (uint32_t)getpid(), memory_order_release);
    atomic_store_explicit(&ev->count, tr->count, memory_order_release);
    atomic_store_explicit(&ev->from, tr->from, memory_order_release);
    atomic_store_explicit(&ev->to, tr->to, memory_order_release);
    atomic_store_explicit(&ev->cause, tr->cause, memory_order_release);
    atomic_store_explicit(&ev->cls, tr->cls, memory_order_release);
    atomic_store_explicit(&ev->comm[0], comm[0], memory_order_release);
    atomic_store_explicit(&ev->comm[1], comm[1], memory_order_release);
    atomic_store_explicit(&ev->seq, 2 * n + 2, memory_order_release);
}

uint64_t state_events_appended(const struct state *st)
{
    return atomic_load_explicit(&st->header->events_appended, memory_order_acquire);
}

bool state_read_event(const struct state *st, uint64_t n, struct event_record *out)
{
    const struct state_event *ev = &st->events[n % STATE_EVENTS];
    if (atomic_load_explicit(&ev->seq, memory_order_acquire) != 2 * n + 2)
        return false;
    uint64_t comm[2] = {atomic_load_explicit(&ev->comm[0], memory_order_acquire),
                        atomic_load_explicit(&ev->comm[1], memory_order_acquire)};
    *out = (struct event_record){
        .seq = n,
        .wall_ms = atomic_load_explicit(&ev->wall_ms, memory_order_acquire),
        .slot = atomic_load_explicit(&ev->slot, memory_order_acquire),
        .pid = atomic_load_explicit(&ev->pid, memory_order_acquire),
        .tr = {.from = atomic_load_explicit(&ev->from, memory_order_acquire),
               .to = atomic_load_explicit(&ev->to, memory_order_acquire),
               .cause = atomic_load_explicit(&ev->cause, memory_order_acquire),
               .cls = atomic_load_explicit(&ev->cls, memory_order_acquire),
               .count = atomic_load_explicit(&ev->count, memory_order_acquire)},
    };
    memcpy(out->comm, comm, sizeof comm);
    out->comm[16] = '\0';
    if (atomic_load_explicit(&ev->seq, memory_order_relaxed) != 2 * n + 2 ||
        out->slot >= STATE_SLOTS)
        return false;
    if (!state_slot_name(&st->slots[out->slot], out->breaker))
        strcpy(out->breaker, "?");
    return true;
}

int state_recreate(const char *path, char *err, size_t errlen)
{
    struct stat sb;
    bool exists = lstat(path, &sb) == 0;
    if (exists && S_ISDIR(sb.st_mode)) {
        refuse(err, errlen, "state file %s is a directory; not replacing it", path);
        return -1;
    }
    if (exists && sb.st_uid != geteuid()) {
        refuse(err, errlen, "state file %s is owned by uid %u, not by this user; not replacing it",
               path, (unsigned)sb.st_uid);
        return -1;
    }
    if (create_file(path, true) != 0) {
        refuse(err, errlen, "state file %s: cannot replace it: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}
