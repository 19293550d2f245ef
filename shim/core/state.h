/* state.h — the shared state file: its layout, creating it safely, refusing
 * a foreign or malformed one at open, mapping it, finding breaker slots by
 * name, and the ring of events. (fsck's full checker is cli/state_check.)
 *
 * Every process of a user (or of the group STATE_GROUP, for a file it
 * shares) maps the same file MAP_SHARED. The layout is fixed
 * (tests/unit/test_state.c pins it): a 4 KiB header, STATE_SLOTS slots of
 * 512 bytes, then STATE_EVENTS events of 64 bytes. A slot is claimed by one
 * compare-and-swap of its key (the name's hash); it is given back only as a
 * tombstone (key → busy → wiped → tombstone, so a process killed at any step
 * leaves nothing that anyone waits for): a per-host breaker evicted for
 * another host, or a breaker that fusebox gc finds in no rule and idle. A
 * process that starts never resets a slot that exists. All fields that
 * processes share are atomics.
 *
 * Calls that libfusebox.so interposes: close, on files it opened itself,
 * which its hook passes straight to libc (an untracked fd). */
#ifndef FUSEBOX_STATE_H
#define FUSEBOX_STATE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include "breaker.h"

#define STATE_MAGIC "FUSEBOX"
#define STATE_LAYOUT_VERSION 2u
#define STATE_HEADER_SIZE 4096u
#define STATE_SLOTS 4096u
#define STATE_SLOT_SIZE 512u
#define STATE_EVENTS 1024u
#define STATE_EVENT_SIZE 64u
#define STATE_NAME_MAX 128u /* bytes, with the terminating NUL */
#define STATE_FILE_SIZE                                                                            \
    ((size_t)STATE_HEADER_SIZE + (size_t)STATE_SLOTS * STATE_SLOT_SIZE +                           \
     (size_t)STATE_EVENTS * STATE_EVENT_SIZE)

#define STATE_HOST_ID_MAX 64u        /* bytes, with the terminating NUL */
#define STATE_REDIS_ADDRESS_MAX 272u /* "host:port/db" with the NUL: a 255-byte name fits */

/* The group whose members share a state file of mode 0660 (the Debian
 * package creates it, and the set-group-ID directory /run/fusebox). */
#define STATE_GROUP "fusebox"

/* What the fleet agent (fusebox sync) says of itself, for fusebox status;
 * all zero when no agent ever ran on this file. Written by the agent only,
 * which holds the lock file STATE.sync.lock while it runs. */
struct state_fleet_agent {
    _Atomic uint32_t pid;           /* the running agent; 0 once it stopped cleanly */
    _Atomic uint32_t connected;     /* 1 while it is connected to Redis, else 0 */
    _Atomic uint64_t since_wall_ms; /* CLOCK_REALTIME ms it connected or lost Redis */
    _Atomic uint64_t alive_wall_ms; /* its last sign of life (at least once a second) */
    _Atomic uint64_t host_id[STATE_HOST_ID_MAX / 8]; /* its host id, NUL-padded */
    /* The Redis node it reached last, for status and metrics; the shim never
     * reads these. node_seq is odd while the node_* fields are rewritten. */
    _Atomic uint32_t node_seq;
    _Atomic uint32_t node_role; /* what ROLE said: enum fleet_role (shim/cli/fleet_sentinel.h) */
    _Atomic uint64_t failovers; /* times it followed the primary to another node */
    _Atomic uint64_t node_address[STATE_REDIS_ADDRESS_MAX / 8]; /* "host:port/db", NUL-padded */
    _Atomic uint64_t node_master[STATE_HOST_ID_MAX / 8]; /* Sentinel's name of the primary, or
                                                            empty (a redis:// URL) */
};
#define STATE_FLEET_AGENT_SIZE (40u + 2u * STATE_HOST_ID_MAX + STATE_REDIS_ADDRESS_MAX)

