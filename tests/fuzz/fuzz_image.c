/* fuzz_image.c — libFuzzer harness over compiled rules images: the check
 * that accepts or refuses one (image_view) and the lookups over an accepted
 * one (match.c, image_breaker_name, image_fallbacks).
 *
 * The first byte of an input says what the rest is:
 *   0 — a whole image, as a file would hold it;
 *   1 — the sections of a genuine image (image_rules compiled), which the
 *       rest overwrites from the end of its header on, so that inputs get
 *       past the header's checks;
 *   2 — the header of that genuine image past its identity (source,
 *       sections, tables, any group, prefix lists), which the rest
 *       overwrites.
 * Whenever image_view accepts, every lookup must give -1 or an index in
 * range, and every breaker's name and fallbacks must lie inside the image.
 * Built and run by `make fuzz` (clang, ASan, UBSan); tests/fuzz/corpus-image
 * holds the seeds, which tests/unit/test_image.c replays. */
#include <arpa/inet.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "image.h"
#include "rules.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Every kind of pattern, with and without ports, and fallbacks: the genuine
 * image of modes 1 and 2, and the rules of test_image.c's round trip. */
static const char image_rules[] =
    "{\"version\":1,\"breakers\":["
    "{\"name\":\"exact\",\"hosts\":[\"api.example.com\",\"API.example.com:443\"],"
    "\"fallback\":{\"connect_to\":[\"127.0.0.1:8081\",\"[::1]:8081\"]}},"
    "{\"name\":\"wild\",\"hosts\":[\"*.svc.example.com\",\"*.example.com:8443\"],"
    "\"per_host\":true,\"max_hosts\":8},"
    "{\"name\":\"net4\",\"hosts\":[\"10.1.0.0/16\",\"10.1.2.0/24:80\",\"127.0.0.1:9\"],"
    "\"protocol\":\"tcp\"},"
    "{\"name\":\"net6\",\"hosts\":[\"2001:db8::/32\",\"[::1]:8443\"],"
    "\"fallback\":{\"connect_to\":[\"127.0.0.2:80\"]}},"
    "{\"name\":\"any\",\"hosts\":[\"*:5432\"]}]}";

/* The image of image_rules, compiled on first use (*len bytes); NULL if it
 * does not compile. */
static const uint8_t *genuine_image(size_t *len)
{
    static const struct image_source source = {.text_hash = 1};
    static uint8_t *image;
    static size_t image_len;
    if (!image) {
        char *errors = NULL;
        struct rules *r = rules_parse(image_rules, strlen(image_rules), "fuzz.json", &errors);
        free(errors);
        image = r ? image_compile(r, &source, &image_len) : NULL;
        rules_free(r);
    }
    *len = image_len;
    return image;
}

/* Whether pattern index p is -1 or one of m's patterns, and its breaker. */
static bool pattern_in_range(const struct matcher *m, int p)
{
    int b = match_breaker_of(m, p);
    return p >= -1 && (p < 0 || (uint32_t)p < m->pattern_count) && b >= -1 &&
           (b < 0 || (uint32_t)b < m->breaker_count);
}

static bool host_lookups_in_range(const struct matcher *m, const char *host, uint16_t port)
{
    uint32_t cands[16];
    size_t n = match_name_candidates(m, host, strlen(host), cands, 16);
    bool ok = n <= 16 && pattern_in_range(m, match_pick_port(m, cands, n, port)) &&
              pattern_in_range(m, match_host(m, host, port));
    for (size_t i = 0; i < n && i < 16; i++)
        ok = ok && cands[i] < m->pattern_count;
    return ok;
}

/* Whether breaker b's name and fallbacks lie inside m, reading every byte
 * of them as the shim does. */
