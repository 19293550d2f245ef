#include "image.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "state.h"

#ifndef FUSEBOX_VERSION
#define FUSEBOX_VERSION "unknown"
#endif

/* An image being laid out: the bytes placed so far. */
struct layout {
    uint64_t size;
};

static uint64_t align8(uint64_t n)
{
    return (n + 7u) & ~(uint64_t)7u;
}

/* Reserves count records of size bytes; returns their offset. */
static uint64_t place(struct layout *l, uint64_t count, size_t size)
{
    uint64_t offset = l->size;
    l->size = align8(l->size + count * size);
    return offset;
}

static void place_section(struct layout *l, struct image_section *s, uint64_t count, size_t size)
{
    s->offset = place(l, count, size);
    s->count = (uint32_t)count;
}

static void place_table(struct layout *l, struct image_table *t, uint32_t keys, size_t size)
{
    t->slots = match_table_slots(keys, &t->shift);
    t->offset = place(l, t->slots, size);
}

/* The bytes of strings an image of r needs: "" at offset 0, then every
 * breaker's name and every EXACT and WILDCARD pattern's name. */
static uint64_t strings_size(const struct rules *r)
{
    uint64_t size = 1;
    for (size_t b = 0; b < r->breaker_count; b++)
        size += strlen(r->breakers[b].name) + 1;
    for (size_t p = 0; p < r->pattern_count; p++)
        if (r->patterns[p].kind == PATTERN_EXACT || r->patterns[p].kind == PATTERN_WILDCARD)
            size += strlen(r->patterns[p].name) + 1;
    return size;
}

/* Appends s to the strings at *used; returns its offset. */
static uint32_t add_string(char *strings, uint64_t *used, const char *s)
{
    size_t len = strlen(s) + 1;
    uint32_t offset = (uint32_t)*used;
    memcpy(strings + offset, s, len);
    *used += len;
    return offset;
}

static void write_breakers(const struct rules *r, uint8_t *image, char *strings, uint64_t *used)
{
    const struct image_header *h = (const struct image_header *)image;
    struct image_breaker *out = (struct image_breaker *)(image + h->breakers.offset);
    struct fallback_address *fallbacks = (struct fallback_address *)(image + h->fallbacks.offset);
    uint32_t next_fallback = 0;
    for (size_t b = 0; b < r->breaker_count; b++) {
        const struct rule_breaker *rb = &r->breakers[b];
        out[b] = (struct image_breaker){
            .config = rb->config,
            .name_hash = state_name_hash(rb->name),
            .name = add_string(strings, used, rb->name),
            .max_hosts = rb->max_hosts,
            .fallback = next_fallback,
            .fallback_count = rb->fallback_count,
            .protocol = (uint8_t)rb->protocol,
            .per_host = rb->per_host,
        };
        if (rb->fallback_count != 0) /* a breaker without fallbacks has none: NULL */
            memcpy(fallbacks + next_fallback, rb->fallbacks,
                   rb->fallback_count * sizeof *fallbacks);
        next_fallback += rb->fallback_count;
    }
}

/* Writes the patterns and their names; fills name_offsets. */
static void write_patterns(const struct rules *r, uint8_t *image, char *strings, uint64_t *used,
                           uint32_t *name_offsets)
{
    const struct image_header *h = (const struct image_header *)image;
    struct image_pattern *out = (struct image_pattern *)(image + h->patterns.offset);
    for (size_t p = 0; p < r->pattern_count; p++) {
        const struct host_pattern *hp = &r->patterns[p];
        out[p] = (struct image_pattern){.breaker = hp->breaker, .port = hp->port};
        bool named = hp->kind == PATTERN_EXACT || hp->kind == PATTERN_WILDCARD;
        name_offsets[p] = named ? add_string(strings, used, hp->name) : 0;
    }
}