struct state_header {
    char magic[8];
    uint32_t layout_version;
    uint32_t header_size;
    uint64_t file_size;
    uint32_t slot_count, slot_size;
    uint32_t event_count, event_size;
    uint64_t created_wall_ms;
    _Atomic uint64_t events_appended; /* events ever appended; the next goes to this % count */
    struct state_fleet_agent fleet;   /* the fleet agent of this file (fusebox sync) */
    _Atomic uint64_t rules_reloads;   /* raised by fusebox reload: processes look at their
                                         rules source at once */
    uint8_t reserved[STATE_HEADER_SIZE - 64 - STATE_FLEET_AGENT_SIZE];
};

/* Keys that are no name's hash. A tombstone is a per-host breaker's slot
 * given up for reuse: lookups pass it, a claim takes it; busy is a slot
 * being turned into a tombstone. */
#define STATE_KEY_TOMBSTONE 1u
#define STATE_KEY_BUSY 2u

struct state_slot {
    _Atomic uint64_t key;        /* hash of the name; 0: free; or a STATE_KEY_* */
    _Atomic uint32_t name_ready; /* 1 once name_words hold the name */
    _Atomic uint32_t owner;      /* per-host breaker: 1 + its rule's slot index; else 0 */
    _Atomic uint64_t name_words[STATE_NAME_MAX / 8]; /* the name, NUL-padded */
    struct breaker_slot breaker;
    _Atomic uint64_t used_wall_ms; /* CLOCK_REALTIME ms a process last began to use it */
    _Atomic uint64_t gc_calls;     /* fusebox gc: the calls it saw counted when it last looked */
    _Atomic uint64_t gc_since_ms;  /* fusebox gc: CLOCK_REALTIME ms it first saw that count */
    uint8_t reserved[STATE_SLOT_SIZE - 44 - STATE_NAME_MAX - sizeof(struct breaker_slot)];
    _Atomic uint32_t fleet_quorum; /* fleet agent: quorum of a shared breaker; 0: not shared */
};

struct state_event {
    _Atomic uint64_t seq; /* 2n+1 while event n is written, 2n+2 once it is complete */
    _Atomic uint64_t wall_ms;
    _Atomic uint32_t slot;
    _Atomic uint32_t pid;
    _Atomic uint32_t count;
    _Atomic uint8_t from, to, cause, cls;
    _Atomic uint64_t comm[2]; /* program name, NUL-padded */
    uint8_t reserved[STATE_EVENT_SIZE - 48];
};

/* An event as read back from the ring. */
struct event_record {
    uint64_t seq; /* n: the event's number since the file was created */
    uint64_t wall_ms;
    uint32_t slot, pid;
    struct breaker_transition tr;
    char comm[17];
    char breaker[STATE_NAME_MAX];
};

struct state {
    struct state_header *header;
    struct state_slot *slots;
    struct state_event *events;
    size_t size;
    _Atomic bool lost; /* the file was truncated under us: zero pages in its place (sigbus.h) */
};

/* Writes the default state file path into buf: $XDG_RUNTIME_DIR/fusebox.state
 * when that directory is set and private to this user, else
 * /dev/shm/fusebox-EUID.state, else ${TMPDIR:-/tmp}/fusebox-EUID.state.
 * Returns 0, or -1 when the path does not fit. */
int state_default_path(char *buf, size_t len);

/* Whether h is the header of a state file of this layout (magic, version,
 * sizes and counts). */
bool state_header_is_valid(const struct state_header *h);

/* Whether what sb describes is a group-shared state file: a regular file of
 * mode 0660 exactly whose group is STATE_GROUP (looked up only for such a
 * mode). Any member of the group may use it, whoever owns it. */
bool state_group_shared(const struct stat *sb);

/* Maps the state file at path. With create, a missing file is made (mode
 * 0600, or 0660 in a set-group-ID directory of group STATE_GROUP; its space
 * reserved and fully initialised before it appears under its name; on a full
 * filesystem nothing is left behind). Refuses a symlink, a non-regular file,
 * a file of another owner, a group- or world-writable file, a file of the
 * wrong size or of another layout, and a file with holes that cannot be
 * filled (a page that could not be backed would raise SIGBUS); but a
 * group-shared file (see state_group_shared) is not refused for its owner or
 * its mode. The mapping is guarded (sigbus.h): if the file is truncated
 * later, the process keeps running on zero pages and state_lost says so.
 * Returns NULL with a one-line reason in err (errno ENOENT when the file
 * does not exist). */
