/* test_match.c — destination → pattern: most specific wins, at any size. */
#include <arpa/inet.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "image.h"
#include "rules.h"
#include "unit.h"

/* Rules and their matcher, built from inline JSON. */
struct fixture {
    struct rules *rules;
    struct matcher *m;
};

static struct fixture build(const char *json, const char *file, int line)
{
    char *errors = NULL;
    struct fixture f = {rules_parse(json, strlen(json), "test.json", &errors), NULL};
    if (!unit_check(f.rules != NULL, file, line, "rules accepted"))
        unit_diag("#   %s", errors != NULL ? errors : "(no errors)\n");
    free(errors);
    if (f.rules != NULL)
        f.m = matcher_build(f.rules);
    unit_check(f.rules == NULL || f.m != NULL, file, line, "matcher built");
    return f;
}
#define BUILD(json) build((json), __FILE__, __LINE__)

static void release(struct fixture *f)
{
    matcher_free(f->m);
    rules_free(f->rules);
}

/* Returns the name of the breaker of pattern index i, or "-" for -1. */
static const char *breaker_of(const struct fixture *f, int i)
{
    return i < 0 ? "-" : f->rules->breakers[f->rules->patterns[i].breaker].name;
}

static const char *pattern_text(const struct fixture *f, uint32_t i)
{
    return f->rules->patterns[i].text;
}

/* Each breaker holds one pattern; its name says which rule should win. */
static const char *const priority_rules =
    "{\"version\":1,\"breakers\":["
    "{\"name\":\"exact-port\",\"hosts\":[\"api.example.com:443\"]},"
    "{\"name\":\"exact\",\"hosts\":[\"api.example.com\"]},"
    "{\"name\":\"wild-long\",\"hosts\":[\"*.svc.example.com\"]},"
    "{\"name\":\"wild-long-port\",\"hosts\":[\"*.svc.example.com:8443\"]},"
    "{\"name\":\"wild-short\",\"hosts\":[\"*.example.com\"]},"
    "{\"name\":\"cidr-24\",\"hosts\":[\"10.1.2.0/24\"]},"
    "{\"name\":\"cidr-24-port\",\"hosts\":[\"10.1.2.0/24:80\"]},"
    "{\"name\":\"cidr-16\",\"hosts\":[\"10.1.0.0/16\"]},"
    "{\"name\":\"host-32\",\"hosts\":[\"10.1.2.3\"]},"
    "{\"name\":\"any\",\"hosts\":[\"*\"]},"
    "{\"name\":\"any-port\",\"hosts\":[\"*:5432\"]},"
    "{\"name\":\"v6-64\",\"hosts\":[\"fd00:1::/64\"]},"
    "{\"name\":\"v6-host-port\",\"hosts\":[\"[fd00:1::5]:443\"]},"
    "{\"name\":\"v6-16\",\"hosts\":[\"fd00::/16\"]},"
    "{\"name\":\"mapped\",\"hosts\":[\"::ffff:192.168.0.0/112\"]},"
    "{\"name\":\"exact-again\",\"hosts\":[\"API.example.com.\"]},"
    "{\"name\":\"loopback6\",\"hosts\":[\"::1\"]},"
    "{\"name\":\"wild-short-port\",\"hosts\":[\"*.example.com:9000\"]},"
    "{\"name\":\"v4-default\",\"hosts\":[\"0.0.0.0/0:6379\"]}"
    "]}";