/* Lays out the header of an image of r; returns the image's size. */
static uint64_t lay_out(const struct rules *r, const struct match_plan *plan,
                        struct image_header *h)
{
    struct layout l = {align8(sizeof *h)};
    uint64_t fallbacks = 0;
    for (size_t b = 0; b < r->breaker_count; b++)
        fallbacks += r->breakers[b].fallback_count;
    place_section(&l, &h->breakers, r->breaker_count, sizeof(struct image_breaker));
    place_section(&l, &h->patterns, r->pattern_count, sizeof(struct image_pattern));
    place_section(&l, &h->order, r->pattern_count, sizeof(uint32_t));
    place_section(&l, &h->fallbacks, fallbacks, sizeof(struct fallback_address));
    place_table(&l, &h->exact, plan->keys[PATTERN_EXACT], sizeof(struct image_name_slot));
    place_table(&l, &h->wildcard, plan->keys[PATTERN_WILDCARD], sizeof(struct image_name_slot));
    place_table(&l, &h->addresses, plan->keys[PATTERN_ADDRESS], sizeof(struct image_address_slot));
    place_section(&l, &h->strings, strings_size(r), 1);
    return l.size;
}

void *image_compile(const struct rules *r, const struct image_source *source, size_t *len)
{
    if (r->breaker_count >= IMAGE_MAX_BREAKERS || r->pattern_count >= UINT32_MAX / 8) {
        errno = E2BIG;
        return NULL;
    }
    struct match_plan plan;
    if (!match_plan(r, &plan))
        return NULL;
    struct image_header h = {.format_version = IMAGE_FORMAT_VERSION,
                             .record_digest = image_record_digest(),
                             .compiled_wall_ms = clock_wall_ms(),
                             .source = *source};
    memcpy(h.magic, IMAGE_MAGIC, sizeof h.magic);
    strncpy(h.build, FUSEBOX_VERSION, sizeof h.build - 1);
    h.size = lay_out(r, &plan, &h);
    uint8_t *image = NULL;
    uint32_t *name_offsets = NULL;
    if (h.size >= UINT32_MAX || h.strings.count >= UINT32_MAX) {
        errno = E2BIG;
    } else {
        image = calloc(1, h.size);
        name_offsets = malloc((r->pattern_count + 1) * sizeof *name_offsets);
    }
    if (image && name_offsets) {
        memcpy(image, &h, sizeof h);
        char *strings = (char *)image + h.strings.offset;
        uint64_t used = 1;
        write_breakers(r, image, strings, &used);
        write_patterns(r, image, strings, &used, name_offsets);
        memcpy(image + h.order.offset, plan.order, r->pattern_count * sizeof *plan.order);
        match_fill(r, &plan, name_offsets, image);
        *len = h.size;
    } else {
        free(image);
        image = NULL;
        if (h.size < UINT32_MAX)
            errno = ENOMEM;
    }
    free(name_offsets);
    free(plan.order);
    return image;
}

/* Whether count records of size bytes at offset lie inside an image of len
 * bytes, aligned. */
static bool inside(uint64_t offset, uint64_t count, size_t size, uint64_t len)
{
    return offset % 8 == 0 && offset <= len && count <= (len - offset) / size;
}

static bool table_fits(const struct image_table *t, size_t size, uint64_t len)
{
    if (t->slots == 0) /* its offset still makes a pointer */
        return t->used == 0 && inside(t->offset, 0, size, len);
    bool power_of_two = (t->slots & (t->slots - 1)) == 0;
    return power_of_two && t->slots >= 4 && t->used < t->slots &&
           t->shift == 64u - (uint32_t)__builtin_ctz(t->slots) &&
           inside(t->offset, t->slots, size, len);
}

/* Whether a prefix list of size bytes holds count lengths of at most max bits. */
static bool prefixes_fit(const uint8_t *prefixes, size_t size, uint8_t count, uint8_t max)
{
    if (count > size)
        return false;
    for (uint8_t i = 0; i < count; i++)
        if (prefixes[i] > max)
            return false;
    return true;
}