struct state *state_open(const char *path, bool create, char *err, size_t errlen);

/* True once a bus error replaced st's mapping with zero pages: what it holds
 * is this process's alone and no longer shared. One load. */
static inline bool state_lost(const struct state *st)
{
    return atomic_load_explicit(&st->lost, memory_order_acquire);
}

void state_close(struct state *st);

/* Returns the slot named name, claiming a free one when claim is set; NULL
 * when there is none (not found, or the table is full). With claim (a
 * process about to use the breaker) it also dates its use, so that fusebox
 * gc keeps it. Lock-free. */
struct state_slot *state_find_slot(struct state *st, const char *name, bool claim);

/* Returns the per-host breaker named name (NAME/host:port) of the rule whose
 * slot is parent, claiming one when it does not exist: while the rule has
 * fewer than max_hosts, a free one; else the slot of the rule's least
 * recently used closed host, which is given up for reuse. NULL when every
 * host of the rule is open or failing (the caller then uses the rule's own
 * breaker) or the table is full. Lock-free. */
struct state_slot *state_find_host(struct state *st, struct state_slot *parent, const char *name,
                                   uint32_t max_hosts);

/* What state_reclaim did with a slot. */
enum state_reclaim {
    STATE_RECLAIMED,     /* given back for reuse (a tombstone) */
    STATE_KEPT_USED,     /* used within the idle time */
    STATE_KEPT_OPERATOR, /* forced open or disabled: an operator's decision */
    STATE_KEPT_GONE,     /* no longer the slot of that name (given up or taken meanwhile) */
};

/* fusebox gc, for a slot the caller found named with key key (the name's
 * hash) and that no rules name: gives it back for reuse, as a per-host
 * breaker's slot is given up (busy, wiped, tombstone), when it has not been
 * used for idle_ms at now_wall_ms (CLOCK_REALTIME ms): no transition, no
 * process beginning to use it (state_find_slot), no call counted. Calls are
 * seen through a note this function leaves in the slot whenever the count
 * differs from the last one it saw, dated then; so a breaker whose calls
 * go on between two looks is kept, and one look at a slot never seen
 * before keeps it unless idle_ms is 0. A breaker forced open or disabled is
 * kept. A process killed meanwhile leaves a busy slot nobody waits for. */
enum state_reclaim state_reclaim(struct state_slot *slot, uint64_t key, uint64_t idle_ms,
                                 uint64_t now_wall_ms);

/* The key of a name (never 0 nor a STATE_KEY_*). */
uint64_t state_name_hash(const char *name);

/* 24 bits of a key, never 0: what a call in flight keeps of its per-host
 * breaker's key, to find out whether the slot was given up meanwhile. */
static inline uint32_t state_slot_tag(uint64_t key)
{
    return (uint32_t)(key >> 40) | 1u;
}

/* Copies the slot's name into buf (STATE_NAME_MAX bytes); returns false
 * when the slot is free or its name is not yet written. */
bool state_slot_name(const struct state_slot *slot, char *buf);

/* Appends a transition of the breaker in slot to the event ring, with this
 * process's pid and program name. Lock-free; leaves errno alone. */
void state_append_event(struct state *st, const struct state_slot *slot,
                        const struct breaker_transition *tr, uint64_t wall_ms);

/* Reads event number n; false when it was overwritten, is being written, or
 * does not exist yet. */
bool state_read_event(const struct state *st, uint64_t n, struct event_record *out);

/* Returns the number of events appended so far. */
uint64_t state_events_appended(const struct state *st);

/* Replaces what is at path (a state file of any layout, garbage, a symlink,
 * a FIFO, or nothing) with a fresh state file: made under a temporary name
 * with mode 0600, then renamed over path, so a symlink is replaced, never
 * followed. Refuses a directory and anything owned by another user. Processes
 * that mapped the old file keep it until they exit. Returns 0, or -1 with a
 * one-line reason in err. */
int state_recreate(const char *path, char *err, size_t errlen);

#endif