static void most_specific_wins(void)
{
    static const struct {
        const char *host;
        uint16_t port;
        const char *breaker;
    } rows[] = {
        {"api.example.com", 443, "exact-port"},
        {"api.example.com", 80, "exact"},
        {"API.Example.COM.", 443, "exact-port"},
        {"api.example.com.", 80, "exact"},
        {"x.svc.example.com", 8443, "wild-long-port"},
        {"x.svc.example.com", 80, "wild-long"},
        {"a.b.svc.example.com", 1, "wild-long"},
        {"svc.example.com", 8443, "wild-short"},
        {"other.example.com", 9000, "wild-short-port"},
        {"other.example.com", 9001, "wild-short"},
        {"example.com", 80, "any"},
        {"example.com", 5432, "any-port"},
        {"unknown.test", 80, "any"},
        {"10.1.2.3", 80, "host-32"},
        {"10.1.2.4", 80, "cidr-24-port"},
        {"10.1.2.4", 81, "cidr-24"},
        {"10.1.3.1", 80, "cidr-16"},
        {"10.2.0.1", 80, "any"},
        {"10.2.0.1", 5432, "any-port"},
        {"10.2.0.1", 6379, "v4-default"},
        {"10.1.3.1", 6379, "cidr-16"},
        {"fd00:1::5", 443, "v6-host-port"},
        {"[fd00:1::5]", 80, "v6-64"},
        {"fd00:1::ffff:1", 443, "v6-64"},
        {"fd00:2::1", 80, "v6-16"},
        {"FD00:2::1", 80, "v6-16"},
        {"fe80::1", 80, "any"},
        {"fe80::1", 6379, "any"},
        {"::ffff:10.1.2.3", 80, "host-32"},
        {"[::ffff:10.1.2.99]", 81, "cidr-24"},
        {"192.168.5.5", 80, "mapped"},
        {"::ffff:192.168.5.5", 80, "mapped"},
        {"::1", 80, "loopback6"},
        {"[::1]", 80, "loopback6"},
        {"127.0.0.1", 80, "any"},
        {"[not-an-address]", 80, "any"},
    };
    struct fixture f = BUILD(priority_rules);
    if (f.m == NULL)
        return;
    for (size_t i = 0; i < sizeof rows / sizeof *rows; i++) {
        const char *got = breaker_of(&f, match_host(f.m, rows[i].host, rows[i].port));
        CHECK_CTX(strcmp(got, rows[i].breaker) == 0, "%s port %u: got %s, want %s", rows[i].host,
                  rows[i].port, got, rows[i].breaker);
    }
    release(&f);
}

static void candidates_come_best_first(void)
{
    struct fixture f = BUILD(priority_rules);
    if (f.m == NULL)
        return;
    uint32_t out[8];
    size_t n = match_name_candidates(f.m, "x.SVC.example.com.", 18, out, 8);
    static const char *const want[] = {"*.svc.example.com:8443", "*.svc.example.com",
                                       "*.example.com:9000", "*.example.com"};
    if (CHECK_INT(n, 4))
        for (size_t i = 0; i < n; i++)
            CHECK_CTX(strcmp(pattern_text(&f, out[i]), want[i]) == 0, "candidate %zu: %s", i,
                      pattern_text(&f, out[i]));
    n = match_name_candidates(f.m, "api.example.com", 15, out, 8);
    static const char *const want_api[] = {"api.example.com:443", "api.example.com",
                                           "API.example.com.", "*.example.com:9000",
                                           "*.example.com"};
    if (CHECK_INT(n, 5))
        for (size_t i = 0; i < n; i++)
            CHECK_CTX(strcmp(pattern_text(&f, out[i]), want_api[i]) == 0, "candidate %zu: %s", i,
                      pattern_text(&f, out[i]));
    CHECK_STR(pattern_text(&f, (uint32_t)match_pick_port(f.m, out, n, 443)), "api.example.com:443");
    CHECK_STR(pattern_text(&f, (uint32_t)match_pick_port(f.m, out, n, 9000)), "api.example.com");
    CHECK_STR(pattern_text(&f, (uint32_t)match_pick_port(f.m, out + 3, 2, 9000)),
              "*.example.com:9000");
    CHECK_INT(match_pick_port(f.m, out, 1, 80), -1);
    CHECK_INT(match_pick_port(f.m, out, 0, 443), -1);
    release(&f);
}

static void candidates_are_truncated_at_max(void)
{
    struct fixture f = BUILD(priority_rules);
    if (f.m == NULL)
        return;
    uint32_t out[8] = {0}, all[8];
    size_t total = match_name_candidates(f.m, "api.example.com", 15, all, 8);
    for (size_t max = 0; max <= total; max++) {
        memset(out, 0xff, sizeof out);
        size_t n = match_name_candidates(f.m, "api.example.com", 15, out, max);
        CHECK_CTX(n == max && memcmp(out, all, n * sizeof *out) == 0 &&
                      (max == 8 || out[max] == UINT32_MAX),
                  "max %zu gave %zu", max, n);
    }
    release(&f);
}

