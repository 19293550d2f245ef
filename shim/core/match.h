/* match.h — destination (name, address, port) → host pattern, most specific first.
 *
 * Built once from the rules; lookups allocate nothing, take no lock and make
 * no system call, so they are safe inside connect() in any thread while the
 * matcher and its rules live. Priority, best first:
 *   exact name with port > exact name
 *   > wildcard (longer suffix first; equal suffix: with port first)
 *   > address (longer prefix first; equal prefix: with port first)
 *   > any "*" (with port first);
 * remaining ties go to the pattern written first. A pattern index is an index
 * into rules.patterns; its breaker is rules.patterns[i].breaker. */
#ifndef FUSEBOX_MATCH_H
#define FUSEBOX_MATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rules.h"

struct matcher;

/* Builds the lookup tables for r, which must outlive the matcher. Returns
 * NULL only on out of memory (errno ENOMEM). */
struct matcher *matcher_build(const struct rules *r);

/* Frees m; m may be NULL. */
void matcher_free(struct matcher *m);

/* Writes to out the indices of up to max host-name patterns (EXACT and
 * WILDCARD, never ANY) that match name (len bytes; ASCII case and one trailing
 * dot do not matter), best first, whatever their port; returns how many it
 * wrote. A name longer than HOST_NAME_MAX_LEN matches nothing. */
size_t match_name_candidates(const struct matcher *m, const char *name, size_t len, uint32_t *out,
                             size_t max);

/* Returns the first of cands[0..n) (best first) whose pattern's port is 0 or
 * port, or -1 if none. */
int match_pick_port(const struct matcher *m, const uint32_t *cands, size_t n, uint16_t port);

/* Returns the best ADDRESS pattern for family (AF_INET or AF_INET6) and addr
 * (4 or 16 bytes, network order; a v4-mapped IPv6 address is matched as
 * IPv4) and port, else the best ANY pattern for port, else -1 (also for any
 * other family). */
int match_address(const struct matcher *m, int family, const void *addr, uint16_t port);

/* The whole decision for a host as written in a URL or on a command line (a
 * NUL-terminated name, IPv4 literal, or IPv6 literal with or without brackets)
 * and a port: an address literal as match_address, else the best name
 * candidate for port, else the best ANY pattern. Returns a pattern index or -1. */
int match_host(const struct matcher *m, const char *host, uint16_t port);

/* Returns true when the rules have an ADDRESS or ANY pattern: a connect() to an
 * address no resolved name explains can still match. */
bool matcher_has_address_patterns(const struct matcher *m);

/* Returns true when the rules have an EXACT or WILDCARD pattern. */
bool matcher_has_name_patterns(const struct matcher *m);

#endif
