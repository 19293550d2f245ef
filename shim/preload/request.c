/* The request tracker: per descriptor, the phase of its connection and the
 * call it holds, moved on by what the program sends and receives. */
#include "request.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/socket.h>

#include "clock.h"
#include "fdtrack.h"
#include "fork_watch.h"
#include "http_recognise.h"
#include "keep_errno.h"
#include "libc.h"
#include "tls_recognise.h"

enum phase {
    P_NONE,     /* not watched */
    P_OPENED,   /* connected, nothing sent yet: holds the connect's call */
    P_FIRST,    /* the first bytes sent say nothing yet (out: their recogniser) */
    P_SENT,     /* an HTTP request is out, no byte of its answer is in */
    P_HEAD,     /* its answer's head is coming in (in: the recogniser) */
    P_ANSWERED, /* the final head is in and recorded: the next request may come */
    P_CLAIMED,  /* a thread is starting the next request */
    P_HELLO,    /* a TLS ClientHello is out, no byte back */
    P_SPOKE,    /* the server has answered it; the handshake goes on */
};

#define PHASE(w) ((unsigned)((w)&15u))
#define F_REUSED (UINT64_C(1) << 4)    /* the call is a later request's, not the connect's */
#define F_PIPELINED (UINT64_C(1) << 5) /* a request went out before the last one's answer */
#define F_CONNECT (UINT64_C(1) << 6)   /* the request is a CONNECT */
#define F_TLS (UINT64_C(1) << 7)       /* P_FIRST: the bytes began as TLS */
#define F_SESSION                                                                                  \
    (UINT64_C(1) << 8) /* a hooked TLS library owns the socket: its plaintext counts */
#define OUT(w) ((uint32_t)((w) >> 32))
#define WITH_OUT(w, o) (((w)&UINT64_C(0xffffffff)) | (uint64_t)(o) << 32)
#define DECIDE_BYTES 8192 /* of a write looked at for a request line before it is sent */

/* The call an entry holds is a guarded_call, a field per atomic (relaxed:
 * word's compare-and-swap orders them), so that storing and loading it is
 * a move per field. */
struct entry {
    _Atomic uint64_t word; /* phase, flags, out */
    _Atomic uint64_t in;   /* the response recogniser */
    _Atomic uint32_t breaker, host_slot, host_tag;
    _Atomic uint16_t ticket; /* verdict 0..7, epoch 8..15 */
    _Atomic uint64_t started_ms;
    _Atomic uint32_t took_ms; /* 1 + how long the call took up to what decided it; 0: unknown */
};

static struct entry entries[FDTRACK_MAX];
static _Atomic int highest_watched = -1;
__thread unsigned request_quiet;

/* Per breaker (the first SPOKEN_BREAKERS), whether this process has sent it
 * an HTTP request or a ClientHello. */
#define SPOKEN_BREAKERS 4096u
static _Atomic uint64_t spoken[SPOKEN_BREAKERS / 64];

static void note_spoken(uint32_t ref)
{
    uint32_t b = runtime_breaker_index(ref);
    if (b < SPOKEN_BREAKERS &&
        !(atomic_load_explicit(&spoken[b / 64], memory_order_relaxed) & (UINT64_C(1) << b % 64)))
        atomic_fetch_or_explicit(&spoken[b / 64], UINT64_C(1) << b % 64, memory_order_relaxed);
}

static bool has_spoken(uint32_t ref)
{
    uint32_t b = runtime_breaker_index(ref);
    return b < SPOKEN_BREAKERS &&
           (atomic_load_explicit(&spoken[b / 64], memory_order_relaxed) & (UINT64_C(1) << b % 64));
}

static struct entry *entry_of(int fd)
{
    return fd >= 0 && fd < FDTRACK_MAX ? &entries[fd] : NULL;
}

static bool holds_call(unsigned phase)
{
    return phase != P_NONE && phase != P_ANSWERED && phase != P_CLAIMED;
}

/* Stores what a breaker decided for the call of e, started at started_ms
 * (the destination stays that of the call already there). */
static void store_decision(struct entry *e, struct breaker_ticket t, uint64_t started_ms)
{
    atomic_store_explicit(&e->ticket, (uint16_t)(t.verdict | t.epoch << 8), memory_order_relaxed);
    atomic_store_explicit(&e->started_ms, started_ms, memory_order_relaxed);
}

