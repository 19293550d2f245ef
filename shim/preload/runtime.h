/* runtime.h — the shim's per-process context: the compiled rules in force
 * (image_load.h) and the generations before them, the shared state file and
 * each breaker's slot in it, and the calls that guard a hooked call with its
 * breaker (decide, then record, then tell the event ring and the log about
 * transitions).
 *
 * Built on first use by a hook, not at load time, so a process that never
 * connects pays nothing for rules or files. The rules source is looked at
 * again at most once a second, where a connection may start (socket(), the
 * resolver, a libcurl transfer, a socket connected again), and at once after
 * fusebox reload; a changed source's image
 * replaces the rules in force between calls. A breaker ref, which the match
 * calls hand out and a guarded call carries, holds its rules' generation in
 * its top bits: a call in flight across a reload ends under the rules it
 * began with, as long as fewer than RUNTIME_GENERATIONS reloads came in
 * between (else it records nothing). */
#ifndef FUSEBOX_RUNTIME_H
#define FUSEBOX_RUNTIME_H

#include <stdbool.h>
#include <stdint.h>

#include "breaker.h"
#include "fallback.h"
#include "image_layout.h"
#include "names.h"
#include "rules.h"

struct runtime; /* private to runtime.c */

#define RUNTIME_GEN_SHIFT 24
#define RUNTIME_INDEX_MASK ((1u << RUNTIME_GEN_SHIFT) - 1u)
#define RUNTIME_GENERATIONS 128u /* refs are positive ints: 7 bits of generation */

/* The breaker index (in its own rules) of breaker ref b. */
static inline uint32_t runtime_breaker_index(uint32_t b)
{
    return b & RUNTIME_INDEX_MASK;
}

/* A call in flight: the breaker guarding it (a breaker ref, and the slot of its host's own breaker
 * under a per_host rule), the ticket it was given and when it began (CLOCK_MONOTONIC ms). */
struct guarded_call {
    uint32_t breaker;
    uint32_t host_slot; /* per-host breaker: 1 + its state slot index; 0: the rule's own */
    struct breaker_ticket ticket;
    uint32_t host_tag; /* per-host breaker: state_slot_tag of its key when decided */
    uint64_t started_ms;
};

/* Registers the fork handlers of the runtime, fdtrack and the rounds
 * (fork_watch.h): called before a build, and by socket() before fdtrack
 * first notes a socket's flags. Leaves errno alone. */
void runtime_watch_forks(void);

/* Returns the runtime, building it on first use, and looks at the rules
 * source when it is time (runtime_look_when_due); NULL when calls must pass
 * through untouched (FUSEBOX_DISABLE, secure execution, no good rules yet).
 * A thread that finds another one building waits for it, at most a second;
 * a signal handler that interrupts the builder does not wait (and passes
 * through). Leaves errno alone. */
struct runtime *runtime_get(void);

/* Looks at the rules source again when it is time, in a process whose
 * runtime is built: in every second of time() other than that of the last
 * look, and at once after fusebox reload. socket() calls it for an
 * AF_INET/AF_INET6 stream socket, where a connection starts, so that a
 * socket's first connect() carries no clock (fdtrack_take_looked). Leaves
 * errno alone. */
void runtime_look_when_due(void);

/* True when the rules in force tell from an address's first byte (*first)
 * that no breaker rules a connect to it of family (AF_INET or AF_INET6):
 * no address pattern covers it and no host-name pattern could have
 * resolved to it. False means "look it up" (runtime_match_address). */
bool runtime_excludes(const struct runtime *rt, int family, const uint8_t *first);

/* Returns the breaker ref for a connect to family/addr/port (network order
 * address, host order port): first by the names this process resolved to
 * the address, then by address patterns; -1 when none. */
int runtime_match_address(const struct runtime *rt, int family, const void *addr, uint16_t port);

/* Returns the breaker ref for a host name (or literal) and port, or -1. */
int runtime_match_host(const struct runtime *rt, const char *host, uint16_t port);

/* True when the rules have host-name patterns (a resolver hook has work). */
bool runtime_has_names(const struct runtime *rt);

/* Fills c with the host-name patterns that could match name (at most
 * NAMES_CANDIDATES, each with its rules' generation in its top bits, as a
 * breaker ref); returns how many. */
uint32_t runtime_name_candidates(const struct runtime *rt, const char *name,
                                 struct name_candidates *c);

/* Returns the breaker ref that candidates c give for port (0: port-less
 * patterns only), or -1; candidates of other rules than those in force do
 * not count. */
int runtime_match_candidates(const struct runtime *rt, const struct name_candidates *c,
                             uint16_t port);

/* The compiled rule of breaker ref b (an empty TCP rule when its rules are
 * gone). */
const struct image_breaker *runtime_breaker(const struct runtime *rt, uint32_t b);

/* The fallback addresses of breaker ref b, *count of them (0: none). */
const struct fallback_address *runtime_fallbacks(const struct runtime *rt, uint32_t b,
                                                 uint32_t *count);

