/* Word of an fd: bits 0..1 kind, bit 2 pending, bits 3..4 verdict, bits
 * 5..12 epoch, bits 13..25 host slot, bit 26 watched, bit 27 O_NONBLOCK
 * known, bit 28 O_NONBLOCK, bit 29 looked (fdtrack_take_looked), bits
 * 32..63 breaker index. */
#include "fdtrack.h"

#include <stdatomic.h>
#include <sys/socket.h>

#define KIND_MASK UINT64_C(3)
#define PENDING_BIT ((uint64_t)FDTRACK_IO_PENDING)
#define WATCHED_BIT ((uint64_t)FDTRACK_IO_WATCHED)
#define FLAGS_KNOWN_BIT (UINT64_C(1) << 27)
#define NONBLOCK_BIT (UINT64_C(1) << 28)
#define FLAGS_MASK (FLAGS_KNOWN_BIT | NONBLOCK_BIT)
#define LOOKED_BIT (UINT64_C(1) << 29)
/* what a pending connect's word keeps of the word before it, and what
 * taking it leaves */
#define KEPT_MASK (WATCHED_BIT | FLAGS_MASK)
#define HOST_SLOT_MASK 0x1fffu                    /* 1 + a slot index below STATE_SLOTS */
#define STARTED_MS_MASK ((UINT64_C(1) << 40) - 1) /* 34 years of CLOCK_MONOTONIC */

struct fd_entry {
    _Atomic uint64_t word;
    _Atomic uint64_t started; /* bits 0..39 started_ms, 40..63 host_tag */
};

static struct fd_entry fds[FDTRACK_MAX];
static _Atomic int highest_pending_fd = -1;
static _Atomic int highest_known_fd = -1;

/* Raises *mark to fd if fd is higher. */
static void raise_to(_Atomic int *mark, int fd)
{
    int high = atomic_load_explicit(mark, memory_order_relaxed);
    while (fd > high && !atomic_compare_exchange_weak_explicit(
                            mark, &high, fd, memory_order_relaxed, memory_order_relaxed))
        ;
}

static struct fd_entry *entry(int fd)
{
    return fd >= 0 && fd < FDTRACK_MAX ? &fds[fd] : NULL;
}

enum fd_kind fdtrack_kind(int fd)
{
    struct fd_entry *e = entry(fd);
    return e ? (enum fd_kind)(atomic_load_explicit(&e->word, memory_order_relaxed) & KIND_MASK)
             : FD_UNKNOWN;
}

/* Makes fd's word word (kind and flags alone), raising the highest known fd. */
static inline __attribute__((always_inline)) void renew(int fd, uint64_t word)
{
    struct fd_entry *e = entry(fd);
    if (e && atomic_load_explicit(&e->word, memory_order_relaxed) != word) {
        if (word != FD_UNKNOWN)
            raise_to(&highest_known_fd, fd);
        atomic_store_explicit(&e->word, word, memory_order_relaxed);
    }
}

void fdtrack_set_kind(int fd, enum fd_kind kind)
{
    renew(fd, (uint64_t)kind);
}

uint64_t fdtrack_socket_facts(int domain, int type)
{
    if ((domain != AF_INET && domain != AF_INET6) ||
        (type & ~(SOCK_NONBLOCK | SOCK_CLOEXEC)) != SOCK_STREAM)
        return FD_OTHER;
    return FD_INET_STREAM | FLAGS_KNOWN_BIT | LOOKED_BIT |
           (type & SOCK_NONBLOCK ? NONBLOCK_BIT : 0);
}

void fdtrack_new_socket(int fd, uint64_t facts)
{
    struct fd_entry *e = entry(fd);
    if (!e)
        return;
    raise_to(&highest_known_fd, fd);
    atomic_store_explicit(&e->word, facts, memory_order_relaxed);
}

void fdtrack_copy(int oldfd, int newfd)
{
    struct fd_entry *e = entry(oldfd);
    if (e)
        atomic_fetch_and_explicit(&e->word, ~FLAGS_MASK, memory_order_relaxed);
    fdtrack_set_kind(newfd, fdtrack_kind(oldfd));
}

void fdtrack_forget_flags_all(void)
{
    int high = atomic_load_explicit(&highest_known_fd, memory_order_relaxed);
    for (int fd = 0; fd <= high && fd < FDTRACK_MAX; fd++)
        if (atomic_load_explicit(&fds[fd].word, memory_order_relaxed) & FLAGS_KNOWN_BIT)
            atomic_fetch_and_explicit(&fds[fd].word, ~FLAGS_MASK, memory_order_relaxed);
}

void fdtrack_set_nonblocking(int fd, bool nonblocking)
{
    struct fd_entry *e = entry(fd);
    if (!e)
        return;
    uint64_t w = atomic_load_explicit(&e->word, memory_order_relaxed), next;
    do {
        if (!(w & FLAGS_KNOWN_BIT))
            return;
        next = nonblocking ? w | NONBLOCK_BIT : w & ~NONBLOCK_BIT;
    } while (next != w && !atomic_compare_exchange_weak_explicit(
                              &e->word, &w, next, memory_order_relaxed, memory_order_relaxed));
}