static void store_call(struct entry *e, const struct guarded_call *c)
{
    atomic_store_explicit(&e->breaker, c->breaker, memory_order_relaxed);
    atomic_store_explicit(&e->host_slot, c->host_slot, memory_order_relaxed);
    atomic_store_explicit(&e->host_tag, c->host_tag, memory_order_relaxed);
    store_decision(e, c->ticket, c->started_ms);
}

static struct guarded_call load_call(struct entry *e)
{
    uint16_t t = atomic_load_explicit(&e->ticket, memory_order_relaxed);
    return (struct guarded_call){
        .breaker = atomic_load_explicit(&e->breaker, memory_order_relaxed),
        .host_slot = atomic_load_explicit(&e->host_slot, memory_order_relaxed),
        .ticket = {.verdict = (uint8_t)t, .epoch = (uint8_t)(t >> 8)},
        .host_tag = atomic_load_explicit(&e->host_tag, memory_order_relaxed),
        .started_ms = atomic_load_explicit(&e->started_ms, memory_order_relaxed),
    };
}

/* Notes, when rule times slow calls, how long the call that started at
 * started_ms has taken until now. */
static void note_took(const struct image_breaker *rule, struct entry *e, uint64_t started_ms)
{
    uint32_t took = 0;
    if (rule->config.slow_call_ms) {
        uint64_t ms = clock_now_ms() - started_ms;
        took = ms < UINT32_MAX ? (uint32_t)ms + 1 : UINT32_MAX;
    }
    atomic_store_explicit(&e->took_ms, took, memory_order_relaxed);
}

/* Moves fd's entry from word w to next and, when this thread made the move,
 * records the call it held as outcome (a server's Retry-After: retry_ms).
 * A success is timed by took_ms when that is known. Returns false when
 * another thread moved it first. Flattened: the record under it is inlined. */
static __attribute__((flatten)) bool finish(int fd, struct entry *e, uint64_t w, uint64_t next,
                                            enum outcome_class outcome, uint32_t retry_ms)
{
    if (PHASE(next) != P_NONE)
        next |= w & F_SESSION;
    struct guarded_call call = load_call(e);
    uint32_t took = atomic_load_explicit(&e->took_ms, memory_order_relaxed);
    if (!atomic_compare_exchange_strong_explicit(&e->word, &w, next, memory_order_acq_rel,
                                                 memory_order_relaxed))
        return false;
    if (PHASE(next) == P_NONE)
        fdtrack_watch(fd, false);
    struct runtime *rt = runtime_peek();
    if (!rt)
        return true;
    if (took && outcome == OUTCOME_SUCCESS)
        call.started_ms = clock_now_ms() - (took - 1);
    runtime_end_after(rt, &call, outcome, retry_ms);
    return true;
}

/* Moves fd's entry from word w to next (keeping F_SESSION while watched);
 * false when another thread moved it first. */
static bool move(struct entry *e, uint64_t w, uint64_t next)
{
    if (PHASE(next) != P_NONE)
        next |= w & F_SESSION;
    return atomic_compare_exchange_strong_explicit(&e->word, &w, next, memory_order_acq_rel,
                                                   memory_order_relaxed);
}

/* ---- feeding the recognisers ------------------------------------------ */

typedef enum http_verdict (*feeder)(void *state, const void *bytes, size_t n);

static inline enum http_verdict feed_request(void *state, const void *bytes, size_t n)
{
    return http_request_feed(state, bytes, n);
}

static inline enum http_verdict feed_response(void *state, const void *bytes, size_t n)
{
    return http_response_feed(state, bytes, n);
}

static inline enum http_verdict feed_hello(void *state, const void *bytes, size_t n)
{
    return tls_hello_feed(state, bytes, n);
}

/* Feeds the first len bytes of iov[0..n) to f until it decides. Inlined,
 * so that f is a direct call. */
static inline __attribute__((always_inline)) enum http_verdict
feed_iov(feeder f, void *state, const struct iovec *iov, int n, size_t len)
{
    if (n == 1) /* write, send, read, recv */
        return f(state, iov[0].iov_base, iov[0].iov_len < len ? iov[0].iov_len : len);
    enum http_verdict v = HTTP_MORE;
    for (int i = 0; i < n && len > 0 && v == HTTP_MORE; i++) {
        size_t take = iov[i].iov_len < len ? iov[i].iov_len : len;
        if (take)
            v = f(state, iov[i].iov_base, take);
        len -= take;
    }
    return v;
}

