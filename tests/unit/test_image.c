/* test_image.c — compiled rules images (image.c, image_file.c,
 * image_load.c): the pinned layout, compile and view round trips, what the
 * check refuses, damaged images that lookups survive, image files and the
 * load-or-compile-or-last-good policy. Its damaged images are asked what
 * the fuzzing harness asks (tests/fuzz/fuzz_image.c, included), and the
 * harness's seed corpus is replayed here. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../fuzz/fuzz_image.c"
#include "image_file.h"
#include "image_load.h"
#include "state.h"
#include "unit.h"

#define CORPUS "tests/fuzz/corpus-image"

static char dir[] = "/tmp/fusebox-test-image-XXXXXX";

static const char *path_in_dir(const char *name)
{
    static char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return path;
}

static struct rules *parse(const char *json)
{
    char *errors = NULL;
    struct rules *r = rules_parse(json, strlen(json), "test.json", &errors);
    if (!CHECK(r != NULL))
        unit_diag("#   %s", errors ? errors : "(no errors)\n");
    free(errors);
    return r;
}

/* A malloc'd copy of image_rules' image (*len bytes), compiled from source. */
static uint8_t *compiled(const struct image_source *source, size_t *len)
{
    struct rules *r = parse(image_rules);
    uint8_t *image = r ? image_compile(r, source, len) : NULL;
    CHECK(image != NULL);
    rules_free(r);
    return image;
}

/* What the header of an image records: a change needs IMAGE_FORMAT_VERSION
 * raised (and these figures with it). */
