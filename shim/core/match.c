#include "match.h"

#include <endian.h>

#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define FNV_BASIS 2166136261u
#define FNV_PRIME 16777619u
/* The exact name, and a wildcard suffix for each dot of a name. */
#define MAX_NAME_GROUPS (HOST_NAME_MAX_LEN + 1)

/* The name groups that match a name, best first: slot[start .. MAX_NAME_GROUPS). */
struct name_matches {
    const struct image_group *slot[MAX_NAME_GROUPS];
    size_t start;
};

/* ---- keys ---- */

/* Names are hashed from their last byte to their first, in lower case, so that
 * one pass meets the hash of every suffix on the way. */
static uint32_t hash_step(uint32_t hash, char c)
{
    return (hash ^ ascii_lower((unsigned char)c)) * FNV_PRIME;
}

static uint32_t name_hash(const char *name, size_t len)
{
    uint32_t hash = FNV_BASIS;
    for (size_t i = len; i-- > 0;)
        hash = hash_step(hash, name[i]);
    return hash;
}

/* Returns true when query (len bytes, any case) equals name (normal form, len bytes). */
static bool same_name(const char *query, const char *name, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (ascii_lower((unsigned char)query[i]) != (unsigned char)name[i])
            return false;
    return true;
}

/* Big-endian loads of 4 and 8 bytes, at any alignment. */
static uint64_t load_be32(const uint8_t *bytes)
{
    uint32_t value;
    memcpy(&value, bytes, sizeof value);
    return be32toh(value);
}

static uint64_t load_be64(const uint8_t *bytes)
{
    uint64_t value;
    memcpy(&value, bytes, sizeof value);
    return be64toh(value);
}

/* The top len bits of w (len 0..64), the rest clear. */
static inline uint64_t top_bits(uint64_t w, unsigned len)
{
    return len >= 64 ? w : w & ~(~0ull >> len);
}

/* Returns the network of family (AF_INET or AF_INET6) whose address (the
 * top bits of hi:lo) holds hi:lo, with prefix_len. */
static struct image_network network_at(uint8_t family, uint64_t hi, uint64_t lo, uint8_t prefix_len)
{
    struct image_network n;
    memset(&n, 0, sizeof n); /* padding too: the image's bytes depend on its rules alone */
    n.hi = top_bits(hi, prefix_len);
    n.lo = prefix_len > 64 ? top_bits(lo, prefix_len - 64u) : 0;
    n.family = family;
    n.prefix_len = prefix_len;
    return n;
}

/* Loads an address of family (4 or 16 bytes) into the top bits of *hi:*lo. */
static void load_address(int family, const uint8_t *addr, uint64_t *hi, uint64_t *lo)
{
    *hi = family == AF_INET ? load_be32(addr) << 32 : load_be64(addr);
    *lo = family == AF_INET ? 0 : load_be64(addr + 8);
}

/* Returns the network of family (AF_INET or AF_INET6) holding addr (4 or 16
 * bytes) with prefix_len. */
static struct image_network network_of(int family, const uint8_t *addr, uint8_t prefix_len)
{
    uint64_t hi, lo;
    load_address(family, addr, &hi, &lo);
    return network_at((uint8_t)family, hi, lo, prefix_len);
}

/* Returns 64 bits that depend on every bit of the network hi:lo of family
 * with prefix_len (spread further by first_slot). */
static inline uint64_t network_digest(uint64_t hi, uint64_t lo, uint8_t family, uint8_t prefix_len)
{
    return hi ^ (lo * 0xc2b2ae3d27d4eb4full) ^ ((uint64_t)family << 8 | prefix_len);
}

/* ---- tables ---- */

uint32_t match_table_slots(uint32_t keys, uint32_t *shift)
{
    uint32_t size = 4;
    *shift = 62;
    if (keys == 0)
        return 0;
    for (; size < 2 * keys; --*shift)
        size *= 2;
    return size;
}

static inline size_t first_slot(uint64_t digest, unsigned shift)
{
    return (size_t)((digest * 0x9e3779b97f4a7c15ull) >> shift);
}

static void name_insert(struct image_table *t, struct image_name_slot *slots, const char *name,
                        uint32_t offset, struct image_group g)
{
    size_t len = strlen(name);
    uint32_t hash = name_hash(name, len);
    size_t i = first_slot(hash, t->shift);
    while (slots[i].group.count != 0)
        i = (i + 1) & (t->slots - 1);
    slots[i] = (struct image_name_slot){offset, hash, (uint32_t)len, g};
    t->used++;
}