static void wildcards_do_not_match_their_apex(void)
{
    struct fixture f =
        BUILD("{\"version\":1,\"breakers\":[{\"name\":\"w\",\"hosts\":[\"*.example.com\"]}]}");
    if (f.m == NULL)
        return;
    static const struct {
        const char *name;
        int matches;
    } rows[] = {
        {"example.com", 0},
        {"example.com.", 0},
        {"a.example.com", 1},
        {"A.B.EXAMPLE.COM.", 1},
        {"aexample.com", 0},
        {".example.com", 0},
        {"a.example.com..", 0},
        {"a.example.co", 0},
        {"example.com.a", 0},
        {"com", 0},
        {"", 0},
        {".", 0},
        {"a..example.com", 1},
        {"a.example.com", 1},
        {"x-y_z.example.com", 1},
    };
    for (size_t i = 0; i < sizeof rows / sizeof *rows; i++) {
        uint32_t out[4];
        size_t n = match_name_candidates(f.m, rows[i].name, strlen(rows[i].name), out, 4);
        CHECK_CTX((int)n == rows[i].matches, "%s: %zu candidates", rows[i].name, n);
    }
    CHECK_INT(match_host(f.m, "example.com", 80), -1);
    CHECK_INT(match_host(f.m, "www.example.com", 80), 0);
    release(&f);
}

static void names_are_normalised_without_copying(void)
{
    struct fixture f =
        BUILD("{\"version\":1,\"breakers\":[{\"name\":\"n\",\"hosts\":[\"Mixed.Case.Example\"]}]}");
    if (f.m == NULL)
        return;
    uint32_t out[2];
    const char buffer[] = "MIXED.case.example.and-more";
    CHECK_INT(match_name_candidates(f.m, buffer, 18, out, 2), 1);
    CHECK_INT(match_name_candidates(f.m, "mixed.case.example.", 19, out, 2), 1);
    CHECK_INT(match_name_candidates(f.m, "mixed.case.example..", 20, out, 2), 0);
    CHECK_INT(match_name_candidates(f.m, "mixed.case.exampl", 17, out, 2), 0);
    char long_name[300];
    memset(long_name, 'a', sizeof long_name);
    memcpy(long_name + sizeof long_name - 19, ".mixed.case.example", 19);
    CHECK_INT(match_name_candidates(f.m, long_name, sizeof long_name, out, 2), 0);
    release(&f);
}

static void long_names_match_up_to_the_limit(void)
{
    char name[HOST_NAME_MAX_LEN + 2], json[512];
    memset(name, 'a', sizeof name);
    for (size_t i = 1; i < HOST_NAME_MAX_LEN - 5; i += 2)
        name[i] = '.';
    memcpy(name + HOST_NAME_MAX_LEN - 5, "zzz.y.", 6); /* "a.a.a...a.zzz.y." */
    snprintf(json, sizeof json,
             "{\"version\":1,\"breakers\":[{\"name\":\"w\",\"hosts\":[\"*.y\",\"*.a.zzz.y\"]}]}");
    struct fixture f = BUILD(json);
    if (f.m == NULL)
        return;
    uint32_t out[4];
    CHECK_INT(match_name_candidates(f.m, name, HOST_NAME_MAX_LEN + 1, out, 4), 2);
    CHECK_STR(pattern_text(&f, out[0]), "*.a.zzz.y");
    CHECK_INT(match_name_candidates(f.m, name, HOST_NAME_MAX_LEN, out, 4), 2);
    CHECK_INT(match_name_candidates(f.m, name, HOST_NAME_MAX_LEN + 2, out, 4), 0);
    release(&f);
}

static void file_order_breaks_ties(void)
{
    struct fixture f = BUILD("{\"version\":1,\"breakers\":["
                             "{\"name\":\"first\",\"hosts\":[\"dup.example\",\"*.w.example\","
                             "\"10.0.0.0/8\",\"*\",\"p.example:443\",\"[::1]:80\",\"*:22\"]},"
                             "{\"name\":\"second\",\"hosts\":[\"DUP.example.\",\"*.W.example\","
                             "\"10.0.0.0/8\",\"*\",\"p.example:443\",\"[::1]:80\",\"*:22\","
                             "\"p.example:8443\"]}]}");
    if (f.m == NULL)
        return;
    static const struct {
        const char *host;
        uint16_t port;
        const char *breaker;
    } rows[] = {
        {"dup.example", 1, "first"},      {"a.w.example", 1, "first"},   {"10.9.9.9", 1, "first"},
        {"nothing.example", 1, "first"},  {"p.example", 443, "first"},   {"::1", 80, "first"},
        {"nothing.example", 22, "first"}, {"p.example", 8443, "second"},
    };
    for (size_t i = 0; i < sizeof rows / sizeof *rows; i++) {
        const char *got = breaker_of(&f, match_host(f.m, rows[i].host, rows[i].port));
        CHECK_CTX(strcmp(got, rows[i].breaker) == 0, "%s port %u: got %s", rows[i].host,
                  rows[i].port, got);
    }
    release(&f);
}