static void layout_is_pinned(void)
{
    CHECK_INT(IMAGE_FORMAT_VERSION, 2);
    CHECK_INT(offsetof(struct image_header, magic), 0);
    CHECK_INT(offsetof(struct image_header, format_version), 8);
    CHECK_INT(offsetof(struct image_header, record_digest), 12);
    CHECK_INT(offsetof(struct image_header, build), 16);
    CHECK_INT(offsetof(struct image_header, size), 48);
    CHECK_INT(offsetof(struct image_header, compiled_wall_ms), 56);
    CHECK_INT(offsetof(struct image_header, source), 64);
    CHECK_INT(offsetof(struct image_header, breakers), 112);
    CHECK_INT(offsetof(struct image_header, patterns), 128);
    CHECK_INT(offsetof(struct image_header, order), 144);
    CHECK_INT(offsetof(struct image_header, fallbacks), 160);
    CHECK_INT(offsetof(struct image_header, strings), 176);
    CHECK_INT(offsetof(struct image_header, exact), 192);
    CHECK_INT(offsetof(struct image_header, wildcard), 216);
    CHECK_INT(offsetof(struct image_header, addresses), 240);
    CHECK_INT(offsetof(struct image_header, any), 264);
    CHECK_INT(offsetof(struct image_header, v4_prefix_count), 272);
    CHECK_INT(offsetof(struct image_header, v6_prefix_count), 273);
    CHECK_INT(offsetof(struct image_header, v4_prefixes), 274);
    CHECK_INT(offsetof(struct image_header, v6_prefixes), 307);
    CHECK_INT(offsetof(struct image_header, reserved), 436);
    CHECK_INT(offsetof(struct image_header, v4_first), 440);
    CHECK_INT(offsetof(struct image_header, v6_first), 472);
    CHECK_INT(sizeof(struct image_header), 504);
    CHECK_INT(offsetof(struct image_source, ino), 8);
    CHECK_INT(offsetof(struct image_source, size), 16);
    CHECK_INT(offsetof(struct image_source, mtime_ns), 24);
    CHECK_INT(offsetof(struct image_source, ctime_ns), 32);
    CHECK_INT(offsetof(struct image_source, text_hash), 40);
    CHECK_INT(sizeof(struct image_source), 48);
    CHECK_INT(offsetof(struct image_section, count), 8);
    CHECK_INT(sizeof(struct image_section), 16);
    CHECK_INT(offsetof(struct image_table, slots), 8);
    CHECK_INT(offsetof(struct image_table, used), 12);
    CHECK_INT(offsetof(struct image_table, shift), 16);
    CHECK_INT(sizeof(struct image_table), 24);
    CHECK_INT(offsetof(struct image_group, count), 4);
    CHECK_INT(sizeof(struct image_group), 8);
    CHECK_INT(offsetof(struct image_name_slot, hash), 4);
    CHECK_INT(offsetof(struct image_name_slot, len), 8);
    CHECK_INT(offsetof(struct image_name_slot, group), 12);
    CHECK_INT(sizeof(struct image_name_slot), 20);
    CHECK_INT(offsetof(struct image_network, lo), 8);
    CHECK_INT(offsetof(struct image_network, family), 16);
    CHECK_INT(offsetof(struct image_network, prefix_len), 17);
    CHECK_INT(sizeof(struct image_network), 24);
    CHECK_INT(offsetof(struct image_address_slot, group), 24);
    CHECK_INT(sizeof(struct image_address_slot), 32);
    CHECK_INT(offsetof(struct image_pattern, port), 4);
    CHECK_INT(sizeof(struct image_pattern), 8);
    CHECK_INT(offsetof(struct image_breaker, name_hash), 64);
    CHECK_INT(offsetof(struct image_breaker, name), 72);
    CHECK_INT(offsetof(struct image_breaker, max_hosts), 76);
    CHECK_INT(offsetof(struct image_breaker, fallback), 80);
    CHECK_INT(offsetof(struct image_breaker, fallback_count), 84);
    CHECK_INT(offsetof(struct image_breaker, protocol), 88);
    CHECK_INT(offsetof(struct image_breaker, per_host), 89);
    CHECK_INT(sizeof(struct image_breaker), 96);
    CHECK_INT(offsetof(struct breaker_config, reset_timeout_ms), 4);
    CHECK_INT(offsetof(struct breaker_config, success_threshold), 8);
    CHECK_INT(offsetof(struct breaker_config, half_open_max_calls), 12);
    CHECK_INT(offsetof(struct breaker_config, failure_mask), 16);
    CHECK_INT(offsetof(struct breaker_config, fail_dns), 20);
    CHECK_INT(offsetof(struct breaker_config, window_ms), 24);
    CHECK_INT(offsetof(struct breaker_config, min_calls), 28);
    CHECK_INT(offsetof(struct breaker_config, failure_rate), 32);
    CHECK_INT(offsetof(struct breaker_config, slow_rate), 33);
    CHECK_INT(offsetof(struct breaker_config, slow_call_ms), 36);
    CHECK_INT(offsetof(struct breaker_config, backoff_multiplier), 40);
    CHECK_INT(offsetof(struct breaker_config, backoff_max_ms), 48);
    CHECK_INT(offsetof(struct breaker_config, backoff_jitter_permille), 52);
    CHECK_INT(offsetof(struct breaker_config, honor_retry_after), 54);
    CHECK_INT(offsetof(struct breaker_config, half_open_max_wait_ms), 56);
    CHECK_INT(sizeof(struct breaker_config), 64);
    CHECK_INT(offsetof(struct fallback_address, port), 2);
    CHECK_INT(offsetof(struct fallback_address, addr), 4);
    CHECK_INT(offsetof(struct fallback_address, host), 20);
    CHECK_INT(sizeof(struct fallback_address), 68);
}

/* A destination and the pattern index image_rules give it (-1: none). */
struct expect {
    const char *host;
    uint16_t port;
    int pattern;
};