static void address_insert(struct image_table *t, struct image_address_slot *slots,
                           struct image_network net, struct image_group g)
{
    size_t i = first_slot(network_digest(net.hi, net.lo, net.family, net.prefix_len), t->shift);
    while (slots[i].group.count != 0)
        i = (i + 1) & (t->slots - 1);
    slots[i] = (struct image_address_slot){net, g};
    t->used++;
}

/* Returns the group of name (len bytes, any case) whose hash is hash, or
 * NULL. Probes at most every slot once, and reads a slot's name only when
 * it lies inside the strings. */
static const struct image_group *find_name(const struct matcher *m, const struct image_table *t,
                                           const struct image_name_slot *slots, const char *name,
                                           size_t len, uint32_t hash)
{
    if (t->used == 0)
        return NULL;
    size_t i = first_slot(hash, t->shift);
    for (uint32_t probes = 0; probes < t->slots; probes++, i = (i + 1) & (t->slots - 1)) {
        const struct image_name_slot *s = &slots[i];
        if (s->group.count == 0)
            return NULL;
        if (s->hash == hash && s->len == len && s->name < m->strings_size &&
            len < m->strings_size - s->name && same_name(name, m->strings + s->name, len))
            return &s->group;
    }
    return NULL;
}

/* The first slot of the network hi:lo (every bit past prefix_len clear) of
 * family in the address table: inside the table (the checked copy's mask). */
static inline size_t network_slot(const struct matcher *m, uint64_t hi, uint64_t lo, uint8_t family,
                                  uint8_t prefix_len)
{
    const struct image_table *t = &m->address_table;
    return first_slot(network_digest(hi, lo, family, prefix_len), t->shift) & (t->slots - 1);
}

/* Whether slot s holds the network hi:lo of family with prefix_len. */
static inline bool slot_holds(const struct image_address_slot *s, uint64_t hi, uint64_t lo,
                              uint8_t family, uint8_t prefix_len)
{
    return s->net.hi == hi && s->net.lo == lo && s->net.family == family &&
           s->net.prefix_len == prefix_len;
}

/* Returns the group of the network hi:lo (every bit past prefix_len clear)
 * of family, or NULL. Probes at most every slot once. */
static inline __attribute__((always_inline)) const struct image_group *
find_network(const struct matcher *m, uint64_t hi, uint64_t lo, uint8_t family, uint8_t prefix_len)
{
    uint32_t mask = m->address_table.slots - 1;
    size_t i = network_slot(m, hi, lo, family, prefix_len);
    for (uint32_t probes = 0; probes <= mask; probes++, i = (i + 1) & mask) {
        const struct image_address_slot *s = &m->addresses[i];
        if (s->group.count == 0)
            return NULL;
        if (slot_holds(s, hi, lo, family, prefix_len))
            return &s->group;
    }
    return NULL;
}

/* ---- building ---- */

/* Orders patterns of the same kind and key together (names by name, addresses
 * by family, prefix and address), with port first, then file order. */
static int compare_keys(const struct host_pattern *p, const struct host_pattern *q)
{
    if (p->kind != q->kind)
        return p->kind < q->kind ? -1 : 1;
    switch (p->kind) {
    case PATTERN_EXACT:
    case PATTERN_WILDCARD:
        return strcmp(p->name, q->name);
    case PATTERN_ADDRESS:
        if (p->family != q->family)
            return p->family < q->family ? -1 : 1;
        if (p->prefix_len != q->prefix_len)
            return p->prefix_len < q->prefix_len ? -1 : 1;
        return memcmp(p->addr, q->addr, p->family == AF_INET ? 4 : 16);
    case PATTERN_ANY:
        break;
    }
    return 0;
}

static int compare_priority(const void *a, const void *b)
{
    const struct host_pattern *p = *(const struct host_pattern *const *)a;
    const struct host_pattern *q = *(const struct host_pattern *const *)b;
    int by_key = compare_keys(p, q);
    if (by_key != 0)
        return by_key;
    if ((p->port == 0) != (q->port == 0))
        return p->port == 0 ? 1 : -1;
    return p < q ? -1 : p > q;
}

/* Returns the end of the group that starts at order[start]. */
static size_t group_end(const struct rules *r, const uint32_t *order, size_t start)
{
    size_t end = start + 1;
    while (end < r->pattern_count &&
           compare_keys(&r->patterns[order[start]], &r->patterns[order[end]]) == 0)
        end++;
    return end;
}