static void addresses_by_family_and_mapping(void)
{
    struct fixture f =
        BUILD("{\"version\":1,\"breakers\":["
              "{\"name\":\"v4\",\"hosts\":[\"127.0.0.0/8\"]},"
              "{\"name\":\"v6-all\",\"hosts\":[\"::/0\"]},"
              "{\"name\":\"mapped-pattern\",\"hosts\":[\"[::ffff:172.16.0.0/108]\"]},"
              "{\"name\":\"v6-any-port\",\"hosts\":[\"[2001:db8::/32]:443\"]}]}");
    if (f.m == NULL)
        return;
    uint8_t v4[4], v6[16];
    inet_pton(AF_INET, "127.1.2.3", v4);
    CHECK_STR(breaker_of(&f, match_address(f.m, AF_INET, v4, 80)), "v4");
    inet_pton(AF_INET6, "::ffff:127.1.2.3", v6);
    CHECK_STR(breaker_of(&f, match_address(f.m, AF_INET6, v6, 80)), "v4");
    inet_pton(AF_INET, "172.20.0.1", v4);
    CHECK_STR(breaker_of(&f, match_address(f.m, AF_INET, v4, 80)), "mapped-pattern");
    inet_pton(AF_INET, "172.32.0.1", v4);
    CHECK_STR(breaker_of(&f, match_address(f.m, AF_INET, v4, 80)), "-");
    inet_pton(AF_INET6, "::ffff:8.8.8.8", v6);
    CHECK_STR(breaker_of(&f, match_address(f.m, AF_INET6, v6, 80)), "-");
    inet_pton(AF_INET6, "::fffe:8.8.8.8", v6);
    CHECK_STR(breaker_of(&f, match_address(f.m, AF_INET6, v6, 80)), "v6-all");
    inet_pton(AF_INET6, "2001:db8::1", v6);
    CHECK_STR(breaker_of(&f, match_address(f.m, AF_INET6, v6, 443)), "v6-any-port");
    CHECK_STR(breaker_of(&f, match_address(f.m, AF_INET6, v6, 80)), "v6-all");
    CHECK_INT(match_address(f.m, AF_UNIX, v6, 80), -1);
    CHECK_INT(match_address(f.m, AF_UNSPEC, v4, 80), -1);
    release(&f);
}

static void star_is_the_last_resort(void)
{
    struct fixture f = BUILD("{\"version\":1,\"breakers\":["
                             "{\"name\":\"all\",\"hosts\":[\"*\"]},"
                             "{\"name\":\"https\",\"hosts\":[\"*:443\"]},"
                             "{\"name\":\"named\",\"hosts\":[\"a.example\"]}]}");
    if (f.m == NULL)
        return;
    uint8_t v4[4] = {192, 0, 2, 1};
    uint32_t out[4];
    CHECK_STR(breaker_of(&f, match_address(f.m, AF_INET, v4, 80)), "all");
    CHECK_STR(breaker_of(&f, match_address(f.m, AF_INET, v4, 443)), "https");
    CHECK_STR(breaker_of(&f, match_host(f.m, "b.example", 443)), "https");
    CHECK_STR(breaker_of(&f, match_host(f.m, "a.example", 443)), "named");
    CHECK_INT(match_name_candidates(f.m, "b.example", 9, out, 4), 0);
    CHECK_INT(match_address(f.m, AF_UNIX, v4, 80), -1);
    CHECK(matcher_has_address_patterns(f.m));
    CHECK(matcher_has_name_patterns(f.m));
    release(&f);
}

/* The longest prefix is looked at first on its own: a hit there without a
 * pattern for the port, an empty slot, or a lone prefix must still reach
 * the shorter prefixes and then "*". */