static const struct expect host_expectations[] = {
    {"api.example.com", 443, 1},
    {"api.example.com", 80, 0},
    {"API.Example.COM.", 0, 0},
    {"api.example.com", 8443, 0},
    {"a.svc.example.com", 0, 2},
    {"a.svc.example.com", 8443, 2},
    {"b.example.com", 8443, 3},
    {"b.example.com", 80, -1},
    {"b.example.com", 5432, 9},
    {"example.com", 8443, -1},
    {"10.1.2.3", 80, 5},
    {"10.1.2.3", 443, 4},
    {"10.1.9.9", 0, 4},
    {"127.0.0.1", 9, 6},
    {"127.0.0.1", 10, -1},
    {"127.0.0.1", 5432, 9},
    {"192.168.1.1", 80, -1},
    {"2001:db8::5", 1, 7},
    {"[2001:db8:ffff::1]", 0, 7},
    {"::1", 8443, 8},
    {"[::1]", 80, -1},
    {"::ffff:10.1.2.3", 80, 5},
    {"unruled.example", 5432, 9},
    {"unruled.example", 443, -1},
};

/* match_host and match_address, for every host_expectations row. */
static void lookups_agree(const struct matcher *m)
{
    for (size_t i = 0; i < sizeof host_expectations / sizeof *host_expectations; i++) {
        const struct expect *e = &host_expectations[i];
        int got = match_host(m, e->host, e->port);
        CHECK_CTX(got == e->pattern, "%s:%u gave %d, want %d", e->host, (unsigned)e->port, got,
                  e->pattern);
        uint8_t addr[16];
        int family = inet_pton(AF_INET, e->host, addr) == 1    ? AF_INET
                     : inet_pton(AF_INET6, e->host, addr) == 1 ? AF_INET6
                                                               : AF_UNSPEC;
        if (family != AF_UNSPEC)
            CHECK_CTX(match_address(m, family, addr, e->port) == e->pattern, "address %s:%u",
                      e->host, (unsigned)e->port);
    }
}

/* Name candidates, breakers and their names and fallbacks. */
static void breakers_agree(const struct matcher *m, const struct rules *r)
{
    uint32_t cands[8];
    size_t n = match_name_candidates(m, "API.example.com.", 16, cands, 8);
    CHECK_INT(n, 3);
    CHECK(n == 3 && cands[0] == 1 && cands[1] == 0 && cands[2] == 3);
    CHECK_INT(match_name_candidates(m, "x.api.example.com", 17, cands, 8), 1);
    CHECK_INT(match_name_candidates(m, "a.svc.example.com", 17, cands, 1), 1);
    CHECK_INT(cands[0], 2);
    CHECK_INT(match_pick_port(m, cands, 1, 9), 2);
    CHECK_INT(match_breaker_of(m, 9), 4);
    CHECK_INT(match_breaker_of(m, 10), -1);
    CHECK_INT(m->breaker_count, r->breaker_count);
    CHECK_INT(m->pattern_count, r->pattern_count);
    for (uint32_t b = 0; b < m->breaker_count; b++) {
        const struct rule_breaker *rb = &r->breakers[b];
        const struct image_breaker *ib = &m->breakers[b];
        CHECK_STR(image_breaker_name(m, b), rb->name);
        CHECK(ib->name_hash == state_name_hash(rb->name));
        CHECK_INT(ib->config.fail_max, rb->config.fail_max);
        CHECK_INT(ib->config.reset_timeout_ms, rb->config.reset_timeout_ms);
        CHECK_INT(ib->per_host, rb->per_host);
        CHECK_INT(ib->max_hosts, rb->max_hosts);
        CHECK_INT(ib->protocol, rb->protocol);
        uint32_t count;
        const struct fallback_address *f = image_fallbacks(m, b, &count);
        CHECK_INT(count, rb->fallback_count);
        for (uint32_t i = 0; f && i < count && i < rb->fallback_count; i++)
            CHECK_CTX(strcmp(f[i].host, rb->fallbacks[i].host) == 0 &&
                          f[i].port == rb->fallbacks[i].port,
                      "breaker %s fallback %u", rb->name, i);
    }
    CHECK_INT(r->breakers[1].per_host, 1);
    CHECK_INT(r->breakers[2].protocol, PROTOCOL_TCP);
    CHECK_INT(r->breakers[3].fallback_count, 1);
    CHECK_STR(image_breaker_name(m, m->breaker_count), "");
    uint32_t count = 7;
    CHECK(image_fallbacks(m, m->breaker_count, &count) == NULL && count == 0);
}