bool match_plan(const struct rules *r, struct match_plan *plan)
{
    size_t n = r->pattern_count;
    const struct host_pattern **sorted = malloc((n + 1) * sizeof *sorted);
    *plan = (struct match_plan){.order = malloc((n + 1) * sizeof *plan->order)};
    if (sorted == NULL || plan->order == NULL) {
        free(sorted);
        free(plan->order);
        plan->order = NULL;
        errno = ENOMEM;
        return false;
    }
    for (size_t i = 0; i < n; i++)
        sorted[i] = &r->patterns[i];
    qsort(sorted, n, sizeof *sorted, compare_priority);
    for (size_t i = 0; i < n; i++)
        plan->order[i] = (uint32_t)(sorted[i] - r->patterns);
    free(sorted);
    for (size_t i = 0; i < n; i = group_end(r, plan->order, i))
        plan->keys[r->patterns[plan->order[i]].kind]++;
    return true;
}

/* Adds to set the first bytes of the addresses a network whose first byte
 * is first and whose prefix is prefix_len covers. */
static void cover_first_bytes(uint8_t set[32], uint8_t first, uint8_t prefix_len)
{
    unsigned span = prefix_len >= 8 ? 1u : 1u << (8 - prefix_len);
    for (unsigned b = first & ~(span - 1); span-- > 0; b++)
        set[b / 8] |= (uint8_t)(1u << (b % 8));
}

/* Fills the header's prefix lists and first-byte sets from r's ADDRESS
 * patterns. */
static void list_prefixes(const struct rules *r, struct image_header *h)
{
    bool v4[33] = {false}, v6[129] = {false};
    for (size_t i = 0; i < r->pattern_count; i++) {
        const struct host_pattern *p = &r->patterns[i];
        if (p->kind != PATTERN_ADDRESS)
            continue;
        bool is_v4 = p->family == AF_INET;
        (is_v4 ? v4 : v6)[p->prefix_len] = true;
        cover_first_bytes(is_v4 ? h->v4_first : h->v6_first, p->addr[0], p->prefix_len);
    }
    for (int len = 128; len >= 0; len--) {
        if (len <= 32 && v4[len])
            h->v4_prefixes[h->v4_prefix_count++] = (uint8_t)len;
        if (v6[len])
            h->v6_prefixes[h->v6_prefix_count++] = (uint8_t)len;
    }
}

void match_fill(const struct rules *r, const struct match_plan *plan, const uint32_t *name_offsets,
                uint8_t *image)
{
    struct image_header *h = (struct image_header *)image;
    for (size_t i = 0, end; i < r->pattern_count; i = end) {
        end = group_end(r, plan->order, i);
        struct image_group g = {(uint32_t)i, (uint32_t)(end - i)};
        uint32_t first = plan->order[i];
        const struct host_pattern *p = &r->patterns[first];
        switch (p->kind) {
        case PATTERN_EXACT:
            name_insert(&h->exact, (struct image_name_slot *)(image + h->exact.offset), p->name,
                        name_offsets[first], g);
            break;
        case PATTERN_WILDCARD:
            name_insert(&h->wildcard, (struct image_name_slot *)(image + h->wildcard.offset),
                        p->name, name_offsets[first], g);
            break;
        case PATTERN_ADDRESS:
            address_insert(&h->addresses,
                           (struct image_address_slot *)(image + h->addresses.offset),
                           network_of(p->family, p->addr, p->prefix_len), g);
            break;
        case PATTERN_ANY:
            h->any = g;
            break;
        }
    }
    list_prefixes(r, h);
}

/* ---- lookups ---- */

static inline int first_with_port(const struct matcher *m, const uint32_t *indices, size_t n,
                                  uint16_t port)
{
    for (size_t i = 0; i < n; i++) {
        uint32_t p = indices[i];
        if (p >= m->pattern_count)
            continue;
        uint16_t wanted = m->patterns[p].port;
        if (wanted == 0 || wanted == port)
            return (int)p;
    }
    return -1;
}

static inline int group_pick(const struct matcher *m, const struct image_group *g, uint16_t port)
{
    uint32_t first = g->first, count = g->count;
    if ((uint64_t)first + count > m->pattern_count)
        return -1;
    return first_with_port(m, m->order + first, count, port);
}

/* Fills *found with the groups matching name (len bytes): the exact name, then
 * wildcard suffixes, longest first. */