enum fd_blocking fdtrack_blocking(int fd)
{
    struct fd_entry *e = entry(fd);
    uint64_t w = e ? atomic_load_explicit(&e->word, memory_order_relaxed) : 0;
    if (!(w & FLAGS_KNOWN_BIT))
        return FD_FLAGS_UNKNOWN;
    return w & NONBLOCK_BIT ? FD_NONBLOCKING : FD_BLOCKING;
}

bool fdtrack_set_pending(int fd, const struct guarded_call *p)
{
    struct fd_entry *e = entry(fd);
    if (!e)
        return false;
    atomic_store_explicit(&e->started,
                          (p->started_ms & STARTED_MS_MASK) | (uint64_t)p->host_tag << 40,
                          memory_order_relaxed);
    uint64_t word = (uint64_t)FD_INET_STREAM | PENDING_BIT |
                    (uint64_t)(p->ticket.verdict & 3) << 3 | (uint64_t)p->ticket.epoch << 5 |
                    (uint64_t)(p->host_slot & HOST_SLOT_MASK) << 13 | (uint64_t)p->breaker << 32;
    raise_to(&highest_pending_fd, fd); /* highest_known_fd: raised when its kind was set */
    /* the watched bit is the request tracker's: it stays (a connect on a
     * watched connection is refused by the kernel, the connection goes on);
     * so does what is known of the socket's O_NONBLOCK */
    word |= atomic_load_explicit(&e->word, memory_order_relaxed) & KEPT_MASK;
    atomic_store_explicit(&e->word, word, memory_order_release); /* replaces one nobody took */
    return true;
}

bool fdtrack_take_looked(int fd)
{
    struct fd_entry *e = entry(fd);
    if (!e || !(atomic_load_explicit(&e->word, memory_order_relaxed) & LOOKED_BIT))
        return false;
    atomic_fetch_and_explicit(&e->word, ~LOOKED_BIT, memory_order_relaxed);
    return true;
}

bool fdtrack_is_pending(int fd)
{
    struct fd_entry *e = entry(fd);
    return e && (atomic_load_explicit(&e->word, memory_order_relaxed) & PENDING_BIT);
}

unsigned fdtrack_has_io_work(int fd)
{
    struct fd_entry *e = entry(fd);
    return e ? (unsigned)(atomic_load_explicit(&e->word, memory_order_relaxed) &
                          (PENDING_BIT | WATCHED_BIT))
             : 0;
}

void fdtrack_watch(int fd, bool on)
{
    struct fd_entry *e = entry(fd);
    if (!e)
        return;
    if (on) {
        raise_to(&highest_known_fd, fd);
        atomic_fetch_or_explicit(&e->word, WATCHED_BIT, memory_order_relaxed);
    } else {
        atomic_fetch_and_explicit(&e->word, ~WATCHED_BIT, memory_order_relaxed);
    }
}

/* Clears fd's pending connect (leaving its kind, watched bit and
 * O_NONBLOCK) and returns the word it had; 0 when there was none, or
 * another thread took it first. */
static uint64_t take_word(int fd)
{
    struct fd_entry *e = entry(fd);
    uint64_t old = e ? atomic_load_explicit(&e->word, memory_order_relaxed) : 0;
    if (!(old & PENDING_BIT))
        return 0;
    old = atomic_exchange_explicit(&e->word, old & (KIND_MASK | KEPT_MASK), memory_order_acquire);
    return old & PENDING_BIT ? old : 0;
}

bool fdtrack_take_pending(int fd, struct guarded_call *out)
{
    uint64_t old = take_word(fd);
    if (!old)
        return false;
    out->breaker = (uint32_t)(old >> 32);
    out->host_slot = (uint32_t)(old >> 13) & HOST_SLOT_MASK;
    out->ticket =
        (struct breaker_ticket){.verdict = (uint8_t)((old >> 3) & 3), .epoch = (uint8_t)(old >> 5)};
    uint64_t started = atomic_load_explicit(&fds[fd].started, memory_order_relaxed);
    out->started_ms = started & STARTED_MS_MASK;
    out->host_tag = (uint32_t)(started >> 40);
    return true;
}

bool fdtrack_end_pending(int fd)
{
    return take_word(fd) != 0;
}

int fdtrack_highest_known(void)
{
    return atomic_load_explicit(&highest_known_fd, memory_order_relaxed);
}

void fdtrack_take_all(void (*fn)(int fd, const struct guarded_call *p))
{
    int high = atomic_load_explicit(&highest_pending_fd, memory_order_relaxed);
    for (int fd = 0; fd <= high; fd++) {
        struct guarded_call p;
        if (fdtrack_take_pending(fd, &p) && fn)
            fn(fd, &p);
    }
}
