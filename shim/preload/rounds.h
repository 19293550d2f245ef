/* rounds.h — the addresses of one name tried in turn are one call.
 *
 * A program that resolved a name to several addresses (IPv6 and IPv4, or
 * several of one family) tries them in turn until one connects (happy
 * eyeballs, getaddrinfo order). That round is one call of the breaker: a
 * failed attempt is held, not counted, while the name has addresses the
 * round has not tried; the next attempt to one of them goes on with the
 * held call's ticket (no second decision, no second half-open probe); the
 * attempt that connects counts one success and the failures before it count
 * nothing; the last address failing counts one failure. A held failure that
 * no attempt takes up within ROUNDS_HOLD_MS (the program gave up after its
 * first address) counts then, at the process's next ruled connect, or at
 * its exit.
 *
 * Per process, bounded tables: ROUNDS_NAMES names of ROUNDS_ADDRESSES
 * addresses, ROUNDS_ATTEMPTS attempts in flight, ROUNDS_HELD held failures;
 * past them, attempts count one by one as before. Rules with per_host give
 * each address its own breaker and have no rounds. Each table is empty, and
 * costs one load, until a ruled name resolves to two addresses or more. */
#ifndef FUSEBOX_ROUNDS_H
#define FUSEBOX_ROUNDS_H

#include <stdbool.h>
#include <stdint.h>

#include "hooks.h"
#include "outcome.h"
#include "runtime.h"

#define ROUNDS_NAMES 16
#define ROUNDS_ADDRESSES 8
#define ROUNDS_ATTEMPTS 64
#define ROUNDS_HELD 64
#define ROUNDS_HOLD_MS 5000

/* The distinct addresses one lookup of a name gave. */
struct rounds_lookup {
    uint32_t count;
    struct destination addresses[ROUNDS_ADDRESSES]; /* ports 0 */
};

/* Adds d's address to lookup unless it is there already or lookup is full. */
void rounds_collect(struct rounds_lookup *lookup, const struct destination *d);

/* Remembers the addresses a ruled name resolved to, when there are two or
 * more: connects to them are attempts of one round. Leaves errno alone. */
void rounds_resolved(const char *name, const struct rounds_lookup *lookup);

/* Where an attempt stands in its round. */
struct rounds_turn {
    uint64_t name;  /* the round's name (its hash); 0: the attempt is in no round */
    uint32_t tried; /* the name's addresses (bit i: address i) the round has tried, this one too */
    uint32_t count; /* how many addresses the name has */
};

/* Starts an attempt to d under breaker b and fills *turn (no round for a
 * per_host rule's). When it goes on with a round whose earlier attempt failed and was
 * held, returns true with *call set to that call: the caller connects
 * without asking the breaker again. Otherwise returns false and the caller
 * decides as usual. Counts the held failures whose time is up. Leaves errno
 * alone. */
bool rounds_continue(struct runtime *rt, uint32_t b, const struct destination *d,
                     struct guarded_call *call, struct rounds_turn *turn);

/* Notes that fd's connect, at turn of its round, is under way, so that its
 * end (rounds_end) knows its round; nothing when it is in none. Leaves
 * errno alone. */
void rounds_attempt(int fd, const struct rounds_turn *turn);

/* Ends fd's connect attempt, decided as call, with outcome: held when it is
 * a failure and its round has addresses left to try, else recorded
 * (runtime_end). Leaves errno alone. */
void rounds_end(struct runtime *rt, int fd, const struct guarded_call *call,
                enum outcome_class outcome);

/* Ends fd's connect attempt, which connected: its round ends, and the
 * failures held before it count nothing. The caller records the call.
 * Leaves errno alone. */
void rounds_connected(int fd);

/* Counts every held failure (at exit). */
void rounds_flush(struct runtime *rt);

/* In a fork child: the parent's attempts and held failures are its own. */
void rounds_forget_all(void);

#endif