static void find_name_groups(const struct matcher *m, const char *name, size_t len,
                             struct name_matches *found)
{
    uint32_t hash = FNV_BASIS;
    found->start = MAX_NAME_GROUPS;
    if (len > 0 && name[len - 1] == '.')
        len--;
    if (len == 0 || len > HOST_NAME_MAX_LEN || !matcher_has_name_patterns(m))
        return;
    const struct image_table *wildcard = &m->wildcard_table;
    for (size_t i = len; i-- > 0;) {
        if (name[i] == '.' && i > 0 && i + 1 < len) {
            const struct image_group *g =
                find_name(m, wildcard, m->wildcard, name + i + 1, len - i - 1, hash);
            if (g != NULL)
                found->slot[--found->start] = g;
        }
        hash = hash_step(hash, name[i]);
    }
    const struct image_group *exact = find_name(m, &m->exact_table, m->exact, name, len, hash);
    if (exact != NULL)
        found->slot[--found->start] = exact;
}

size_t match_name_candidates(const struct matcher *m, const char *name, size_t len, uint32_t *out,
                             size_t max)
{
    struct name_matches found;
    size_t n = 0;
    find_name_groups(m, name, len, &found);
    for (size_t i = found.start; i < MAX_NAME_GROUPS && n < max; i++) {
        const struct image_group *g = found.slot[i];
        if (g->first > m->pattern_count || g->count > m->pattern_count - g->first)
            continue;
        for (uint32_t j = 0; j < g->count && n < max; j++)
            if (m->order[g->first + j] < m->pattern_count) /* else a damaged image's */
                out[n++] = m->order[g->first + j];
    }
    return n;
}

int match_pick_port(const struct matcher *m, const uint32_t *cands, size_t n, uint16_t port)
{
    return first_with_port(m, cands, n, port);
}

/* The best ANY pattern for port, or -1. */
static inline int pick_any(const struct matcher *m, uint16_t port)
{
    const struct image_header *h = m->header;
    return h->any.count != 0 ? group_pick(m, &h->any, port) : -1;
}

/* The network of family (len bits) holding the address hi:lo (in its top
 * bits; IPv4 in the top 32 bits of hi, lo 0): its hi and lo words. */
static inline uint64_t network_hi(uint8_t family, uint64_t hi, uint8_t len)
{
    return family == AF_INET ? hi & ~(~0ull >> (len & 63)) : top_bits(hi, len);
}

static inline uint64_t network_lo(uint8_t family, uint64_t lo, uint8_t len)
{
    return family == AF_INET || len <= 64 ? 0 : top_bits(lo, len - 64u);
}

/* The best ADDRESS pattern for port among the networks of family holding
 * hi:lo with the prefixes[start .. count) (longest first), else the best
 * ANY pattern for port, else -1. */
static inline __attribute__((always_inline)) int
match_networks(const struct matcher *m, uint8_t family, uint64_t hi, uint64_t lo,
               const uint8_t *prefixes, size_t start, size_t count, uint16_t port)
{
    for (size_t i = start; i < count; i++) {
        uint8_t len = prefixes[i];
        const struct image_group *g =
            find_network(m, network_hi(family, hi, len), network_lo(family, lo, len), family, len);
        int best = g != NULL ? group_pick(m, g, port) : -1;
        if (best >= 0)
            return best;
    }
    return pick_any(m, port);
}

/* match_networks for each family, out of line: the search past the first
 * slot of the longest prefix. */
static __attribute__((noinline)) int networks_v4(const struct matcher *m, uint64_t hi,
                                                 const uint8_t *prefixes, size_t start,
                                                 size_t count, uint16_t port)
{
    return match_networks(m, AF_INET, hi, 0, prefixes, start, count, port);
}

static __attribute__((noinline)) int networks_v6(const struct matcher *m, uint64_t hi, uint64_t lo,
                                                 const uint8_t *prefixes, size_t start,
                                                 size_t count, uint16_t port)
{
    return match_networks(m, AF_INET6, hi, lo, prefixes, start, count, port);
}

/* The best ADDRESS pattern for port among the networks of family holding
 * the address hi:lo, else the best ANY pattern for port, else -1. The
 * networks are those of prefixes[0 .. count) (longest first), none when
 * hi's first byte is outside first; size is the prefix list's capacity: a
 * larger count is a damaged image's. The common cases end here, without a
 * loop: the longest prefix's network in its first slot, or that slot empty
 * and no other prefix. */