static void a_port_miss_falls_to_shorter_prefixes(void)
{
    struct fixture f = BUILD("{\"version\":1,\"breakers\":["
                             "{\"name\":\"host-443\",\"hosts\":[\"10.0.0.1:443\"]},"
                             "{\"name\":\"net\",\"hosts\":[\"10.0.0.0/24\"]},"
                             "{\"name\":\"all-80\",\"hosts\":[\"*:80\"]}]}");
    struct fixture lone = BUILD("{\"version\":1,\"breakers\":["
                                "{\"name\":\"host-443\",\"hosts\":[\"10.0.0.1:443\"]},"
                                "{\"name\":\"all-80\",\"hosts\":[\"*:80\"]}]}");
    if (f.m == NULL || lone.m == NULL)
        return;
    uint8_t host[4] = {10, 0, 0, 1}, other[4] = {10, 0, 0, 2}, away[4] = {10, 0, 1, 1};
    uint8_t mapped[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 0, 0, 1};
    CHECK_STR(breaker_of(&f, match_address(f.m, AF_INET, host, 443)), "host-443");
    CHECK_STR(breaker_of(&f, match_address(f.m, AF_INET6, mapped, 443)), "host-443");
    CHECK_STR(breaker_of(&f, match_address(f.m, AF_INET, host, 80)), "net");
    CHECK_STR(breaker_of(&f, match_address(f.m, AF_INET, other, 81)), "net");
    CHECK_STR(breaker_of(&f, match_address(f.m, AF_INET, away, 80)), "all-80");
    CHECK_INT(match_address(f.m, AF_INET, away, 81), -1);
    CHECK_STR(breaker_of(&lone, match_address(lone.m, AF_INET, host, 443)), "host-443");
    CHECK_STR(breaker_of(&lone, match_address(lone.m, AF_INET, host, 80)), "all-80");
    CHECK_STR(breaker_of(&lone, match_address(lone.m, AF_INET, other, 80)), "all-80");
    CHECK_INT(match_address(lone.m, AF_INET, host, 81), -1);
    CHECK_INT(match_address(lone.m, AF_INET, other, 81), -1);
    release(&f);
    release(&lone);
}

static void kinds_present_are_reported(void)
{
    struct fixture names =
        BUILD("{\"version\":1,\"breakers\":[{\"name\":\"n\",\"hosts\":[\"a.example\",\"*.b\"]}]}");
    struct fixture addrs =
        BUILD("{\"version\":1,\"breakers\":[{\"name\":\"a\",\"hosts\":[\"10.0.0.1\"]}]}");
    struct fixture none = BUILD("{\"version\":1,\"breakers\":[]}");
    if (names.m == NULL || addrs.m == NULL || none.m == NULL)
        goto done;
    CHECK(matcher_has_name_patterns(names.m));
    CHECK(!matcher_has_address_patterns(names.m));
    CHECK(!matcher_has_name_patterns(addrs.m));
    CHECK(matcher_has_address_patterns(addrs.m));
    CHECK(!matcher_has_name_patterns(none.m));
    CHECK(!matcher_has_address_patterns(none.m));
    uint8_t v4[4] = {10, 0, 0, 1};
    uint32_t out[2];
    CHECK_INT(match_address(names.m, AF_INET, v4, 1), -1);
    CHECK_INT(match_address(none.m, AF_INET, v4, 1), -1);
    CHECK_INT(match_host(none.m, "a.example", 1), -1);
    CHECK_INT(match_name_candidates(none.m, "a.example", 9, out, 2), 0);
    CHECK_INT(match_name_candidates(addrs.m, "a.example", 9, out, 2), 0);
    CHECK_INT(match_address(addrs.m, AF_INET, v4, 1), 0);
done:
    release(&names);
    release(&addrs);
    release(&none);
}

static void flip_bit(uint8_t *addr, int bit)
{
    addr[bit / 8] ^= (uint8_t)(0x80u >> (bit % 8));
}

/* Builds a breaker "len-N" for each prefix length N >= 1 of base, and checks
 * that base with bit N flipped (the first past the prefix) matches "len-N". */