/* The generation of the rules in force: it changes with every reload. */
uint32_t runtime_generation(const struct runtime *rt);

/* Asks breaker b whether a call may go ahead; fills *call. Returns false when
 * the call must fail at once (open). A breaker without a usable slot lets
 * everything through unrecorded. Leaves errno alone. */
bool runtime_begin(struct runtime *rt, uint32_t b, struct guarded_call *call);

/* runtime_begin for a call to host (a name or address literal as the hook
 * knows it; NULL: unknown) and port: under a per_host rule the call is
 * decided by the host's own breaker "NAME/host:port", made on first use
 * (see state_find_host), or by the rule's own when none can be had. */
bool runtime_begin_host(struct runtime *rt, uint32_t b, const char *host, uint16_t port,
                        struct guarded_call *call);

/* runtime_begin_host for a connect to the address addr of family
 * (AF_INET: 4 bytes, AF_INET6: 16) and port, whose host is the address's
 * text. */
bool runtime_begin_address(struct runtime *rt, uint32_t b, int family, const void *addr,
                           uint16_t port, struct guarded_call *call);

/* Asks the breaker that decided earlier (the same rule's, or the same
 * host's under per_host) about a new call to the same destination, such as
 * the next request on a connection; fills *call like runtime_begin. A host
 * breaker given up for another host since lets the call through unrecorded.
 * Leaves errno alone. */
bool runtime_begin_again(struct runtime *rt, const struct guarded_call *earlier,
                         struct guarded_call *call);

/* Records the outcome of a call runtime_begin let through. A success slower
 * than the breaker's slow_call is recorded as class slow. Leaves errno alone. */
void runtime_end(struct runtime *rt, const struct guarded_call *call, enum outcome_class outcome);

/* runtime_end for a call whose server asked for retry_after_ms of rest (an
 * HTTP Retry-After; 0 = none): if this call opens the breaker, it stays open
 * at least that long when the policy honours it. */
void runtime_end_after(struct runtime *rt, const struct guarded_call *call,
                       enum outcome_class outcome, uint32_t retry_after_ms);

/* Records an outcome that had no decision before it (a failed name lookup):
 * it counts only while the breaker is closed. Leaves errno alone. */
void runtime_note(struct runtime *rt, uint32_t b, enum outcome_class outcome);

/* True, counting a rejection, when breaker b has fail_dns and would reject a
 * call now: a lookup of one of its names is then failed at once. Never for
 * a breaker with a fallback, whose connects go on to it. Leaves errno
 * alone. */
bool runtime_rejects_lookup(struct runtime *rt, uint32_t b);

/* Notes that call's connect connected, though its outcome is recorded later
 * (by the request it carries): for runtime_succeeded_since, as a success.
 * Returns call's breaker (runtime_breaker's answer), so that the caller
 * needs no second lookup. */
const struct image_breaker *runtime_connected(struct runtime *rt, const struct guarded_call *call);

/* True when breaker b had a success in this process after since_ms. */
bool runtime_succeeded_since(const struct runtime *rt, uint32_t b, uint64_t since_ms);

/* Milliseconds until the breaker that refused call lets a probe through (0
 * when it is not open or has no slot); *forced tells whether an operator
 * forced it open (then 0 means until closed). */
uint64_t runtime_retry_in_ms(struct runtime *rt, const struct guarded_call *call, bool *forced);

/* The name of the breaker deciding call (NAME or NAME/host:port) in buf
 * (STATE_NAME_MAX bytes); returns buf. */
const char *runtime_breaker_name(struct runtime *rt, const struct guarded_call *call, char *buf);

/* Counts a call that runtime_begin rejected (rejected: what it filled in)
 * and that went to its breaker's fallback address number address (from 1)
 * instead: a fallback, not a rejection. The episode's first one goes to the
 * event ring and the log (info). Leaves errno alone. */
void runtime_fallback(struct runtime *rt, const struct guarded_call *rejected, uint32_t address);

/* Per thread: while non-zero, connect() neither decides nor records. A
 * libcurl transfer in progress is one call, decided and recorded by the curl
 * hooks, however many sockets it opens. */
extern __thread unsigned runtime_transfer_depth __attribute__((tls_model("initial-exec")));

/* Process-wide: libcurl transfers guarded by a breaker now in progress. While
 * non-zero, a failure on another thread (the threaded resolver's
 * getaddrinfo) is the transfer's, recorded by the curl hooks, not a second
 * call. Read with one relaxed load. */
extern _Atomic unsigned runtime_guarded_transfers;

/* The runtime already built, or NULL (also when no rules are in force);
 * never builds it nor looks at the rules (for paths such as close() that
 * must not start work). */
struct runtime *runtime_peek(void);

/* runtime_peek with no work at all: the runtime when it is built and the
 * image in force is whole, else NULL, with no warning (the caller asks
 * runtime_get then, which builds or warns). connect()'s pass-through check. */
struct runtime *runtime_ready(void);

#endif