static inline __attribute__((always_inline)) int match_family(const struct matcher *m,
                                                              uint8_t family, uint64_t hi,
                                                              uint64_t lo, const uint8_t *first,
                                                              const uint8_t *prefixes, size_t count,
                                                              size_t size, uint16_t port)
{
    unsigned byte = (unsigned)(hi >> 56);
    if (m->address_table.used == 0 || !(first[byte / 8] >> (byte % 8) & 1) || count == 0 ||
        count > size)
        return pick_any(m, port);
    uint8_t len = prefixes[0];
    uint64_t net_hi = network_hi(family, hi, len), net_lo = network_lo(family, lo, len);
    const struct image_address_slot *s =
        &m->addresses[network_slot(m, net_hi, net_lo, family, len)];
    size_t start = 1; /* the longest prefix is done with: none, or none for port */
    if (s->group.count != 0 && slot_holds(s, net_hi, net_lo, family, len)) {
        int best = group_pick(m, &s->group, port);
        if (best >= 0)
            return best;
    } else if (s->group.count != 0) {
        start = 0; /* another network's slot: probe on */
    }
    if (start == count)
        return pick_any(m, port);
    return family == AF_INET ? networks_v4(m, hi, prefixes, start, count, port)
                             : networks_v6(m, hi, lo, prefixes, start, count, port);
}

/* match_address for an IPv4 address in the top 32 bits of hi. */
static int match_v4(const struct matcher *m, uint64_t hi, uint16_t port)
{
    const struct image_header *h = m->header;
    return match_family(m, AF_INET, hi, 0, h->v4_first, h->v4_prefixes, h->v4_prefix_count,
                        sizeof h->v4_prefixes, port);
}

/* match_address for an IPv6 address hi:lo that is not v4-mapped. */
static int match_v6(const struct matcher *m, uint64_t hi, uint64_t lo, uint16_t port)
{
    const struct image_header *h = m->header;
    return match_family(m, AF_INET6, hi, lo, h->v6_first, h->v6_prefixes, h->v6_prefix_count,
                        sizeof h->v6_prefixes, port);
}

int match_address(const struct matcher *m, int family, const void *addr, uint16_t port)
{
    if (family == AF_INET)
        return match_v4(m, load_be32(addr) << 32, port);
    if (family != AF_INET6)
        return -1;
    uint64_t hi = load_be64(addr), lo = load_be64((const uint8_t *)addr + 8);
    if (hi == 0 && lo >> 32 == 0xffff) /* v4-mapped: ::ffff:a.b.c.d */
        return match_v4(m, lo << 32, port);
    return match_v6(m, hi, lo, port);
}

/* Parses host as an IPv4 literal, or an IPv6 literal with or without brackets,
 * into addr. Returns its family, or AF_UNSPEC when host is not one. */
static int parse_address_literal(const char *host, uint8_t addr[16])
{
    char inner[INET6_ADDRSTRLEN];
    size_t len = strlen(host);
    if (len >= 2 && host[0] == '[' && host[len - 1] == ']') {
        if (len - 2 >= sizeof inner)
            return AF_UNSPEC;
        memcpy(inner, host + 1, len - 2);
        inner[len - 2] = '\0';
        return inet_pton(AF_INET6, inner, addr) == 1 ? AF_INET6 : AF_UNSPEC;
    }
    if (inet_pton(AF_INET, host, addr) == 1)
        return AF_INET;
    if (inet_pton(AF_INET6, host, addr) == 1)
        return AF_INET6;
    return AF_UNSPEC;
}

int match_host(const struct matcher *m, const char *host, uint16_t port)
{
    uint8_t addr[16];
    int family = parse_address_literal(host, addr);
    if (family != AF_UNSPEC)
        return match_address(m, family, addr, port);
    struct name_matches found;
    find_name_groups(m, host, strlen(host), &found);
    for (size_t i = found.start; i < MAX_NAME_GROUPS; i++) {
        int best = group_pick(m, found.slot[i], port);
        if (best >= 0)
            return best;
    }
    return group_pick(m, &m->header->any, port);
}

int match_breaker_of(const struct matcher *m, int p)
{
    if (p < 0 || (uint32_t)p >= m->pattern_count)
        return -1;
    uint32_t b = m->patterns[p].breaker;
    return b < m->breaker_count ? (int)b : -1;
}

bool matcher_has_address_patterns(const struct matcher *m)
{
    return m->address_table.used > 0 || m->header->any.count > 0;
}

bool matcher_has_name_patterns(const struct matcher *m)
{
    return m->exact_table.used > 0 || m->wildcard_table.used > 0;
}