static void check_prefix_ladder(int family, const char *base_text)
{
    uint8_t base[16] = {0};
    int max = family == AF_INET ? 32 : 128;
    char *json = malloc(100 * 130), *p = json;
    inet_pton(family, base_text, base);
    p += sprintf(p, "{\"version\":1,\"breakers\":[");
    for (int len = 1; len <= max; len++) {
        uint8_t net[16];
        char text[INET6_ADDRSTRLEN];
        memcpy(net, base, sizeof net);
        for (int bit = len; bit < max; bit++)
            net[bit / 8] &= (uint8_t) ~(0x80u >> (bit % 8));
        inet_ntop(family, net, text, sizeof text);
        p += sprintf(p, "%s{\"name\":\"len-%d\",\"hosts\":[\"%s/%d\"]}", len > 1 ? "," : "", len,
                     text, len);
    }
    strcpy(p, "]}");
    struct fixture f = BUILD(json);
    free(json);
    if (f.m == NULL)
        return;
    for (int len = 1; len <= max; len++) {
        uint8_t host[16];
        char want[16];
        memcpy(host, base, sizeof host);
        if (len < max)
            flip_bit(host, len);
        snprintf(want, sizeof want, "len-%d", len);
        const char *got = breaker_of(&f, match_address(f.m, family, host, 1));
        CHECK_CTX(strcmp(got, want) == 0, "%s bit %d flipped: got %s", base_text, len, got);
    }
    flip_bit(base, 0);
    CHECK_INT(match_address(f.m, family, base, 1), -1);
    release(&f);
}

static void every_prefix_length_matches(void)
{
    check_prefix_ladder(AF_INET, "192.168.1.1");
    check_prefix_ladder(AF_INET, "10.255.255.255");
    check_prefix_ladder(AF_INET6, "2001:db8:ffff:1234:5678:9abc:def0:1");
}

/* The first-byte quick no (match_first_bytes, match_first_byte_excludes)
 * never excludes an address that match_address matches, and does exclude
 * every first byte no pattern covers; an "*" pattern leaves nothing to
 * exclude by. */
static void first_byte_excludes_only_unmatched(void)
{
    struct fixture f = BUILD("{\"version\":1,\"breakers\":["
                             "{\"name\":\"a\",\"hosts\":[\"10.1.2.3\",\"64.0.0.0/3:443\"]},"
                             "{\"name\":\"b\",\"hosts\":[\"[2001:db8::1]\",\"fc00::/7\"]}]}");
    struct fixture star = BUILD("{\"version\":1,\"breakers\":["
                                "{\"name\":\"a\",\"hosts\":[\"10.1.2.3\",\"*\"]}]}");
    if (f.m == NULL || star.m == NULL)
        goto done;
    const uint8_t *v4 = match_first_bytes(f.m, AF_INET), *v6 = match_first_bytes(f.m, AF_INET6);
    CHECK(v4 != NULL && v6 != NULL);
    CHECK(match_first_bytes(f.m, AF_UNIX) == NULL);
    CHECK(match_first_bytes(star.m, AF_INET) == NULL &&
          match_first_bytes(star.m, AF_INET6) == NULL);
    if (v4 == NULL || v6 == NULL)
        goto done;
    size_t wrong = 0, excluded4 = 0, excluded6 = 0;
    for (unsigned first = 0; first < 256; first++) {
        uint8_t a4[4] = {(uint8_t)first, 1, 2, 3};
        uint8_t a6[16] = {(uint8_t)first, 0x01, 0x0d, 0xb8}; /* 0x20: 2001:db8::1, ruled */
        a6[15] = 1;
        bool ruled4 = match_address(f.m, AF_INET, a4, 443) >= 0;
        bool ruled6 = match_address(f.m, AF_INET6, a6, 1) >= 0;
        bool out4 = match_first_byte_excludes(v4, (uint8_t)first);
        bool out6 = match_first_byte_excludes(v6, (uint8_t)first);
        wrong += (ruled4 && out4) || (ruled6 && out6); /* a ruled address excluded */
        bool covered4 = first == 10 || (first >= 64 && first < 96);
        bool covered6 = first == 0x20 || first == 0xfc || first == 0xfd;
        wrong += ruled4 != covered4 || ruled6 != covered6; /* the fixture is what it says */
        wrong += out4 == (covered4 || first == 0) || out6 == (covered6 || first == 0);
        excluded4 += out4;
        excluded6 += out6;
    }
    CHECK_INT(wrong, 0);
    CHECK_INT(excluded4, 256 - 1 - 1 - 32);
    CHECK_INT(excluded6, 256 - 1 - 3);
done:
    release(&star);
    release(&f);
}

