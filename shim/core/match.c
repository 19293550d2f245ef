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

/* The patterns of one key, best first: m->order[first .. first + count). */
struct group {
    uint32_t first, count;
};

/* A slot of a name table; group.count == 0 marks an empty slot. */
struct name_slot {
    const char *name; /* normal form */
    uint32_t hash, len;
    struct group group;
};

/* A network: the address in the top bits of hi:lo (IPv4 in the top 32 bits of
 * hi), all bits past prefix_len clear. */
struct network {
    uint64_t hi, lo;
    uint8_t family, prefix_len;
};

struct address_slot {
    struct network net;
    struct group group;
};

/* Open addressing with linear probing, at most half full; a key's first slot
 * is the top bits of its digest times a constant (Fibonacci hashing), which
 * depend on every bit of the digest. */
struct name_table {
    struct name_slot *slots;
    size_t mask, used;
    unsigned shift; /* 64 - log2(slots) */
};

struct address_table {
    struct address_slot *slots;
    size_t mask, used;
    unsigned shift;
};

/* The distinct prefix lengths of a family's patterns, longest first. */
struct prefix_list {
    uint8_t len[129];
    size_t count;
};

struct matcher {
    const struct rules *rules;
    uint32_t *order; /* pattern indices grouped by key, best first within a group */
    struct name_table exact, wildcard;
    struct address_table addresses;
    struct prefix_list v4_prefixes, v6_prefixes;
    struct group any;
};