static void a_compiled_image_says_what_the_rules_say(void)
{
    static const struct image_source source = {.dev = 1, .ino = 2, .size = 3, .mtime_ns = 4};
    struct rules *r = parse(image_rules);
    size_t len;
    uint8_t *image = r ? image_compile(r, &source, &len) : NULL;
    struct matcher m;
    const char *why = "unset";
    if (CHECK(image != NULL) && CHECK(image_view(image, len, &m, &why))) {
        CHECK(why == NULL);
        CHECK(m.owned == NULL);
        CHECK(image_same_source(&m.header->source, &source));
        CHECK(matcher_has_name_patterns(&m) && matcher_has_address_patterns(&m));
        lookups_agree(&m);
        breakers_agree(&m, r);
        CHECK(image_lookups_in_range(&m));
    }
    free(image);
    struct matcher *built = r ? matcher_build(r) : NULL;
    if (CHECK(built != NULL))
        lookups_agree(built);
    matcher_free(built);
    rules_free(r);
}

/* A view's lookups use the tables as image_view checked them: the header's
 * table sizes and shifts changed afterwards (a file rewritten in place under
 * a process) send no probe outside the tables (ASan would see it), and the
 * answers stay those of the checked image. */
static void a_header_changed_after_its_view_moves_no_lookup(void)
{
    static const struct image_source source = {.dev = 1};
    size_t len;
    uint8_t *image = compiled(&source, &len);
    struct matcher m;
    const char *why;
    if (CHECK(image != NULL) && CHECK(image_view(image, len, &m, &why))) {
        struct image_header *h = (struct image_header *)image;
        struct image_table *tables[] = {&h->exact, &h->wildcard, &h->addresses};
        for (size_t i = 0; i < sizeof tables / sizeof tables[0]; i++) {
            tables[i]->slots = UINT32_MAX;
            tables[i]->shift = 1;
            tables[i]->used = UINT32_MAX;
        }
        lookups_agree(&m);
    }
    free(image);
}

static void an_image_of_no_breakers_matches_nothing(void)
{
    static const struct image_source source;
    struct rules *r = parse("{\"version\":1,\"breakers\":[]}");
    size_t len;
    uint8_t *image = r ? image_compile(r, &source, &len) : NULL;
    struct matcher m;
    const char *why;
    if (CHECK(image != NULL) && CHECK(image_view(image, len, &m, &why))) {
        CHECK(!matcher_has_name_patterns(&m) && !matcher_has_address_patterns(&m));
        CHECK_INT(match_host(&m, "api.example.com", 443), -1);
        CHECK_INT(match_host(&m, "10.1.2.3", 80), -1);
        CHECK(image_lookups_in_range(&m));
        /* an empty table's offset still has to lie inside */
        ((struct image_header *)image)->exact.offset = len + 8;
        CHECK(!image_view(image, len, &m, &why));
        CHECK_STR(why, "damaged");
    }
    free(image);
    rules_free(r);
}

/* Damages a copy of a genuine image with damage, and returns image_view's
 * reason (NULL: accepted). */
static const char *view_damaged(void (*damage)(struct image_header *, size_t *len))
{
    static const struct image_source source;
    static char reason[64];
    size_t len;
    uint8_t *image = compiled(&source, &len);
    if (!image)
        return "not compiled";
    damage((struct image_header *)image, &len);
    struct matcher m;
    const char *why;
    bool ok = image_view(image, len, &m, &why);
    snprintf(reason, sizeof reason, "%s", ok ? "accepted" : why);
    free(image);
    return ok ? NULL : reason;
}