/* ---- at scale ---- */

static char *big_rules_json(size_t breakers)
{
    char *json = malloc(breakers * 400 + 64), *p = json;
    p += sprintf(p, "{\"version\":1,\"breakers\":[");
    for (size_t i = 0; i < breakers; i++)
        p += sprintf(p,
                     "%s{\"name\":\"b%zu\",\"hosts\":[\"h%zu.example\",\"h%zu.example:443\","
                     "\"*.d%zu.example\",\"*.e%zu.example:80\",\"10.%zu.%zu.0/24\","
                     "\"10.%zu.%zu.9:22\",\"[fd00::%zx]:8443\",\"fd01:%zx::/32\","
                     "\"::ffff:11.%zu.%zu.0/120\",\"n%zu.test.\"]}",
                     i > 0 ? "," : "", i, i, i, i, i, i / 256, i % 256, i / 256, i % 256, i, i,
                     i / 256, i % 256, i);
    strcpy(p, "]}");
    return json;
}

static void ten_thousand_breakers(void)
{
    size_t breakers = 10000;
    char *json = big_rules_json(breakers);
    struct fixture f = BUILD(json);
    free(json);
    if (f.m == NULL)
        return;
    CHECK_INT(f.rules->pattern_count, 10 * breakers);
    size_t wrong = 0;
    for (size_t i = 0; i < breakers; i += 7) {
        char host[64], want[16];
        snprintf(want, sizeof want, "b%zu", i);
        struct {
            const char *fmt;
            uint16_t port;
        } probes[] = {
            {"h%zu.example", 1},      {"H%zu.EXAMPLE.", 443}, {"x.d%zu.example", 1},
            {"y.z.e%zu.example", 80}, {"n%zu.test", 1},
        };
        for (size_t k = 0; k < sizeof probes / sizeof *probes; k++) {
            snprintf(host, sizeof host, probes[k].fmt, i);
            wrong += strcmp(breaker_of(&f, match_host(f.m, host, probes[k].port)), want) != 0;
        }
        snprintf(host, sizeof host, "10.%zu.%zu.7", i / 256, i % 256);
        wrong += strcmp(breaker_of(&f, match_host(f.m, host, 1)), want) != 0;
        snprintf(host, sizeof host, "10.%zu.%zu.9", i / 256, i % 256);
        int p9 = match_host(f.m, host, 22);
        wrong += p9 < 0 || strcmp(breaker_of(&f, p9), want) != 0 ||
                 f.rules->patterns[p9].prefix_len != 32;
        snprintf(host, sizeof host, "[fd00::%zx]", i);
        wrong += strcmp(breaker_of(&f, match_host(f.m, host, 8443)), want) != 0;
        wrong += match_host(f.m, host, 8444) != -1;
        snprintf(host, sizeof host, "fd01:%zx:1::2", i);
        wrong += strcmp(breaker_of(&f, match_host(f.m, host, 1)), want) != 0;
        snprintf(host, sizeof host, "11.%zu.%zu.200", i / 256, i % 256);
        wrong += strcmp(breaker_of(&f, match_host(f.m, host, 1)), want) != 0;
        snprintf(host, sizeof host, "d%zu.example", i);
        wrong += match_host(f.m, host, 1) != -1;
    }
    CHECK_INT(wrong, 0);
    CHECK_INT(match_host(f.m, "192.0.2.1", 80), -1);
    CHECK_INT(match_host(f.m, "nothing.example", 80), -1);
    release(&f);
}

int main(void)
{
    RUN(most_specific_wins);
    RUN(candidates_come_best_first);
    RUN(candidates_are_truncated_at_max);
    RUN(wildcards_do_not_match_their_apex);
    RUN(names_are_normalised_without_copying);
    RUN(long_names_match_up_to_the_limit);
    RUN(file_order_breaks_ties);
    RUN(addresses_by_family_and_mapping);
    RUN(star_is_the_last_resort);
    RUN(a_port_miss_falls_to_shorter_prefixes);
    RUN(kinds_present_are_reported);
    RUN(every_prefix_length_matches);
    RUN(first_byte_excludes_only_unmatched);
    RUN(ten_thousand_breakers);
    return unit_done();
}
