/* match.h — destination (name, address, port) → host pattern, most specific
 * first, over a compiled rules image (image_layout.h).
 *
 * Owns the matcher's tables: it lays them out when an image is compiled
 * (match_plan, match_fill) and looks destinations up in a mapped image.
 * Lookups allocate nothing, take no lock and make no system call, so they
 * are safe inside connect() in any thread while the image is mapped; they
 * check every index they read against the image's bounds, so a damaged
 * image matches less, never crashes. Priority, best first:
 *   exact name with port > exact name
 *   > wildcard (longer suffix first; equal suffix: with port first)
 *   > address (longer prefix first; equal prefix: with port first)
 *   > any "*" (with port first);
 * remaining ties go to the pattern written first. A pattern index is an
 * index into the rules' patterns, in file order. */
#ifndef FUSEBOX_MATCH_H
#define FUSEBOX_MATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "image_layout.h"
#include "rules.h"

/* A compiled rules image as a process reads it: where its sections are.
 * Filled by image_view (image.h); every pointer is into the image. */
struct matcher {
    const struct image_header *header;
    const struct image_breaker *breakers;
    const struct image_pattern *patterns;
    const uint32_t *order;
    const struct fallback_address *fallbacks;
    const char *strings; /* NUL-terminated names; the last byte is NUL */
    const struct image_name_slot *exact, *wildcard;
    const struct image_address_slot *addresses;
    /* the header's tables as image_view checked them: lookups read these, never
     * the live header, whose bytes a file changed in place could alter */
    struct image_table exact_table, wildcard_table, address_table;
    uint32_t breaker_count, pattern_count, fallback_count;
    uint32_t strings_size;
    void *owned; /* matcher_build's image, freed with the matcher; else NULL */
};

/* The priority order of r's patterns and the keys of each kind: what the
 * tables of an image of r need. */
struct match_plan {
    uint32_t *order;                /* pattern indices, malloc'd */
    uint32_t keys[PATTERN_ANY + 1]; /* distinct keys of each kind */
};

/* Fills *plan for r. Returns false on out of memory (errno ENOMEM). */
bool match_plan(const struct rules *r, struct match_plan *plan);

/* The slots of a table for keys keys (0 for none), and its shift. */
uint32_t match_table_slots(uint32_t keys, uint32_t *shift);

/* Writes the tables of r into image, whose header already has the
 * sections' and tables' offsets and sizes, the order section written, and
 * whose EXACT and WILDCARD patterns' names are at name_offsets[i] in the
 * strings; fills the header's used counts, any group and prefix lists. */
void match_fill(const struct rules *r, const struct match_plan *plan, const uint32_t *name_offsets,
                uint8_t *image);

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

/* The set of first bytes (a bit per value) of the family's (AF_INET or
 * AF_INET6) ADDRESS patterns, by which a connect to an unruled address is
 * told at once (match_first_byte_excludes); NULL when the first byte can
 * tell nothing (an ANY pattern matches every address). */
static inline const uint8_t *match_first_bytes(const struct matcher *m, int family)
{
    const struct image_header *h = m->header;
    if (h->any.count != 0)
        return NULL;
    return family == AF_INET ? h->v4_first : family == AF_INET6 ? h->v6_first : NULL;
}

/* True when no ADDRESS pattern of set's family (match_first_bytes) matches
 * an address whose first byte is first: the quick no. An address whose
 * first byte is 0 (for IPv6, it may be v4-mapped) is never told. */
static inline bool match_first_byte_excludes(const uint8_t *set, uint8_t first)
{
    return first != 0 && !(set[first / 8] >> (first % 8) & 1);
}

/* The whole decision for a host as written in a URL or on a command line (a
 * NUL-terminated name, IPv4 literal, or IPv6 literal with or without brackets)
 * and a port: an address literal as match_address, else the best name
 * candidate for port, else the best ANY pattern. Returns a pattern index or -1. */
int match_host(const struct matcher *m, const char *host, uint16_t port);

/* The breaker of pattern p (a pattern index, or -1), or -1. */
int match_breaker_of(const struct matcher *m, int p);

/* Returns true when the rules have an ADDRESS or ANY pattern: a connect() to an
 * address no resolved name explains can still match. */
bool matcher_has_address_patterns(const struct matcher *m);

/* Returns true when the rules have an EXACT or WILDCARD pattern. */
bool matcher_has_name_patterns(const struct matcher *m);

#endif