static void bad_magic(struct image_header *h, size_t *len)
{
    (void)len;
    h->magic[7] = 'Z';
}
static void shorter_than_a_header(struct image_header *h, size_t *len)
{
    (void)h;
    *len = sizeof *h - 1;
}
static void other_format(struct image_header *h, size_t *len)
{
    (void)len;
    h->format_version++;
}
static void other_records(struct image_header *h, size_t *len)
{
    (void)len;
    h->record_digest ^= 1;
}
static void other_build(struct image_header *h, size_t *len)
{
    (void)len;
    h->build[0] ^= 1;
}
static void cut_short(struct image_header *h, size_t *len)
{
    (void)h;
    *len -= 8;
}
static void size_differs(struct image_header *h, size_t *len)
{
    (void)len;
    h->size -= 8;
}
static void section_outside(struct image_header *h, size_t *len)
{
    h->patterns.offset = *len;
}
static void section_too_long(struct image_header *h, size_t *len)
{
    (void)len;
    h->breakers.count = 1000;
}
static void section_misaligned(struct image_header *h, size_t *len)
{
    (void)len;
    h->order.offset += 4;
}
static void order_not_patterns(struct image_header *h, size_t *len)
{
    (void)len;
    h->order.count--;
}
static void strings_unterminated(struct image_header *h, size_t *len)
{
    (void)len;
    ((char *)h)[h->strings.offset + h->strings.count - 1] = 'x';
}
static void slots_not_a_power_of_two(struct image_header *h, size_t *len)
{
    (void)len;
    h->exact.slots = 6;
}
static void shift_mismatch(struct image_header *h, size_t *len)
{
    (void)len;
    h->wildcard.shift--;
}
static void table_full(struct image_header *h, size_t *len)
{
    (void)len;
    h->addresses.used = h->addresses.slots;
}
static void table_outside(struct image_header *h, size_t *len)
{
    h->addresses.offset = *len - 8;
}
static void v6_prefix_too_long(struct image_header *h, size_t *len)
{
    (void)len;
    h->v6_prefixes[0] = 129;
}
static void v4_prefix_too_long(struct image_header *h, size_t *len)
{
    (void)len;
    h->v4_prefixes[0] = 33;
}
static void too_many_prefixes(struct image_header *h, size_t *len)
{
    (void)len;
    h->v4_prefix_count = 34;
}
static void nothing(struct image_header *h, size_t *len)
{
    (void)h;
    (void)len;
}