/* The first byte of the first len bytes of iov[0..n); -1 when there is none. */
static int first_byte(const struct iovec *iov, int n, size_t len)
{
    for (int i = 0; i < n && len > 0; i++)
        if (iov[i].iov_len)
            return *(const unsigned char *)iov[i].iov_base;
    return -1;
}

/* A fork child's connections are the parent's to account for. */
static void forget_all_in_child(void)
{
    int high = atomic_load_explicit(&highest_watched, memory_order_relaxed);
    for (int fd = 0; fd <= high; fd++) {
        if (atomic_exchange_explicit(&entries[fd].word, P_NONE, memory_order_relaxed) != P_NONE)
            fdtrack_watch(fd, false);
    }
}

static void register_fork_handler(void)
{
    pthread_atfork(NULL, NULL, forget_all_in_child);
}

/* ---- the hooks' entry points ------------------------------------------ */

void request_connected(struct runtime *rt, int fd, const struct guarded_call *call)
{
    struct entry *e = entry_of(fd);
    const struct image_breaker *rule = runtime_connected(rt, call);
    if (!e || rule->protocol == PROTOCOL_TCP) {
        runtime_end(rt, call, OUTCOME_SUCCESS);
        return;
    }
    static struct fork_watch watch = FORK_WATCH_INIT;
    fork_watch(&watch, register_fork_handler); /* before the first entry a child must drop */
    store_call(e, call);
    note_took(rule, e, call->started_ms);
    atomic_store_explicit(&e->word, P_OPENED, memory_order_release);
    int high = atomic_load_explicit(&highest_watched, memory_order_relaxed);
    while (fd > high &&
           !atomic_compare_exchange_weak_explicit(&highest_watched, &high, fd, memory_order_relaxed,
                                                  memory_order_relaxed))
        ;
    fdtrack_watch(fd, true);
}

/* True when fd is still a stream socket (a syscall: only before a send is
 * refused). */
static bool is_stream_socket(int fd)
{
    KEEP_ERRNO();
    int type = 0;
    socklen_t len = sizeof type;
    return libc_getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) == 0 && type == SOCK_STREAM;
}

/* A request on a connection whose last answer is in (word w): its breaker
 * decides. Returns -1 (errno ECONNRESET) when it refuses, 1 when the request
 * may go, 0 when the bytes hold no whole request line (fd is then no longer
 * watched). Out of line, so that before_send keeps a small frame; flattened,
 * so that the request line's recognition and the decision are inlined. */
static __attribute__((noinline, flatten)) int
begin_next_request(int fd, struct entry *e, uint64_t w, const struct iovec *iov, int n)
{
    uint32_t out = HTTP_REQUEST_START;
    struct runtime *rt = runtime_peek();
    if (feed_iov(feed_request, &out, iov, n, DECIDE_BYTES) != HTTP_YES || !rt) {
        if (move(e, w, P_NONE)) /* not a request line whole in one write: not understood */
            fdtrack_watch(fd, false);
        return 0;
    }
    if (!move(e, w, P_CLAIMED))
        return 0;
    struct guarded_call earlier = load_call(e), call;
    if (!runtime_begin_again(rt, &earlier, &call)) {
        if (!is_stream_socket(fd)) { /* closed unseen and given to something else */
            atomic_store_explicit(&e->word, P_NONE, memory_order_release);
            fdtrack_watch(fd, false);
            return 0;
        }
        atomic_store_explicit(&e->word, w, memory_order_release);
        errno = ECONNRESET;
        return -1;
    }
    store_decision(e, call.ticket, call.started_ms);
    atomic_store_explicit(&e->in, HTTP_RESPONSE_START, memory_order_relaxed);
    atomic_store_explicit(&e->took_ms, 0, memory_order_relaxed);
    uint64_t next =
        P_SENT | F_REUSED | (w & F_SESSION) | (http_request_is_connect(out) ? F_CONNECT : 0);
    atomic_store_explicit(&e->word, next, memory_order_release);
    return 1;
}

/* The first bytes the program sends on a connection (word w, P_OPENED or
 * P_FIRST): an HTTP request takes the connect's call over, a ClientHello
 * makes it wait for the handshake, anything else ends it as a success.
 * Looked at before they are sent (before: len is all there is to send, and
 * undecided bytes are left for after), so that an answer read on another
 * thread finds the request already out; and after a send of len bytes that
 * left them undecided. Returns 1 when the connection moved to the request
 * or the handshake. */