/* The name groups that match a name, best first: slot[start .. MAX_NAME_GROUPS). */
struct name_matches {
    const struct group *slot[MAX_NAME_GROUPS];
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

/* Returns n with the bits past prefix_len cleared. */
static struct network truncate_network(struct network n, uint8_t prefix_len)
{
    n.prefix_len = prefix_len;
    if (prefix_len < 64) {
        n.hi &= prefix_len != 0 ? ~0ull << (64 - prefix_len) : 0;
        n.lo = 0;
    } else {
        n.lo &= prefix_len > 64 ? ~0ull << (128 - prefix_len) : 0;
    }
    return n;
}

/* Returns the network of family (AF_INET or AF_INET6) holding addr (4 or 16 bytes) with prefix_len.
 */
static struct network network_of(int family, const uint8_t *addr, uint8_t prefix_len)
{
    struct network n = {.family = (uint8_t)family};
    if (family == AF_INET) {
        n.hi = load_be32(addr) << 32;
    } else {
        n.hi = load_be64(addr);
        n.lo = load_be64(addr + 8);
    }
    return truncate_network(n, prefix_len);
}

/* Sets *host to the full-length network of a socket address (a v4-mapped IPv6
 * address as IPv4). Returns false for a family other than AF_INET and AF_INET6. */
static bool host_network(int family, const uint8_t *addr, struct network *host)
{
    static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (family == AF_INET6 && memcmp(addr, mapped, sizeof mapped) == 0)
        *host = network_of(AF_INET, addr + 12, 32);
    else if (family == AF_INET || family == AF_INET6)
        *host = network_of(family, addr, family == AF_INET ? 32 : 128);
    else
        return false;
    return true;
}

static bool same_network(const struct network *a, const struct network *b)
{
    return a->hi == b->hi && a->lo == b->lo && a->family == b->family &&
           a->prefix_len == b->prefix_len;
}

/* Returns 64 bits that depend on every bit of n (spread further by first_slot). */
static uint64_t network_digest(const struct network *n)
{
    return n->hi ^ (n->lo * 0xc2b2ae3d27d4eb4full) ^ ((uint64_t)n->family << 8 | n->prefix_len);
}

/* ---- tables ---- */

/* Returns zeroed slots (slot_size bytes each) for a table of `entries` keys,
 * setting *mask and *shift; NULL for no keys or on out of memory. */
static void *alloc_slots(size_t entries, size_t slot_size, size_t *mask, unsigned *shift)
{
    size_t size = 4;
    if (entries == 0)
        return NULL;
    for (*shift = 62; size < 2 * entries; --*shift)
        size *= 2;
    *mask = size - 1;
    return calloc(size, slot_size);
}

static size_t first_slot(uint64_t digest, unsigned shift)
{
    return (size_t)((digest * 0x9e3779b97f4a7c15ull) >> shift);
}

static void name_insert(struct name_table *t, const char *name, struct group g)
{
    size_t len = strlen(name);
    uint32_t hash = name_hash(name, len);
    size_t i = first_slot(hash, t->shift);
    while (t->slots[i].group.count != 0)
        i = (i + 1) & t->mask;
    t->slots[i] = (struct name_slot){name, hash, (uint32_t)len, g};
    t->used++;
}

/* Returns the group of name (len bytes, any case) whose hash is hash, or NULL. */
static const struct group *find_name(const struct name_table *t, const char *name, size_t len,
                                     uint32_t hash)
{
    if (t->used == 0)
        return NULL;
    for (size_t i = first_slot(hash, t->shift);; i = (i + 1) & t->mask) {
        const struct name_slot *s = &t->slots[i];
        if (s->group.count == 0)
            return NULL;
        if (s->hash == hash && s->len == len && same_name(name, s->name, len))
            return &s->group;
    }
}

static void address_insert(struct address_table *t, struct network net, struct group g)
{
    size_t i = first_slot(network_digest(&net), t->shift);
    while (t->slots[i].group.count != 0)
        i = (i + 1) & t->mask;
    t->slots[i] = (struct address_slot){net, g};
    t->used++;
}

static const struct group *find_network(const struct address_table *t, struct network net)
{
    for (size_t i = first_slot(network_digest(&net), t->shift);; i = (i + 1) & t->mask) {
        const struct address_slot *s = &t->slots[i];
        if (s->group.count == 0)
            return NULL;
        if (same_network(&s->net, &net))
            return &s->group;
    }
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

/* Fills m->order. Returns false on out of memory. */
static bool order_patterns(struct matcher *m)
{
    const struct host_pattern *patterns = m->rules->patterns;
    size_t n = m->rules->pattern_count;
    const struct host_pattern **sorted = malloc((n + 1) * sizeof *sorted);
    m->order = malloc((n + 1) * sizeof *m->order);
    if (sorted == NULL || m->order == NULL) {
        free(sorted);
        return false;
    }
    for (size_t i = 0; i < n; i++)
        sorted[i] = &patterns[i];
    qsort(sorted, n, sizeof *sorted, compare_priority);
    for (size_t i = 0; i < n; i++)
        m->order[i] = (uint32_t)(sorted[i] - patterns);
    free(sorted);
    return true;
}

static const struct host_pattern *ordered(const struct matcher *m, size_t i)
{
    return &m->rules->patterns[m->order[i]];
}

/* Returns the end of the group that starts at m->order[start]. */
static size_t group_end(const struct matcher *m, size_t start)
{
    size_t end = start + 1;
    while (end < m->rules->pattern_count && compare_keys(ordered(m, start), ordered(m, end)) == 0)
        end++;
    return end;
}

static void add_group(struct matcher *m, struct group g)
{
    const struct host_pattern *p = ordered(m, g.first);
    switch (p->kind) {
    case PATTERN_EXACT:
        name_insert(&m->exact, p->name, g);
        break;
    case PATTERN_WILDCARD:
        name_insert(&m->wildcard, p->name, g);
        break;
    case PATTERN_ADDRESS:
        address_insert(&m->addresses, network_of(p->family, p->addr, p->prefix_len), g);
        break;
    case PATTERN_ANY:
        m->any = g;
        break;
    }
}

/* Fills the prefix lists from the ADDRESS patterns. */
static void list_prefixes(struct matcher *m)
{
    bool v4[33] = {false}, v6[129] = {false};
    for (size_t i = 0; i < m->rules->pattern_count; i++) {
        const struct host_pattern *p = &m->rules->patterns[i];
        if (p->kind == PATTERN_ADDRESS && p->family == AF_INET)
            v4[p->prefix_len] = true;
        else if (p->kind == PATTERN_ADDRESS)
            v6[p->prefix_len] = true;
    }
    for (int len = 128; len >= 0; len--) {
        if (len <= 32 && v4[len])
            m->v4_prefixes.len[m->v4_prefixes.count++] = (uint8_t)len;
        if (v6[len])
            m->v6_prefixes.len[m->v6_prefixes.count++] = (uint8_t)len;
    }
}

/* Fills the tables from m->order. Returns false on out of memory. */
static bool fill_tables(struct matcher *m)
{
    size_t groups[PATTERN_ANY + 1] = {0};
    size_t n = m->rules->pattern_count;
    for (size_t i = 0; i < n; i = group_end(m, i))
        groups[ordered(m, i)->kind]++;
    m->exact.slots =
        alloc_slots(groups[PATTERN_EXACT], sizeof *m->exact.slots, &m->exact.mask, &m->exact.shift);
    m->wildcard.slots = alloc_slots(groups[PATTERN_WILDCARD], sizeof *m->wildcard.slots,
                                    &m->wildcard.mask, &m->wildcard.shift);
    m->addresses.slots = alloc_slots(groups[PATTERN_ADDRESS], sizeof *m->addresses.slots,
                                     &m->addresses.mask, &m->addresses.shift);
    if ((groups[PATTERN_EXACT] != 0 && m->exact.slots == NULL) ||
        (groups[PATTERN_WILDCARD] != 0 && m->wildcard.slots == NULL) ||
        (groups[PATTERN_ADDRESS] != 0 && m->addresses.slots == NULL))
        return false;
    for (size_t i = 0, end; i < n; i = end) {
        end = group_end(m, i);
        add_group(m, (struct group){(uint32_t)i, (uint32_t)(end - i)});
    }
    list_prefixes(m);
    return true;
}

struct matcher *matcher_build(const struct rules *r)
{
    struct matcher *m = calloc(1, sizeof *m);
    if (m == NULL)
        return NULL;
    m->rules = r;
    if (!order_patterns(m) || !fill_tables(m)) {
        matcher_free(m);
        errno = ENOMEM;
        return NULL;
    }
    return m;
}

void matcher_free(struct matcher *m)
{
    if (m == NULL)
        return;
    free(m->order);
    free(m->exact.slots);
    free(m->wildcard.slots);
    free(m->addresses.slots);
    free(m);
}

/* ---- lookups ---- */

static int first_with_port(const struct rules *r, const uint32_t *indices, size_t n, uint16_t port)
{
    for (size_t i = 0; i < n; i++) {
        uint16_t wanted = r->patterns[indices[i]].port;
        if (wanted == 0 || wanted == port)
            return (int)indices[i];
    }
    return -1;
}

static int group_pick(const struct matcher *m, const struct group *g, uint16_t port)
{
    return first_with_port(m->rules, m->order + g->first, g->count, port);
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
    for (size_t i = len; i-- > 0;) {
        if (name[i] == '.' && i > 0 && i + 1 < len) {
            const struct group *g = find_name(&m->wildcard, name + i + 1, len - i - 1, hash);
            if (g != NULL)
                found->slot[--found->start] = g;
        }
        hash = hash_step(hash, name[i]);
    }
    const struct group *exact = find_name(&m->exact, name, len, hash);
    if (exact != NULL)
        found->slot[--found->start] = exact;
}

size_t match_name_candidates(const struct matcher *m, const char *name, size_t len, uint32_t *out,
                             size_t max)
{
    struct name_matches found;
    size_t n = 0;
    find_name_groups(m, name, len, &found);
    for (size_t i = found.start; i < MAX_NAME_GROUPS && n < max; i++)
        for (uint32_t j = 0; j < found.slot[i]->count && n < max; j++)
            out[n++] = m->order[found.slot[i]->first + j];
    return n;
}

int match_pick_port(const struct matcher *m, const uint32_t *cands, size_t n, uint16_t port)
{
    return first_with_port(m->rules, cands, n, port);
}

int match_address(const struct matcher *m, int family, const void *addr, uint16_t port)
{
    struct network host;
    if (!matcher_has_address_patterns(m) || !host_network(family, addr, &host))
        return -1;
    const struct prefix_list *prefixes = host.family == AF_INET ? &m->v4_prefixes : &m->v6_prefixes;
    for (size_t i = 0; i < prefixes->count; i++) {
        const struct group *g =
            find_network(&m->addresses, truncate_network(host, prefixes->len[i]));
        int best = g != NULL ? group_pick(m, g, port) : -1;
        if (best >= 0)
            return best;
    }
    return group_pick(m, &m->any, port);
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
    return group_pick(m, &m->any, port);
}

bool matcher_has_address_patterns(const struct matcher *m)
{
    return m->addresses.used > 0 || m->any.count > 0;
}

bool matcher_has_name_patterns(const struct matcher *m)
{
    return m->exact.used > 0 || m->wildcard.used > 0;
}