static void view_refuses_what_it_cannot_read(void)
{
    static const struct {
        const char *name;
        void (*damage)(struct image_header *, size_t *);
        const char *why;
    } cases[] = {
        {"bad magic", bad_magic, "not a rules image"},
        {"shorter than a header", shorter_than_a_header, "not a rules image"},
        {"other format", other_format, "compiled by another fusebox version"},
        {"other records", other_records, "compiled by another fusebox version"},
        {"other build", other_build, "compiled by another fusebox version"},
        {"cut short", cut_short, "truncated"},
        {"size differs", size_differs, "damaged"},
        {"section outside", section_outside, "damaged"},
        {"section too long", section_too_long, "damaged"},
        {"section misaligned", section_misaligned, "damaged"},
        {"order not patterns", order_not_patterns, "damaged"},
        {"strings unterminated", strings_unterminated, "damaged"},
        {"slots not a power of two", slots_not_a_power_of_two, "damaged"},
        {"shift mismatch", shift_mismatch, "damaged"},
        {"table full", table_full, "damaged"},
        {"table outside", table_outside, "damaged"},
        {"v6 prefix too long", v6_prefix_too_long, "damaged"},
        {"v4 prefix too long", v4_prefix_too_long, "damaged"},
        {"too many prefixes", too_many_prefixes, "damaged"},
        {"nothing", nothing, NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        const char *why = view_damaged(cases[i].damage);
        CHECK_CTX(why == cases[i].why || (why && cases[i].why && strcmp(why, cases[i].why) == 0),
                  "%s: %s", cases[i].name, why ? why : "accepted");
    }
}

/* A fixed-seed generator (xorshift), so that a failure repeats. */
static uint32_t next_random(uint64_t *seed)
{
    *seed ^= *seed << 13;
    *seed ^= *seed >> 7;
    *seed ^= *seed << 17;
    return (uint32_t)(*seed >> 32);
}

/* Damages rounds copies of a genuine image, each with 1 to 8 random bytes
 * changed in [from, to) (to 0: its end); returns how many image_view still
 * accepted, checking that their lookups stay in range. */
static int accepted_after_damage(size_t from, size_t to, int rounds)
{
    static const struct image_source source;
    uint64_t seed = 0x9e3779b97f4a7c15ull;
    size_t len;
    uint8_t *genuine = compiled(&source, &len), *image = genuine ? malloc(len) : NULL;
    int accepted = 0;
    to = to ? to : len;
    for (int round = 0; image && round < rounds; round++) {
        memcpy(image, genuine, len);
        for (uint32_t n = 1 + next_random(&seed) % 8; n > 0; n--)
            image[from + next_random(&seed) % (to - from)] ^=
                (uint8_t)(1 + next_random(&seed) % 255);
        struct matcher m;
        const char *why;
        if (!image_view(image, len, &m, &why))
            continue;
        accepted++;
        if (!CHECK_CTX(image_lookups_in_range(&m), "round %d", round))
            break;
    }
    free(image);
    free(genuine);
    return accepted;
}

static void damaged_sections_never_misdirect_a_lookup(void)
{
    CHECK(accepted_after_damage(sizeof(struct image_header), 0, 3000) > 2000);
}

static void a_damaged_header_never_misdirects_a_lookup(void)
{
    CHECK(accepted_after_damage(offsetof(struct image_header, source), sizeof(struct image_header),
                                3000) > 100);
}

/* A damaged image whose last record is a fallback with an unterminated host,
 * its end at an inaccessible page: the host is read no further than its own
 * bytes (fallback.c once read on to the end of the mapping). */
static void an_unterminated_fallback_host_is_read_no_further(void)
{
    static const struct image_source source;
    size_t len;
    uint8_t *genuine = compiled(&source, &len);
    long page = sysconf(_SC_PAGESIZE);
    size_t damaged_len = len + 72; /* one fallback record, and 4 bytes to keep 8-byte alignment */
    uint8_t *pages =
        mmap(NULL, 2 * (size_t)page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (!CHECK(genuine && pages != MAP_FAILED && damaged_len <= (size_t)page))
        return;
    CHECK_INT(mprotect(pages + page, (size_t)page, PROT_NONE), 0);
    uint8_t *image = pages + page - damaged_len;
    memcpy(image, genuine, len);
    memset(image + len, 'x', damaged_len - len);
    struct image_header *h = (struct image_header *)image;
    h->size = damaged_len;
    h->fallbacks = (struct image_section){.offset = len, .count = 1};
    struct matcher m;
    const char *why;
    if (CHECK(image_view(image, damaged_len, &m, &why))) {
        ((struct image_breaker *)(image + h->breakers.offset))[0].fallback_count = 1;
        uint32_t count;
        const struct fallback_address *f = image_fallbacks(&m, 0, &count);
        char entry[256];
        if (CHECK(f != NULL && count == 1))
            fallback_connect_to_entry(entry, sizeof entry, "origin", 443, f);
        CHECK_INT(strlen(entry), strlen("origin:443:") + sizeof f->host + strlen(":30840"));
        CHECK(image_lookups_in_range(&m));
    }
    munmap(pages, 2 * (size_t)page);
    free(genuine);
}

static void publish_then_map_round_trips(void)
{
    static const struct image_source source = {.text_hash = 7};
    char path[IMAGE_PATH_MAX], why[128];
    size_t len;
    uint8_t *image = compiled(&source, &len);
    if (!CHECK(image_path(path_in_dir("state"), "{\"version\":1}", path, sizeof path)) ||
        !CHECK(image != NULL))
        return;
    CHECK(strncmp(path, path_in_dir("state.rules-"), strlen(path_in_dir("state.rules-"))) == 0);
    CHECK(image_publish(path, image, len));
    struct stat sb;
    CHECK_INT(stat(path, &sb), 0);
    CHECK_INT(sb.st_mode & 0777, 0600);
    CHECK_INT(sb.st_size, len);
    struct image_map map;
    if (CHECK(image_map(path, &map, why, sizeof why))) {
        CHECK(!map.in_heap && !atomic_load(&map.lost) && map.len == len);
        CHECK(image_same_source(&map.matcher.header->source, &source));
        lookups_agree(&map.matcher);
        image_unmap(&map);
        CHECK(map.base == NULL);
    }
    DIR *d = opendir(dir);
    int files = 0;
    for (struct dirent *e; d && (e = readdir(d)) != NULL;)
        files += e->d_name[0] != '.';
    if (d)
        closedir(d);
    CHECK_INT(files, 1); /* no temporary file left behind */
    CHECK_INT(unlink(path), 0);
    free(image);
}

/* image_map's reason for the file at path, or NULL when it maps. */
static const char *map_refusal(const char *path)
{
    static char why[128];
    struct image_map map;
    if (!image_map(path, &map, why, sizeof why))
        return why;
    image_unmap(&map);
    return NULL;
}

static void map_refuses_what_it_must(void)
{
    static const struct image_source source;
    size_t len;
    uint8_t *image = compiled(&source, &len);
    char good[256];
    snprintf(good, sizeof good, "%s", path_in_dir("good"));
    if (!CHECK(image != NULL) || !CHECK(image_publish(good, image, len)))
        return;
    CHECK(map_refusal(good) == NULL);
    CHECK_INT(symlink(good, path_in_dir("link")), 0);
    CHECK_STR(map_refusal(path_in_dir("link")), "a symbolic link");
    CHECK_INT(chmod(good, 0620), 0);
    CHECK_STR(map_refusal(good), "writable by group or others");
    CHECK_INT(chmod(good, 0602), 0);
    CHECK_STR(map_refusal(good), "writable by group or others");
    CHECK_INT(chmod(good, 0600), 0);
    CHECK(image_publish(path_in_dir("short"), image, sizeof(struct image_header) - 1));
    CHECK_STR(map_refusal(path_in_dir("short")), "truncated");
    CHECK(image_publish(path_in_dir("cut"), image, len - 8));
    CHECK_STR(map_refusal(path_in_dir("cut")), "truncated");
    image[0] = 'X';
    CHECK(image_publish(path_in_dir("magic"), image, len));
    CHECK_STR(map_refusal(path_in_dir("magic")), "not a rules image");
    CHECK_INT(mkdir(path_in_dir("a-directory"), 0700), 0);
    CHECK_STR(map_refusal(path_in_dir("a-directory")), "not a regular file");
    errno = 0;
    CHECK(map_refusal(path_in_dir("missing")) != NULL);
    CHECK_INT(errno, ENOENT);
    free(image);
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (CHECK(f != NULL)) {
        fputs(text, f);
        CHECK_INT(fclose(f), 0);
    }
}

/* Loads rules_path, checking its freshness and its breakers' names
 * (space-separated, as "a b "); returns the errors (malloc'd) or NULL. */
static char *load_and_check(const char *rules_path, enum image_freshness want, const char *names)
{
    struct image_load l;
    bool usable = image_load(rules_path, false, path_in_dir("state"), &l);
    CHECK_INT(usable, want != IMAGE_NONE);
    CHECK_INT(l.freshness, want);
    CHECK_CTX(l.image_problem == NULL, "%s", l.image_problem ? l.image_problem : "");
    char got[256] = "";
    for (uint32_t b = 0; usable && b < l.map.matcher.breaker_count; b++) {
        size_t used = strlen(got);
        snprintf(got + used, sizeof got - used, "%s ", image_breaker_name(&l.map.matcher, b));
    }
    CHECK_STR(got, names);
    char *errors = l.errors;
    l.errors = NULL;
    image_load_release(&l, true);
    return errors;
}

static void load_compiles_keeps_the_last_good_and_recompiles(void)
{
    char rules_path[256], want[300];
    snprintf(rules_path, sizeof rules_path, "%s", path_in_dir("rules.json"));
    write_file(rules_path,
               "{\"version\":1,\"breakers\":[{\"name\":\"old\",\"hosts\":[\"a.example\"]}]}");
    CHECK(load_and_check(rules_path, IMAGE_CURRENT, "old ") == NULL);
    CHECK(load_and_check(rules_path, IMAGE_CURRENT, "old ") == NULL); /* the published one */
    write_file(rules_path, "{\"version\": 1,\n"
                           " \"breakers\": [{\"name\": \"new\", \"hosts\": [\"a.example\"],\n"
                           "   \"fail_max\": 0}]}\n");
    char *errors = load_and_check(rules_path, IMAGE_LAST_GOOD, "old ");
    snprintf(want, sizeof want, "%s:3:16: ", rules_path);
    CHECK_CTX(errors && strncmp(errors, want, strlen(want)) == 0, "errors: %s",
              errors ? errors : "(none)");
    free(errors);
    write_file(rules_path,
               "{\"version\":1,\"breakers\":[{\"name\":\"new\",\"hosts\":[\"a.example\"]},"
               "{\"name\":\"newer\",\"hosts\":[\"b.example\"]}]}");
    CHECK(load_and_check(rules_path, IMAGE_CURRENT, "new newer ") == NULL);
    /* a broken file that never compiled has no last good image */
    snprintf(rules_path, sizeof rules_path, "%s", path_in_dir("never.json"));
    write_file(rules_path, "{\"version\":1,\"breakers\":[");
    errors = load_and_check(rules_path, IMAGE_NONE, "");
    snprintf(want, sizeof want, "%s:1:", rules_path);
    CHECK_CTX(errors && strncmp(errors, want, strlen(want)) == 0, "errors: %s",
              errors ? errors : "(none)");
    free(errors);
}

static void every_corpus_input_runs_clean(void)
{
    DIR *d = opendir(CORPUS);
    int inputs = 0;
    if (!CHECK_CTX(d != NULL, "%s: not found from this directory", CORPUS))
        return;
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        static uint8_t data[8192];
        char path[512];
        if (e->d_name[0] == '.')
            continue;
        snprintf(path, sizeof path, "%s/%s", CORPUS, e->d_name);
        FILE *f = fopen(path, "rb");
        size_t len = f ? fread(data, 1, sizeof data, f) : 0;
        if (CHECK_CTX(f != NULL, "%s", path))
            fclose(f);
        CHECK_INT(LLVMFuzzerTestOneInput(data, len), 0);
        inputs++;
    }
    closedir(d);
    CHECK(inputs >= 5);
}

int main(void)
{
    if (!mkdtemp(dir))
        return 1;
    RUN(layout_is_pinned);
    RUN(a_compiled_image_says_what_the_rules_say);
    RUN(an_image_of_no_breakers_matches_nothing);
    RUN(view_refuses_what_it_cannot_read);
    RUN(damaged_sections_never_misdirect_a_lookup);
    RUN(a_damaged_header_never_misdirects_a_lookup);
    RUN(a_header_changed_after_its_view_moves_no_lookup);
    RUN(an_unterminated_fallback_host_is_read_no_further);
    RUN(publish_then_map_round_trips);
    RUN(map_refuses_what_it_must);
    RUN(load_compiles_keeps_the_last_good_and_recompiles);
    RUN(every_corpus_input_runs_clean);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        return 1;
    return unit_done();
}