static int first_bytes(int fd, struct entry *e, uint64_t w, const struct iovec *iov, int n,
                       size_t len, bool before)
{
    bool tls = PHASE(w) == P_OPENED ? first_byte(iov, n, len) == 0x16 : (w & F_TLS) != 0;
    uint32_t out = OUT(w);
    enum http_verdict v = feed_iov(tls ? feed_hello : feed_request, &out, iov, n, len);
    if (v == HTTP_NO) {
        finish(fd, e, w, P_NONE, OUTCOME_SUCCESS, 0);
        return 0;
    }
    if (v == HTTP_MORE) {
        if (!before)
            move(e, w, WITH_OUT(P_FIRST | (tls ? F_TLS : 0), out));
        return 0;
    }
    note_spoken(atomic_load_explicit(&e->breaker, memory_order_relaxed));
    if (tls)
        return move(e, w, P_HELLO);
    atomic_store_explicit(&e->started_ms, clock_now_ms(), memory_order_relaxed);
    atomic_store_explicit(&e->in, HTTP_RESPONSE_START, memory_order_relaxed);
    atomic_store_explicit(&e->took_ms, 0, memory_order_relaxed);
    return move(e, w, P_SENT | (http_request_is_connect(out) ? F_CONNECT : 0));
}

/* The session's own (plaintext) I/O marks its connection: the socket's
 * bytes are the library's from now on. Returns the word then. */
static uint64_t owned_by_session(struct entry *e, uint64_t w)
{
    if (!(w & F_SESSION) && PHASE(w) != P_NONE)
        w = atomic_fetch_or_explicit(&e->word, F_SESSION, memory_order_acq_rel) | F_SESSION;
    return w;
}

/* The entry of fd and its word for I/O on it by the socket hooks (session
 * false) or a TLS session hook; NULL when there is nothing to do. */
static inline __attribute__((always_inline)) struct entry *io_entry(int fd, bool session,
                                                                    uint64_t *w)
{
    struct entry *e = entry_of(fd);
    if (!e || runtime_transfer_depth || request_quiet)
        return NULL;
    *w = atomic_load_explicit(&e->word, memory_order_acquire);
    if (session)
        *w = owned_by_session(e, *w);
    else if (*w & F_SESSION)
        return NULL;
    return e;
}

static inline __attribute__((always_inline)) int before_send(int fd, const struct iovec *iov, int n,
                                                             bool session)
{
    uint64_t w;
    struct entry *e = io_entry(fd, session, &w);
    if (!e)
        return 0;
    unsigned phase = PHASE(w);
    if (phase == P_ANSWERED)
        return begin_next_request(fd, e, w, iov, n);
    if (phase == P_OPENED || phase == P_FIRST)
        return first_bytes(fd, e, w, iov, n, DECIDE_BYTES, true);
    return 0;
}

static void after_send(int fd, const struct iovec *iov, int n, ssize_t rc, int err, int began,
                       bool session)
{
    if (began > 0 && rc > 0) /* the request or ClientHello before_send saw went out */
        return;
    uint64_t w;
    struct entry *e = io_entry(fd, session, &w);
    if (!e)
        return;
    unsigned phase = PHASE(w);
    enum outcome_class failed = rc < 0 ? outcome_class_of_errno(err) : OUTCOME_IGNORED;
    if (began && rc < 0 && (w & F_REUSED)) { /* the request did not go out: no call */
        finish(fd, e, w, failed == OUTCOME_IGNORED ? P_ANSWERED : P_NONE, OUTCOME_IGNORED, 0);
    } else if (began && rc < 0) { /* nor the first: the connect's call waits again, or ends */
        if (failed == OUTCOME_IGNORED)
            move(e, w, P_OPENED);
        else
            finish(fd, e, w, P_NONE, OUTCOME_SUCCESS, 0);
    } else if (rc <= 0) {
        if (failed != OUTCOME_IGNORED && holds_call(phase))
            finish(fd, e, w, P_NONE,
                   phase == P_OPENED || phase == P_FIRST ? OUTCOME_SUCCESS
                   : (w & F_REUSED) && phase == P_SENT   ? OUTCOME_IGNORED
                                                         : failed,
                   0);
    } else if (phase == P_OPENED || phase == P_FIRST) {
        first_bytes(fd, e, w, iov, n, (size_t)rc, false);
    } else if ((phase == P_SENT || phase == P_HEAD) && !began && !(w & F_PIPELINED)) {
        uint32_t out = HTTP_REQUEST_START;
        if (feed_iov(feed_request, &out, iov, n, (size_t)rc) == HTTP_YES)
            move(e, w, w | F_PIPELINED);
    } else if (phase == P_HELLO || phase == P_SPOKE) {
        size_t len = n > 0 && iov[0].iov_len < (size_t)rc ? iov[0].iov_len : (size_t)rc;
        enum tls_client_event ev =
            n > 0 ? tls_client_records(iov[0].iov_base, len) : TLS_CLIENT_NOTHING;
        if (ev == TLS_CLIENT_ALERT || (ev == TLS_CLIENT_APP_DATA && phase == P_SPOKE))
            finish(fd, e, w, P_NONE, OUTCOME_SUCCESS, 0);
    }
}