bool image_view(const void *base, size_t len, struct matcher *m, const char **why)
{
    const struct image_header *h = base;
    const uint8_t *bytes = base;
    char build[IMAGE_BUILD_SIZE] = {0};
    strncpy(build, FUSEBOX_VERSION, sizeof build - 1);
    *why = "not a rules image";
    if (len < sizeof *h || memcmp(h->magic, IMAGE_MAGIC, sizeof h->magic) != 0)
        return false;
    *why = "compiled by another fusebox version";
    if (h->format_version != IMAGE_FORMAT_VERSION || h->record_digest != image_record_digest() ||
        memcmp(h->build, build, sizeof build) != 0)
        return false;
    *why = h->size > len ? "truncated" : "damaged";
    if (h->size != len || len >= UINT32_MAX ||
        !inside(h->breakers.offset, h->breakers.count, sizeof(struct image_breaker), len) ||
        !inside(h->patterns.offset, h->patterns.count, sizeof(struct image_pattern), len) ||
        !inside(h->order.offset, h->order.count, sizeof(uint32_t), len) ||
        !inside(h->fallbacks.offset, h->fallbacks.count, sizeof(struct fallback_address), len) ||
        !inside(h->strings.offset, h->strings.count, 1, len) || h->strings.count == 0 ||
        bytes[h->strings.offset + h->strings.count - 1] != '\0' ||
        h->order.count != h->patterns.count || h->breakers.count >= IMAGE_MAX_BREAKERS ||
        !table_fits(&h->exact, sizeof(struct image_name_slot), len) ||
        !table_fits(&h->wildcard, sizeof(struct image_name_slot), len) ||
        !table_fits(&h->addresses, sizeof(struct image_address_slot), len) ||
        !prefixes_fit(h->v4_prefixes, sizeof h->v4_prefixes, h->v4_prefix_count, 32) ||
        !prefixes_fit(h->v6_prefixes, sizeof h->v6_prefixes, h->v6_prefix_count, 128))
        return false;
    *m = (struct matcher){
        .header = h,
        .breakers = (const struct image_breaker *)(bytes + h->breakers.offset),
        .patterns = (const struct image_pattern *)(bytes + h->patterns.offset),
        .order = (const uint32_t *)(bytes + h->order.offset),
        .fallbacks = (const struct fallback_address *)(bytes + h->fallbacks.offset),
        .strings = (const char *)(bytes + h->strings.offset),
        .exact = (const struct image_name_slot *)(bytes + h->exact.offset),
        .wildcard = (const struct image_name_slot *)(bytes + h->wildcard.offset),
        .addresses = (const struct image_address_slot *)(bytes + h->addresses.offset),
        .exact_table = h->exact,
        .wildcard_table = h->wildcard,
        .address_table = h->addresses,
        .breaker_count = h->breakers.count,
        .pattern_count = h->patterns.count,
        .fallback_count = h->fallbacks.count,
        .strings_size = h->strings.count,
    };
    *why = NULL;
    return true;
}

struct matcher *matcher_build(const struct rules *r)
{
    static const struct image_source unknown;
    size_t len;
    const char *why;
    struct matcher *m = malloc(sizeof *m);
    void *image = m ? image_compile(r, &unknown, &len) : NULL;
    if (!image || !image_view(image, len, m, &why)) {
        free(image);
        free(m);
        errno = ENOMEM;
        return NULL;
    }
    m->owned = image;
    return m;
}

void matcher_free(struct matcher *m)
{
    if (m == NULL)
        return;
    free(m->owned);
    free(m);
}

const char *image_breaker_name(const struct matcher *m, uint32_t b)
{
    uint32_t offset = b < m->breaker_count ? m->breakers[b].name : 0;
    return offset < m->strings_size ? m->strings + offset : "";
}

const struct fallback_address *image_fallbacks(const struct matcher *m, uint32_t b, uint32_t *count)
{
    const struct image_breaker *ib = b < m->breaker_count ? &m->breakers[b] : NULL;
    bool fits = ib && ib->fallback <= m->fallback_count &&
                ib->fallback_count <= m->fallback_count - ib->fallback;
    *count = fits ? ib->fallback_count : 0;
    return fits ? m->fallbacks + ib->fallback : NULL;
}

bool image_same_source(const struct image_source *a, const struct image_source *b)
{
    return a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
           a->mtime_ns == b->mtime_ns && a->ctime_ns == b->ctime_ns && a->text_hash == b->text_hash;
}