static bool breaker_in_range(const struct matcher *m, uint32_t b)
{
    const char *name = image_breaker_name(m, b);
    bool ok = name[0] == '\0' || (name >= m->strings && name < m->strings + m->strings_size &&
                                  strlen(name) < (size_t)(m->strings + m->strings_size - name));
    uint32_t count;
    const struct fallback_address *f = image_fallbacks(m, b, &count);
    ok = ok && (f ? f >= m->fallbacks && count <= m->fallback_count &&
                        (size_t)(f - m->fallbacks) <= m->fallback_count - count
                  : count == 0);
    for (uint32_t i = 0; f && i < count; i++) {
        char entry[256];
        fallback_connect_to_entry(entry, sizeof entry, "origin.example", 443, &f[i]);
    }
    return ok;
}

/* Whether every lookup of a few fixed destinations, and every breaker's
 * name and fallbacks, stays inside m. */
static bool image_lookups_in_range(const struct matcher *m)
{
    static const char *const hosts[] = {"api.example.com",
                                        "API.Example.COM.",
                                        "a.svc.example.com",
                                        "b.example.com",
                                        "example.com",
                                        "10.1.2.3",
                                        "[::1]",
                                        "2001:db8::5",
                                        "::ffff:10.1.2.3",
                                        "",
                                        ".",
                                        "..example.com"};
    static const uint8_t v4[][4] = {{10, 1, 2, 3}, {127, 0, 0, 1}, {192, 168, 1, 1}};
    static const uint8_t v6[][16] = {
        {[15] = 1}, {0x20, 0x01, 0x0d, 0xb8, [15] = 5}, {[10] = 0xff, 0xff, 10, 1, 2, 3}};
    static const uint16_t ports[] = {0, 80, 443, 5432, 8443};
    bool ok = true;
    for (size_t p = 0; p < sizeof ports / sizeof *ports; p++) {
        for (size_t h = 0; h < sizeof hosts / sizeof *hosts; h++)
            ok = host_lookups_in_range(m, hosts[h], ports[p]) && ok;
        for (size_t a = 0; a < sizeof v4 / sizeof *v4; a++)
            ok = pattern_in_range(m, match_address(m, AF_INET, v4[a], ports[p])) && ok;
        for (size_t a = 0; a < sizeof v6 / sizeof *v6; a++)
            ok = pattern_in_range(m, match_address(m, AF_INET6, v6[a], ports[p])) && ok;
    }
    matcher_has_address_patterns(m);
    matcher_has_name_patterns(m);
    for (uint32_t b = 0; b < m->breaker_count; b++)
        ok = breaker_in_range(m, b) && ok;
    return ok && breaker_in_range(m, m->breaker_count);
}

/* Builds the image input data (size bytes) stands for, as the header says,
 * in a malloc'd 8-byte aligned buffer of *len bytes; NULL for none. */
static uint8_t *image_of_input(const uint8_t *data, size_t size, size_t *len)
{
    size_t genuine_len;
    const uint8_t *genuine = genuine_image(&genuine_len);
    const size_t identity = offsetof(struct image_header, source);
    if (size == 0 || data[0] > 2 || (data[0] != 0 && !genuine))
        return NULL;
    *len = data[0] == 0 ? size - 1 : genuine_len;
    uint8_t *image = malloc(*len ? *len : 1);
    if (!image)
        return NULL;
    if (data[0] == 0) {
        memcpy(image, data + 1, size - 1);
        return image;
    }
    memcpy(image, genuine, genuine_len);
    size_t start = data[0] == 1 ? sizeof(struct image_header) : identity;
    size_t end = data[0] == 1 ? genuine_len : sizeof(struct image_header);
    size_t n = size - 1 < end - start ? size - 1 : end - start;
    memcpy(image + start, data + 1, n);
    return image;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t len;
    uint8_t *image = image_of_input(data, size, &len);
    struct matcher m;
    const char *why;
    if (image && image_view(image, len, &m, &why) && !image_lookups_in_range(&m))
        abort();
    free(image);
    return 0;
}