/* The rest a 429 or 503 head asked for with Retry-After, in ms; 0: none. */
static uint32_t retry_after_ms(uint64_t in)
{
    int is_date;
    uint64_t value = http_response_retry_after(in, &is_date), ms = value * 1000;
    if (is_date) {
        uint64_t now = clock_wall_ms();
        ms = ms > now ? ms - now : 0;
    }
    return ms < BREAKER_MAX_RESET_MS ? (uint32_t)ms : BREAKER_MAX_RESET_MS;
}

/* Bytes of an answer came in (word w, P_SENT or P_HEAD). */
static void answer_bytes(int fd, struct entry *e, uint64_t w, const struct iovec *iov, int n,
                         size_t len)
{
    uint64_t in = atomic_load_explicit(&e->in, memory_order_relaxed);
    enum http_verdict v = feed_iov(feed_response, &in, iov, n, len);
    if (v == HTTP_NO) {
        finish(fd, e, w, P_NONE, w & F_REUSED ? OUTCOME_IGNORED : OUTCOME_SUCCESS, 0);
        return;
    }
    if (v == HTTP_MORE) {
        atomic_store_explicit(&e->in, in, memory_order_relaxed);
        if (PHASE(w) == P_SENT) {
            struct runtime *rt = runtime_peek();
            struct guarded_call call = load_call(e);
            if (rt)
                note_took(runtime_breaker(rt, call.breaker), e, call.started_ms);
            move(e, w, (w & ~UINT64_C(15)) | P_HEAD);
        }
        return;
    }
    unsigned status = http_response_status(in);
    bool ends_http = status == 101 || ((w & F_CONNECT) && status / 100 == 2) || (w & F_PIPELINED);
    uint32_t retry = status == 429 || status == 503 ? retry_after_ms(in) : 0;
    finish(fd, e, w, ends_http ? P_NONE : P_ANSWERED, outcome_class_of_http_status(status), retry);
}

static inline __attribute__((always_inline)) void
after_recv(int fd, const struct iovec *iov, int n, ssize_t rc, int err, int flags, bool session)
{
    uint64_t w;
    struct entry *e = rc > 0 && (flags & MSG_PEEK) ? NULL : io_entry(fd, session, &w);
    if (!e)
        return;
    unsigned phase = PHASE(w);
    enum outcome_class ended = rc == 0  ? CLASS_RESET
                               : rc < 0 ? outcome_class_of_errno(err)
                                        : OUTCOME_IGNORED;
    if (!holds_call(phase) || (rc < 0 && ended == OUTCOME_IGNORED))
        return;
    if (phase == P_OPENED && rc <= 0 &&
        has_spoken(atomic_load_explicit(&e->breaker, memory_order_relaxed)))
        finish(fd, e, w, P_NONE, OUTCOME_IGNORED, 0); /* a spare connection the server closed */
    else if (phase == P_OPENED || phase == P_FIRST)
        finish(fd, e, w, P_NONE, OUTCOME_SUCCESS, 0); /* the server spoke first, or ended */
    else if (rc > 0 && (phase == P_SENT || phase == P_HEAD))
        answer_bytes(fd, e, w, iov, n, (size_t)rc);
    else if (rc > 0 && phase == P_HELLO)
        move(e, w, (w & ~UINT64_C(15)) | P_SPOKE);
    else if (rc <= 0) /* an idle keep-alive connection the server closed: not the request's */
        finish(fd, e, w, P_NONE,
               rc == 0 && phase == P_SENT && (w & F_REUSED) ? OUTCOME_IGNORED : ended, 0);
}

int request_before_send(int fd, const struct iovec *iov, int n)
{
    return before_send(fd, iov, n, false);
}

void request_after_send(int fd, const struct iovec *iov, int n, ssize_t rc, int err, int began)
{
    after_send(fd, iov, n, rc, err, began, false);
}

void request_after_recv(int fd, const struct iovec *iov, int n, ssize_t rc, int err, int flags)
{
    after_recv(fd, iov, n, rc, err, flags, false);
}

int request_session_before_send(int fd, const void *buf, size_t len)
{
    struct iovec one = {(void *)buf, len};
    return before_send(fd, &one, 1, true);
}

void request_session_after_send(int fd, const void *buf, size_t len, int began, ssize_t rc, int err)
{
    struct iovec one = {(void *)buf, len};
    after_send(fd, &one, 1, rc, err, began, true);
}

void request_session_after_recv(int fd, void *buf, ssize_t rc, int err)
{
    struct iovec one = {buf, rc > 0 ? (size_t)rc : 0};
    after_recv(fd, &one, 1, rc, err, 0, true);
}

/* The class of what the kernel holds against fd's connection (a reset
 * not read yet), else timeout: a request the program gave up on while
 * waiting. */
static enum outcome_class given_up(int fd)
{
    KEEP_ERRNO();
    int so_error = 0;
    socklen_t len = sizeof so_error;
    if (libc_getsockopt(fd, SOL_SOCKET, SO_ERROR, &so_error, &len) != 0)
        so_error = 0;
    enum outcome_class c = so_error ? outcome_class_of_errno(so_error) : OUTCOME_IGNORED;
    return c == OUTCOME_IGNORED ? CLASS_TIMEOUT : c;
}

/* What the end of fd's connection in word w (holding a call) records. */
static enum outcome_class end_outcome(int fd, struct entry *e, uint64_t w, enum request_end how)
{
    unsigned phase = PHASE(w);
    if (how == REQUEST_SHARED && (w & F_REUSED))
        return OUTCOME_IGNORED;
    if (phase == P_OPENED && how == REQUEST_GAVE_UP &&
        has_spoken(atomic_load_explicit(&e->breaker, memory_order_relaxed)))
        return OUTCOME_IGNORED; /* a pool's spare connection: it carried no request */
    if (how == REQUEST_SHARED || phase == P_OPENED || phase == P_FIRST || phase == P_SPOKE)
        return OUTCOME_SUCCESS;
    return given_up(fd); /* no answer yet, or one cut off in its head */
}

/* Flattened: the end of a connection is the second half of a ruled round. */
__attribute__((flatten)) void request_end(int fd, enum request_end how)
{
    struct entry *e = entry_of(fd);
    if (!e)
        return;
    for (int tries = 0; tries < 4; tries++) { /* a reader or writer racing: it moved first */
        uint64_t w = atomic_load_explicit(&e->word, memory_order_acquire);
        if (PHASE(w) == P_NONE)
            return;
        if (!holds_call(PHASE(w))) {
            if (move(e, w, P_NONE)) {
                fdtrack_watch(fd, false);
                return;
            }
            continue;
        }
        if (finish(fd, e, w, P_NONE, end_outcome(fd, e, w, how), 0))
            return;
    }
}

void request_handshake_begins(int fd)
{
    struct entry *e = entry_of(fd);
    if (!e || runtime_transfer_depth)
        return;
    uint64_t w = atomic_load_explicit(&e->word, memory_order_acquire);
    if (PHASE(w) == P_OPENED) {
        note_spoken(atomic_load_explicit(&e->breaker, memory_order_relaxed));
        move(e, w, P_HELLO | F_SESSION);
    }
}

void request_handshake_ends(int fd, enum outcome_class outcome)
{
    struct entry *e = entry_of(fd);
    if (!e || runtime_transfer_depth)
        return;
    uint64_t w = atomic_load_explicit(&e->word, memory_order_acquire);
    if (PHASE(w) != P_HELLO)
        return;
    if (outcome == OUTCOME_SUCCESS)
        move(e, w, P_OPENED); /* the first request takes the call over */
    else
        finish(fd, e, w, P_NONE, outcome, 0);
}

/* Exit: every request still waiting was given up on. */
__attribute__((destructor)) static void end_all_at_exit(void)
{
    int high = atomic_load_explicit(&highest_watched, memory_order_relaxed);
    for (int fd = 0; fd <= high; fd++)
        request_end(fd, REQUEST_GAVE_UP);
}
