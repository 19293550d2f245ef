/* test_rules.c — rules text → validated rules, and every error with its place. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "outcome.h"
#include "rules.h"
#include "unit.h"

#define ALL_CLASSES_MASK (((1u << CLASS_COUNT) - 1) & ~CLASS_BIT(OUTCOME_SUCCESS))

/* ---- helpers ---- */

static struct rules *parse(const char *json, char **errors)
{
    return rules_parse(json, strlen(json), "rules.json", errors);
}

/* Parses json that must be valid; reports its errors and returns NULL otherwise. */
static struct rules *parse_valid(const char *json, const char *file, int line)
{
    char *errors = NULL;
    struct rules *r = parse(json, &errors);
    if (!unit_check(r != NULL && errors == NULL, file, line, "rules accepted"))
        unit_diag("#   errors: %s", errors != NULL ? errors : "(none)\n");
    free(errors);
    return r;
}
#define PARSE_VALID(json) parse_valid((json), __FILE__, __LINE__)

/* Checks that json is rejected with exactly the error text want. */
static void check_rejected(const char *json, const char *want, const char *file, int line)
{
    char *errors = NULL;
    struct rules *r = parse(json, &errors);
    unit_check(r == NULL, file, line, "rules rejected");
    unit_check_str(errors, want, file, line, "error text");
    rules_free(r);
    free(errors);
}
#define CHECK_REJECTED(json, want) check_rejected((json), (want), __FILE__, __LINE__)

/* A document with one breaker "b" whose keys after name and hosts are fields. */
#define ONE_BREAKER_PREFIX "{\"version\":1,\"breakers\":[{\"name\":\"b\",\"hosts\":[\"h.example\"],"
static char *one_breaker(const char *fields)
{
    static char doc[1024];
    snprintf(doc, sizeof doc, "%s%s}]}", ONE_BREAKER_PREFIX, fields);
    return doc;
}

/* Returns the policy one breaker gets from fields, or a config of zeros when rejected. */
static struct breaker_config config_with(const char *fields, const char *file, int line)
{
    struct breaker_config c = {0};
    struct rules *r = parse_valid(one_breaker(fields), file, line);
    if (r != NULL)
        c = r->breakers[0].config;
    rules_free(r);
    return c;
}
#define CONFIG_WITH(fields) config_with((fields), __FILE__, __LINE__)

static const char *path_near_this_file(const char *relative)
{
    static char path[4096];
    const char *slash = strrchr(__FILE__, '/');
    int dir_len = slash != NULL ? (int)(slash - __FILE__) : 1;
    snprintf(path, sizeof path, "%.*s/%s", dir_len, slash != NULL ? __FILE__ : ".", relative);
    return path;
}

static char *write_temp_file(const char *content, size_t len)
{
    static char path[64];
    snprintf(path, sizeof path, "/tmp/fusebox-test-rules-XXXXXX");
    int fd = mkstemp(path);
    if (fd < 0)
        return NULL;
    bool written = write(fd, content, len) == (ssize_t)len;
    close(fd);
    return written ? path : NULL;
}

/* ---- valid rules ---- */

static void full_example_inline(void)
{
    const char *json = "{ \"$schema\": \"https://example.com/schema.json\",\n"
                       "  \"version\": 1,\n"
                       "  \"defaults\": { \"fail_max\": 5, \"reset_timeout\": 30 },\n"
                       "  \"breakers\": [ { \"name\": \"payments\",\n"
                       "      \"hosts\": [\"api.payments.example\", \"*.payments.internal:443\", "
                       "\"10.1.2.0/24\", \"[::1]:8443\", \"127.0.0.1:18080\"],\n"
                       "      \"fail_max\": 5, \"reset_timeout\": 60, \"success_threshold\": 2, "
                       "\"half_open_max_calls\": 1,\n"
                       "      \"failure_on\": [\"refused\", \"timeout\", \"unreachable\", "
                       "\"reset\", \"http_5xx\"], \"exclude\": [] } ] }";
    struct rules *r = PARSE_VALID(json);
    if (r == NULL)
        return;
    CHECK_STR(r->source, "rules.json");
    CHECK_INT(r->breaker_count, 1);
    CHECK_STR(r->breakers[0].name, "payments");
    CHECK_INT(r->breakers[0].line, 4);
    CHECK_INT(r->breakers[0].col, 17);
    const struct breaker_config *c = &r->breakers[0].config;
    CHECK_INT(c->fail_max, 5);
    CHECK_INT(c->reset_timeout_ms, 60000);
    CHECK_INT(c->success_threshold, 2);
    CHECK_INT(c->half_open_max_calls, 1);
    CHECK_INT(c->failure_mask, CLASS_BIT(CLASS_REFUSED) | CLASS_BIT(CLASS_TIMEOUT) |
                                   CLASS_BIT(CLASS_UNREACHABLE) | CLASS_BIT(CLASS_RESET) |
                                   CLASS_BIT(CLASS_HTTP_5XX));
    if (!CHECK_INT(r->pattern_count, 5))
        goto done;
    static const struct {
        const char *text;
        enum pattern_kind kind;
        uint16_t port;
        uint32_t col;
    } want[] = {
        {"api.payments.example", PATTERN_EXACT, 0, 17},
        {"*.payments.internal:443", PATTERN_WILDCARD, 443, 41},
        {"10.1.2.0/24", PATTERN_ADDRESS, 0, 68},
        {"[::1]:8443", PATTERN_ADDRESS, 8443, 83},
        {"127.0.0.1:18080", PATTERN_ADDRESS, 18080, 97},
    };
    for (size_t i = 0; i < 5; i++) {
        const struct host_pattern *p = &r->patterns[i];
        CHECK_CTX(strcmp(p->text, want[i].text) == 0 && p->kind == want[i].kind &&
                      p->port == want[i].port && p->breaker == 0 && p->line == 5 &&
                      p->col == want[i].col,
                  "pattern %zu: %s kind %d port %u at %u:%u", i, p->text, p->kind, p->port, p->line,
                  p->col);
    }
done:
    rules_free(r);
}

static void example_file(void)
{
    char *errors = NULL;
    const char *path = path_near_this_file("../../rules/example.json");
    if (!CHECK_CTX(access(path, R_OK) == 0, "%s: %s", path, strerror(errno)))
        return;
    struct rules *r = rules_load(path, &errors);
    if (!CHECK(r != NULL)) {
        unit_diag("#   %s", errors != NULL ? errors : "(no errors)\n");
        free(errors);
        return;
    }
    CHECK_STR(r->source, path);
    CHECK_INT(r->breaker_count, 3);
    CHECK_STR(r->breakers[0].name, "payments");
    CHECK_INT(r->breakers[0].config.reset_timeout_ms, 60000);
    CHECK_INT(r->breakers[1].config.reset_timeout_ms, 2500);
    CHECK_INT(r->breakers[2].config.fail_max, 20);
    CHECK_INT(r->breakers[2].config.failure_mask, DEFAULT_FAILURE_MASK & ~CLASS_BIT(CLASS_DNS));
    CHECK(r->pattern_count > 5);
    CHECK_INT(r->patterns[r->pattern_count - 1].kind, PATTERN_ADDRESS);
    CHECK_INT(r->patterns[r->pattern_count - 1].port, 5432);
    rules_free(r);
}

static void every_example_file_is_valid(void)
{
    static const char *const files[] = {"example.json", "minimal.json", "local-services.json",
                                        "fallback.json"};
    for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
        char relative[128], *errors = NULL;
        snprintf(relative, sizeof relative, "../../rules/%s", files[i]);
        const char *path = path_near_this_file(relative);
        if (!CHECK_CTX(access(path, R_OK) == 0, "%s: %s", path, strerror(errno)))
            continue;
        struct rules *r = rules_load(path, &errors);
        CHECK_CTX(r != NULL, "%s: %s", files[i], errors != NULL ? errors : "");
        rules_free(r);
        free(errors);
    }
}

static void fleet_share_and_quorum(void)
{
    struct rules *r = PARSE_VALID("{\"version\":1,\"breakers\":["
                                  "{\"name\":\"plain\",\"hosts\":[\"a.example\"]},"
                                  "{\"name\":\"shared\",\"hosts\":[\"b.example\"],"
                                  "\"fleet\":{\"share\":true}},"
                                  "{\"name\":\"two\",\"hosts\":[\"c.example\"],"
                                  "\"fleet\":{\"share\":true,\"quorum\":2}},"
                                  "{\"name\":\"off\",\"hosts\":[\"d.example\"],\"fleet\":{}}]}");
    if (!r)
        return;
    CHECK(!r->breakers[0].fleet.share);
    CHECK_INT(r->breakers[0].fleet.quorum, 1);
    CHECK(r->breakers[1].fleet.share);
    CHECK_INT(r->breakers[1].fleet.quorum, 1);
    CHECK(r->breakers[2].fleet.share);
    CHECK_INT(r->breakers[2].fleet.quorum, 2);
    CHECK(!r->breakers[3].fleet.share);
    rules_free(r);
    CHECK_REJECTED(one_breaker("\"fleet\":true"),
                   "rules.json:1:68: breakers[0].fleet: must be an object "
                   "{\"share\": true, \"quorum\": N}\n");
    CHECK_REJECTED(one_breaker("\"fleet\":{\"share\":1}"),
                   "rules.json:1:77: breakers[0].fleet.share: must be true or false\n");
    CHECK_REJECTED(
        one_breaker("\"fleet\":{\"quorum\":0}"),
        "rules.json:1:78: breakers[0].fleet.quorum: must be an integer from 1 to 1000\n");
    CHECK_REJECTED(one_breaker("\"fleet\":{\"quorums\":2}"),
                   "rules.json:1:69: breakers[0].fleet: unknown key \"quorums\"\n");
    CHECK_REJECTED("{\"version\":1,\"defaults\":{\"fleet\":{}},\"breakers\":[]}",
                   "rules.json:1:26: defaults: unknown key \"fleet\"\n");
}

static void builtin_policy_applies(void)
{
    struct breaker_config c = CONFIG_WITH("\"exclude\":[]");
    CHECK_INT(c.fail_max, 5);
    CHECK_INT(c.reset_timeout_ms, 30000);
    CHECK_INT(c.success_threshold, 1);
    CHECK_INT(c.half_open_max_calls, 1);
    CHECK_INT(c.failure_mask, DEFAULT_FAILURE_MASK);
}

static void rate_backoff_and_host_keys(void)
{
    struct breaker_config c =
        CONFIG_WITH("\"failure_rate\":{\"threshold\":50,\"window\":20,\"min_calls\":30},"
                    "\"slow_call\":{\"threshold_ms\":2000,\"rate\":80},"
                    "\"backoff\":{\"multiplier\":3,\"max\":120,\"jitter\":0.25},"
                    "\"honor_retry_after\":false,\"half_open_max_wait\":1.5");
    CHECK_INT(c.fail_max, 0); /* a rate alone decides */
    CHECK_INT(c.failure_rate, 50);
    CHECK_INT(c.window_ms, 20000);
    CHECK_INT(c.min_calls, 30);
    CHECK_INT(c.slow_call_ms, 2000);
    CHECK_INT(c.slow_rate, 80);
    CHECK(c.backoff_multiplier == 3);
    CHECK_INT(c.backoff_max_ms, 120000);
    CHECK_INT(c.backoff_jitter_permille, 250);
    CHECK(!c.honor_retry_after);
    CHECK_INT(c.half_open_max_wait_ms, 1500);

    c = CONFIG_WITH("\"fail_max\":3,\"failure_rate\":{\"threshold\":10}");
    CHECK_INT(c.fail_max, 3); /* both, whichever fires first */
    CHECK_INT(c.window_ms, 10000);
    CHECK_INT(c.min_calls, 10);

    c = CONFIG_WITH("\"slow_call\":{\"threshold_ms\":100}"); /* a class, no rate */
    CHECK_INT(c.fail_max, 5);
    CHECK_INT(c.window_ms, 0);
    CHECK_INT(c.slow_call_ms, 100);

    c = CONFIG_WITH("\"backoff\":{}");
    CHECK(c.backoff_multiplier == 2);
    CHECK_INT(c.backoff_max_ms, 600000);
    CHECK(c.honor_retry_after);

    struct rules *r = PARSE_VALID(one_breaker("\"per_host\":true,\"max_hosts\":7"));
    if (r != NULL) {
        CHECK(r->breakers[0].per_host);
        CHECK_INT(r->breakers[0].max_hosts, 7);
        rules_free(r);
    }
    r = PARSE_VALID(one_breaker("\"protocol\":\"tcp\""));
    if (r != NULL) {
        CHECK_INT(r->breakers[0].protocol, PROTOCOL_TCP);
        rules_free(r);
    }
    r = PARSE_VALID("{\"version\":1,\"defaults\":{\"protocol\":\"tcp\"},\"breakers\":["
                    "{\"name\":\"a\",\"hosts\":[\"a\"]},"
                    "{\"name\":\"b\",\"hosts\":[\"b\"],\"protocol\":\"auto\"}]}");
    if (r != NULL) {
        CHECK_INT(r->breakers[0].protocol, PROTOCOL_TCP);
        CHECK_INT(r->breakers[1].protocol, PROTOCOL_AUTO);
        rules_free(r);
    }
    r = PARSE_VALID(one_breaker("\"fail_max\":2"));
    if (r != NULL) {
        CHECK_INT(r->breakers[0].protocol, PROTOCOL_AUTO);
        CHECK(!r->breakers[0].per_host);
        CHECK_INT(r->breakers[0].max_hosts, DEFAULT_MAX_HOSTS);
        rules_free(r);
    }
}

static void rate_keys_inherit_from_defaults(void)
{
    const char *json = "{\"version\":1,\"defaults\":{\"failure_rate\":{\"threshold\":40},"
                       "\"backoff\":{\"jitter\":0.1}},"
                       "\"breakers\":[{\"name\":\"a\",\"hosts\":[\"a.example\"]},"
                       "{\"name\":\"b\",\"hosts\":[\"b.example\"],\"fail_max\":4,"
                       "\"backoff\":{\"multiplier\":1.5}}]}";
    struct rules *r = PARSE_VALID(json);
    if (r == NULL)
        return;
    CHECK_INT(r->breakers[0].config.failure_rate, 40);
    CHECK_INT(r->breakers[0].config.fail_max, 0);
    CHECK_INT(r->breakers[0].config.backoff_jitter_permille, 100);
    CHECK_INT(r->breakers[1].config.failure_rate, 40);
    CHECK_INT(r->breakers[1].config.fail_max, 4);
    CHECK(r->breakers[1].config.backoff_multiplier == 1.5);
    CHECK_INT(r->breakers[1].config.backoff_jitter_permille, 0); /* a section replaces */
    rules_free(r);

    /* a breaker's slow_call keeps the window of the failure_rate it inherits */
    r = PARSE_VALID("{\"version\":1,\"defaults\":{\"failure_rate\":{\"threshold\":40,"
                    "\"window\":60}},\"breakers\":[{\"name\":\"a\",\"hosts\":[\"a.example\"],"
                    "\"slow_call\":{\"threshold_ms\":500,\"rate\":50}}]}");
    if (r == NULL)
        return;
    CHECK_INT(r->breakers[0].config.window_ms, 60000);
    CHECK_INT(r->breakers[0].config.failure_rate, 40);
    CHECK_INT(r->breakers[0].config.slow_rate, 50);
    rules_free(r);
}

static void unplaced_rules_are_the_same_without_positions(void)
{
    char *errors = NULL;
    const char *json = "{\"version\":1,\"breakers\":[{\"name\":\"a\",\"hosts\":[\"a.example\","
                       "\"10.0.0.0/8\"],\"fail_max\":2}]}";
    struct rules *placed = rules_load(json, &errors),
                 *unplaced = rules_load_unplaced(json, &errors);
    if (CHECK(placed && unplaced)) {
        CHECK_INT(unplaced->pattern_count, placed->pattern_count);
        CHECK_STR(unplaced->breakers[0].name, "a");
        CHECK_INT(unplaced->breakers[0].config.fail_max, 2);
        CHECK_STR(unplaced->patterns[1].text, "10.0.0.0/8");
        CHECK_INT(placed->patterns[1].line, 1);
        CHECK_INT(unplaced->patterns[1].line, 0);
    }
    rules_free(placed);
    rules_free(unplaced);
}

static void per_host_names_are_reserved(void)
{
    CHECK_REJECTED("{\"version\":1,\"breakers\":[{\"name\":\"api\",\"hosts\":[\"*\"],"
                   "\"per_host\":true},{\"name\":\"api/1.2.3.4:80\",\"hosts\":[\"x\"]}]}",
                   "rules.json:1:79: breakers[1].name: \"api/1.2.3.4:80\" is a name of the "
                   "per-host breakers of \"api\" (per_host) (first at 1:34)\n");
    struct rules *r =
        PARSE_VALID("{\"version\":1,\"breakers\":[{\"name\":\"api\",\"hosts\":[\"*\"],"
                    "\"per_host\":true},{\"name\":\"api-v2\",\"hosts\":[\"x\"]},"
                    "{\"name\":\"apis/1\",\"hosts\":[\"y\"]}]}");
    rules_free(r);
}

static void defaults_are_inherited(void)
{
    const char *json = "{\"version\":1,"
                       "\"breakers\":["
                       "{\"name\":\"own\",\"hosts\":[\"a.example\"],\"fail_max\":9,"
                       "\"reset_timeout\":1,\"success_threshold\":3,\"half_open_max_calls\":4,"
                       "\"failure_on\":[\"tls\"],\"exclude\":[]},"
                       "{\"name\":\"inherits\",\"hosts\":[\"b.example\"]},"
                       "{\"name\":\"mixed\",\"hosts\":[\"c.example\"],\"fail_max\":100}],"
                       "\"defaults\":{\"fail_max\":7,\"reset_timeout\":12.5,"
                       "\"success_threshold\":2,\"half_open_max_calls\":3,"
                       "\"failure_on\":[\"refused\",\"dns\"],\"exclude\":[\"dns\"]}}";
    struct rules *r = PARSE_VALID(json);
    if (r == NULL)
        return;
    const struct breaker_config *own = &r->breakers[0].config;
    const struct breaker_config *inherits = &r->breakers[1].config;
    const struct breaker_config *mixed = &r->breakers[2].config;
    CHECK_INT(own->fail_max, 9);
    CHECK_INT(own->reset_timeout_ms, 1000);
    CHECK_INT(own->success_threshold, 3);
    CHECK_INT(own->half_open_max_calls, 4);
    CHECK_INT(own->failure_mask, CLASS_BIT(CLASS_TLS));
    CHECK_INT(inherits->fail_max, 7);
    CHECK_INT(inherits->reset_timeout_ms, 12500);
    CHECK_INT(inherits->success_threshold, 2);
    CHECK_INT(inherits->half_open_max_calls, 3);
    CHECK_INT(inherits->failure_mask, CLASS_BIT(CLASS_REFUSED));
    CHECK_INT(mixed->fail_max, 100);
    CHECK_INT(mixed->reset_timeout_ms, 12500);
    CHECK_INT(mixed->failure_mask, CLASS_BIT(CLASS_REFUSED));
    rules_free(r);
}

static void reset_timeout_fractions_round_up(void)
{
    static const struct {
        const char *seconds;
        uint32_t ms;
    } rows[] = {
        {"30", 30000},     {"2.5", 2500},    {"0.1", 100},        {"30.3", 30300},
        {"0.001", 1},      {"0.0011", 2},    {"0.0015", 2},       {"1e-9", 1},
        {"0.0001", 1},     {"1.0005", 1001}, {"86400", 86400000}, {"8.64e4", 86400000},
        {"1.23456", 1235}, {"5.0", 5000},
    };
    for (size_t i = 0; i < sizeof rows / sizeof *rows; i++) {
        char fields[64];
        snprintf(fields, sizeof fields, "\"reset_timeout\":%s", rows[i].seconds);
        struct breaker_config c = CONFIG_WITH(fields);
        CHECK_CTX(c.reset_timeout_ms == rows[i].ms, "%s s gave %u ms, want %u", rows[i].seconds,
                  c.reset_timeout_ms, rows[i].ms);
    }
}

static void failure_mask_is_failure_on_minus_exclude(void)
{
    static const struct {
        const char *fields;
        uint32_t mask;
    } rows[] = {
        {"\"exclude\":[\"dns\"]", DEFAULT_FAILURE_MASK & ~CLASS_BIT(CLASS_DNS)},
        {"\"failure_on\":[\"refused\",\"slow\"],\"exclude\":[\"slow\"]", CLASS_BIT(CLASS_REFUSED)},
        {"\"failure_on\":[\"refused\"],\"exclude\":[\"tls\"]", CLASS_BIT(CLASS_REFUSED)},
        {"\"failure_on\":[]", 0},
        {"\"failure_on\":[\"refused\"],\"exclude\":[\"refused\"]", 0},
        {"\"failure_on\":[\"refused\",\"timeout\",\"unreachable\",\"reset\",\"dns\",\"tls\","
         "\"http_5xx\",\"http_429\",\"http_4xx\",\"slow\"]",
         ALL_CLASSES_MASK},
        {"\"exclude\":[\"http_4xx\"],\"failure_on\":[\"http_4xx\",\"http_429\"]",
         CLASS_BIT(CLASS_HTTP_429)},
    };
    for (size_t i = 0; i < sizeof rows / sizeof *rows; i++) {
        struct breaker_config c = CONFIG_WITH(rows[i].fields);
        CHECK_CTX(c.failure_mask == rows[i].mask, "%s: mask %#x, want %#x", rows[i].fields,
                  c.failure_mask, rows[i].mask);
    }
}

static void limits_are_inclusive(void)
{
    struct breaker_config low = CONFIG_WITH("\"fail_max\":1,\"success_threshold\":1,"
                                            "\"half_open_max_calls\":1");
    struct breaker_config high = CONFIG_WITH("\"fail_max\":10000,\"success_threshold\":127,"
                                             "\"half_open_max_calls\":63,\"reset_timeout\":86400");
    CHECK_INT(low.fail_max, 1);
    CHECK_INT(low.success_threshold, 1);
    CHECK_INT(low.half_open_max_calls, 1);
    CHECK_INT(high.fail_max, BREAKER_MAX_FAIL_MAX);
    CHECK_INT(high.success_threshold, BREAKER_MAX_THRESHOLD);
    CHECK_INT(high.half_open_max_calls, BREAKER_MAX_PROBES);
    CHECK_INT(high.reset_timeout_ms, BREAKER_MAX_RESET_MS);
    CHECK_INT(CONFIG_WITH("\"fail_max\":5.0").fail_max, 5);
    CHECK_INT(CONFIG_WITH("\"fail_max\":1e3").fail_max, 1000);
}

static void empty_breakers_and_schema_are_fine(void)
{
    struct rules *r = PARSE_VALID("{\"version\":1,\"breakers\":[],\"$schema\":\"x\"}");
    if (r != NULL) {
        CHECK_INT(r->breaker_count, 0);
        CHECK_INT(r->pattern_count, 0);
    }
    rules_free(r);
    r = PARSE_VALID("\xef\xbb\xbf  {\"version\":1.0,\"breakers\":[]}\n\n");
    CHECK(r != NULL);
    rules_free(r);
}

static void breaker_names(void)
{
    char name100[101], json[512];
    memset(name100, 'n', 100);
    name100[100] = '\0';
    snprintf(
        json, sizeof json,
        "{\"version\":1,\"breakers\":[{\"name\":\"%s\",\"hosts\":[\"*\"]},"
        "{\"name\":\"A-z_0.9:/x\",\"hosts\":[\"*\"]},"
        "{\"name\":\"Payments\",\"hosts\":[\"*\"]},{\"name\":\"payments\",\"hosts\":[\"*\"]}]}",
        name100);
    struct rules *r = PARSE_VALID(json);
    if (r != NULL) {
        CHECK_STR(r->breakers[0].name, name100);
        CHECK_STR(r->breakers[1].name, "A-z_0.9:/x");
        CHECK_INT(r->breaker_count, 4);
    }
    rules_free(r);
}

/* ---- host patterns ---- */

static void pattern_forms(void)
{
    static const struct {
        const char *text;
        enum pattern_kind kind;
        const char *name_or_addr; /* EXACT/WILDCARD name, ADDRESS address */
        int family;
        unsigned prefix_len;
        uint16_t port;
    } rows[] = {
        {"api.example.com", PATTERN_EXACT, "api.example.com", 0, 0, 0},
        {"API.Example.COM.", PATTERN_EXACT, "api.example.com", 0, 0, 0},
        {"localhost", PATTERN_EXACT, "localhost", 0, 0, 0},
        {"under_score-dash.example:8080", PATTERN_EXACT, "under_score-dash.example", 0, 0, 8080},
        {"Host.Example.:65535", PATTERN_EXACT, "host.example", 0, 0, 65535},
        {"1a.example.9z", PATTERN_EXACT, "1a.example.9z", 0, 0, 0},
        {"*.Payments.Internal", PATTERN_WILDCARD, "payments.internal", 0, 0, 0},
        {"*.payments.internal.:443", PATTERN_WILDCARD, "payments.internal", 0, 0, 443},
        {"*.com", PATTERN_WILDCARD, "com", 0, 0, 0},
        {"*", PATTERN_ANY, NULL, 0, 0, 0},
        {"*:443", PATTERN_ANY, NULL, 0, 0, 443},
        {"10.1.2.3", PATTERN_ADDRESS, "10.1.2.3", AF_INET, 32, 0},
        {"10.1.2.0/24", PATTERN_ADDRESS, "10.1.2.0", AF_INET, 24, 0},
        {"10.1.2.0/24:80", PATTERN_ADDRESS, "10.1.2.0", AF_INET, 24, 80},
        {"0.0.0.0/0", PATTERN_ADDRESS, "0.0.0.0", AF_INET, 0, 0},
        {"127.0.0.1:18080", PATTERN_ADDRESS, "127.0.0.1", AF_INET, 32, 18080},
        {"::1", PATTERN_ADDRESS, "::1", AF_INET6, 128, 0},
        {"[::1]", PATTERN_ADDRESS, "::1", AF_INET6, 128, 0},
        {"[::1]:8443", PATTERN_ADDRESS, "::1", AF_INET6, 128, 8443},
        {"::1:8443", PATTERN_ADDRESS, "::1:8443", AF_INET6, 128, 0},
        {"fe80::/10", PATTERN_ADDRESS, "fe80::", AF_INET6, 10, 0},
        {"[fe80::/10]:443", PATTERN_ADDRESS, "fe80::", AF_INET6, 10, 443},
        {"2001:DB8::/32", PATTERN_ADDRESS, "2001:db8::", AF_INET6, 32, 0},
        {"::/0", PATTERN_ADDRESS, "::", AF_INET6, 0, 0},
        {"::ffff:127.0.0.1", PATTERN_ADDRESS, "127.0.0.1", AF_INET, 32, 0},
        {"[::ffff:10.0.0.0/104]:443", PATTERN_ADDRESS, "10.0.0.0", AF_INET, 8, 443},
        {"::ffff:0:0/96", PATTERN_ADDRESS, "0.0.0.0", AF_INET, 0, 0},
        {"::fffe:0:0/95", PATTERN_ADDRESS, "::fffe:0:0", AF_INET6, 95, 0},
    };
    for (size_t i = 0; i < sizeof rows / sizeof *rows; i++) {
        struct host_pattern p;
        char why[128] = "", addr[INET6_ADDRSTRLEN] = "";
        if (!CHECK_CTX(host_pattern_parse(rows[i].text, &p, why, sizeof why), "%s: %s",
                       rows[i].text, why))
            continue;
        uint8_t want_addr[16] = {0};
        const char *got = p.name;
        bool name_ok;
        if (p.kind == PATTERN_ADDRESS) {
            got = inet_ntop(p.family, p.addr, addr, sizeof addr);
            name_ok = inet_pton(rows[i].family, rows[i].name_or_addr, want_addr) == 1 &&
                      memcmp(p.addr, want_addr, sizeof want_addr) == 0;
        } else {
            name_ok = rows[i].name_or_addr == NULL
                          ? got == NULL
                          : got != NULL && strcmp(got, rows[i].name_or_addr) == 0;
        }
        CHECK_CTX(p.kind == rows[i].kind && name_ok && p.port == rows[i].port &&
                      strcmp(p.text, rows[i].text) == 0 &&
                      (p.kind != PATTERN_ADDRESS ||
                       (p.family == rows[i].family && p.prefix_len == rows[i].prefix_len)),
                  "%s: kind %d name/addr %s family %d /%u port %u", rows[i].text, p.kind,
                  got != NULL ? got : "(null)", p.family, p.prefix_len, p.port);
        host_pattern_clear(&p);
    }
}

static void pattern_errors(void)
{
    char long_name[300], long_label[80];
    memset(long_name, 'a', sizeof long_name - 1);
    long_name[sizeof long_name - 1] = '\0';
    for (size_t i = 1; i < 254; i += 2)
        long_name[i] = '.';
    memset(long_label, 'b', sizeof long_label - 1);
    long_label[sizeof long_label - 1] = '\0';
    static const struct {
        const char *text, *why;
    } rows[] = {
        {"", "empty host name"},
        {".", "empty host name"},
        {":80", "empty host name"},
        {"*.", "empty host name"},
        {"a..b", "empty label in host name"},
        {".a.b", "empty label in host name"},
        {"a.b..", "empty label in host name"},
        {"foo bar", "invalid character \" \" in host name"},
        {"api.*.example", "invalid character \"*\" in host name"},
        {"**.example", "invalid character \"*\" in host name"},
        {"caf\xc3\xa9.example", "invalid character \"\\xc3\" in host name"},
        {"a.example:0", "port must be an integer from 1 to 65535"},
        {"a.example:65536", "port must be an integer from 1 to 65535"},
        {"a.example:", "port must be an integer from 1 to 65535"},
        {"a.example:+80", "port must be an integer from 1 to 65535"},
        {"a.example:8o", "port must be an integer from 1 to 65535"},
        {"a.example:123456", "port must be an integer from 1 to 65535"},
        {"[::1]:0", "port must be an integer from 1 to 65535"},
        {"[::1", "missing ']'"},
        {"[::1]80", "only \":port\" may follow ']'"},
        {"[10.0.0.1]", "not a valid IPv6 address"},
        {"[example.com]:80", "not a valid IPv6 address"},
        {"1.2.3.256", "not a valid IPv4 address"},
        {"1.2.3", "not a valid IPv4 address"},
        {"10", "not a valid IPv4 address"},
        {"010.1.2.3", "not a valid IPv4 address"},
        {"10.0.0.0/", "prefix length must be an integer from 0 to 32"},
        {"10.0.0.0/33", "prefix length must be an integer from 0 to 32"},
        {"10.0.0.0/-1", "prefix length must be an integer from 0 to 32"},
        {"10.1.2.1/24", "host bits set beyond /24"},
        {"11.0.0.0/7", "host bits set beyond /7"},
        {"::1/129", "prefix length must be an integer from 0 to 128"},
        {"fe80::1/10", "host bits set beyond /10"},
        {"fe80::1%eth0", "not a valid IPv6 address"},
        {"1:2:3:4:5:6:7:8:9", "not a valid IPv6 address"},
        {"foo/24", "not a valid IPv4 address"},
        {"a.b.1", "not an IPv4 address, and a host name cannot end in a numeric label"},
        {"*.10.0.0", "not an IPv4 address, and a host name cannot end in a numeric label"},
    };
    for (size_t i = 0; i < sizeof rows / sizeof *rows; i++) {
        struct host_pattern p;
        char why[128] = "";
        bool parsed = host_pattern_parse(rows[i].text, &p, why, sizeof why);
        CHECK_CTX(!parsed && strcmp(why, rows[i].why) == 0 && p.name == NULL && p.text == NULL,
                  "\"%s\": got \"%s\", want \"%s\"", rows[i].text, why, rows[i].why);
        if (parsed)
            host_pattern_clear(&p);
    }
    struct host_pattern p;
    char why[128];
    CHECK(!host_pattern_parse(long_name, &p, why, sizeof why));
    CHECK_STR(why, "host name longer than 253 characters");
    long_name[253] = '\0';
    CHECK(host_pattern_parse(long_name, &p, why, sizeof why));
    host_pattern_clear(&p);
    CHECK(!host_pattern_parse(long_label, &p, why, sizeof why));
    CHECK_STR(why, "label longer than 63 characters");
    long_label[63] = '\0';
    CHECK(host_pattern_parse(long_label, &p, why, sizeof why));
    host_pattern_clear(&p);
}

static void patterns_keep_breaker_and_position(void)
{
    const char *json = "{\"version\":1,\"breakers\":[\n"
                       "  {\"name\":\"a\",\"hosts\":[\"a.example\"]},\n"
                       "  {\"name\":\"b\",\"hosts\":[\n"
                       "\t\"b.example\",\n"
                       "    \"\xc3\xa9\" ]}]}";
    char *errors = NULL;
    struct rules *r = parse(json, &errors);
    CHECK(r == NULL);
    CHECK_STR(errors, "rules.json:5:5: breakers[1].hosts[1]: \"\\xc3\\xa9\": invalid character "
                      "\"\\xc3\" in host name\n");
    free(errors);
    json = "{\"version\":1,\"breakers\":[\n"
           "  {\"name\":\"a\",\"hosts\":[\"a.example\"]},\n"
           "  {\"name\":\"b\",\"hosts\":[\n"
           "\t\"b.example\", \"c.example\"]}]}";
    r = PARSE_VALID(json);
    if (r == NULL || !CHECK_INT(r->pattern_count, 3))
        goto done;
    CHECK_INT(r->patterns[0].breaker, 0);
    CHECK_INT(r->patterns[1].breaker, 1);
    CHECK_INT(r->patterns[2].breaker, 1);
    CHECK_INT(r->patterns[0].line, 2);
    CHECK_INT(r->patterns[0].col, 24);
    CHECK_INT(r->patterns[1].line, 4);
    CHECK_INT(r->patterns[1].col, 2);
    CHECK_INT(r->patterns[2].col, 15);
    CHECK_INT(r->breakers[1].line, 3);
    CHECK_INT(r->breakers[1].col, 3);
done:
    rules_free(r);
}

/* ---- errors ---- */

static void errors_of_the_brief(void)
{
    CHECK_REJECTED("{\n"
                   "  \"version\": 1,\n"
                   "  \"breakers\": [\n"
                   "    { \"name\": \"payments\",\n"
                   "      \"hosts\": [\"a.example\", \"b.example\", \"10.1.2.1/24\"],\n"
                   "      \"fail_max\": 3,\n"
                   "        \"fial_max\": 5 },\n"
                   "    { \"name\": \"search\", \"hosts\": [\"s.example\"],\n"
                   "      \"fail_max\":  0 },\n"
                   "    { \"name\": \"payments\", \"hosts\": [] }\n"
                   "  ]\n"
                   "}\n",
                   "rules.json:5:43: breakers[0].hosts[2]: \"10.1.2.1/24\": host bits set beyond "
                   "/24\n"
                   "rules.json:7:9: breakers[0]: unknown key \"fial_max\"\n"
                   "rules.json:9:20: breakers[1].fail_max: must be an integer from 1 to 10000\n"
                   "rules.json:10:15: breakers[2].name: duplicate breaker name \"payments\" "
                   "(first at 4:15)\n"
                   "rules.json:10:36: breakers[2].hosts: must not be empty\n");
}

static void top_level_errors(void)
{
    CHECK_REJECTED("", "rules.json:1:1: no JSON value: the text is empty\n");
    CHECK_REJECTED(" \n\t\r\n", "rules.json:1:1: no JSON value: the text is empty\n");
    CHECK_REJECTED("[1]", "rules.json:1:1: the rules must be a JSON object\n");
    CHECK_REJECTED("  \"x\"", "rules.json:1:3: the rules must be a JSON object\n");
    CHECK_REJECTED("\n 42", "rules.json:2:2: the rules must be a JSON object\n");
    CHECK_REJECTED("null", "rules.json:1:1: the rules must be a JSON object\n");
    CHECK_REJECTED("{}", "rules.json:1:1: missing required key \"version\"\n"
                         "rules.json:1:1: missing required key \"breakers\"\n");
    CHECK_REJECTED("\n  {\"version\":1}", "rules.json:2:3: missing required key \"breakers\"\n");
    CHECK_REJECTED("{\"version\":1,\"breakers\":[],\"Version\":1,\"defaults\":{},\"x\":{}}",
                   "rules.json:1:28: unknown key \"Version\"\n"
                   "rules.json:1:54: unknown key \"x\"\n");
    CHECK_REJECTED("{\"version\":2,\"breakers\":[]}", "rules.json:1:12: version: must be the "
                                                      "integer 1\n");
    CHECK_REJECTED("{\"version\":\"1\",\"breakers\":[]}", "rules.json:1:12: version: must be the "
                                                          "integer 1\n");
    CHECK_REJECTED("{\"version\":1.5,\"breakers\":[]}", "rules.json:1:12: version: must be the "
                                                        "integer 1\n");
    CHECK_REJECTED("{\"version\":1,\"breakers\":{}}", "rules.json:1:25: breakers: must be an "
                                                      "array\n");
    CHECK_REJECTED("{\"version\":1,\"breakers\":[],\"defaults\":[]}",
                   "rules.json:1:39: defaults: must be an object\n");
    CHECK_REJECTED("{\"version\":1,\"breakers\":[],\"$schema\":1}",
                   "rules.json:1:38: $schema: must be a string\n");
    CHECK_REJECTED("\xef\xbb\xbf{\"version\":2,\"breakers\":[]}",
                   "rules.json:1:12: version: must be the integer 1\n");
    CHECK_REJECTED(
        "{\"$schema\":\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x94\x8c\",\"version\":2,\"breakers\":[]}",
        "rules.json:1:28: version: must be the integer 1\n");
    CHECK_REJECTED("{\"version\":1,\"breakers\":[],\"version\":1}",
                   "rules.json:1:28: duplicate key \"version\" (first at 1:2)\n");
}

static void syntax_errors(void)
{
    CHECK_REJECTED("{\"version\":1,\"breakers\":[]} x",
                   "rules.json:1:29: unexpected text after the JSON value\n");
    CHECK_REJECTED("{\"version\":1,\"breakers\":[]}\n\n}",
                   "rules.json:3:1: unexpected text after the JSON value\n");
    CHECK_REJECTED("{\"version\":1,\n \"breakers\":[,]}", "rules.json:2:14: JSON syntax error\n");
    CHECK_REJECTED("{\"version\" 1}", "rules.json:1:12: JSON syntax error\n");
    CHECK_REJECTED("{\"version\":1,}", "rules.json:1:14: JSON syntax error\n");
    CHECK_REJECTED("{\"version\":tru}", "rules.json:1:12: JSON syntax error\n");
    CHECK_REJECTED("{\"a\":\"\\x\"}", "rules.json:1:7: JSON syntax error\n");
    CHECK_REJECTED("{\"version\":1,\"breakers\":[", "rules.json:1:25: JSON syntax error\n");
    CHECK_REJECTED("{'version':1}", "rules.json:1:3: JSON syntax error\n");
}

static void text_that_is_not_json(void)
{
    static const char nul_inside[] = "{\"version\":1,\0\"breakers\":[]}";
    char *errors = NULL;
    struct rules *r = rules_parse(nul_inside, sizeof nul_inside - 1, "rules.json", &errors);
    CHECK(r == NULL);
    CHECK_STR(errors, "rules.json:1:14: control character (JSON text may hold only tab, LF and "
                      "CR)\n");
    free(errors);
    CHECK_REJECTED("{\"version\":1,\"breakers\":[{\"name\":\"a\xff\"}]}",
                   "rules.json:1:36: invalid UTF-8\n");
    CHECK_REJECTED("{\"v\xc3\xa9rsion\xc0\x80\":1}", "rules.json:1:10: invalid UTF-8\n");
    CHECK_REJECTED("{\"x\":\"\xed\xa0\x80\"}", "rules.json:1:7: invalid UTF-8\n");
    CHECK_REJECTED("{\"x\":\"\xf4\x90\x80\x80\"}", "rules.json:1:7: invalid UTF-8\n");
    CHECK_REJECTED("{\"x\":\"\xe2\x82\"}", "rules.json:1:7: invalid UTF-8\n");
    CHECK_REJECTED(
        "{\"version\":1,\"breakers\":[{\"name\":\"pay\\u0000ments\",\"hosts\":[\"*\"]}]}",
        "rules.json:1:38: \\u0000 is not allowed in strings\n");
    r = PARSE_VALID("{\"version\":1,\"breakers\":[],\"$schema\":\"\\\\u0000\"}");
    CHECK(r != NULL);
    rules_free(r);
}

static void unknown_and_duplicate_keys_point_at_the_key(void)
{
    CHECK_REJECTED("{\"version\":1,\"breakers\":[{\"name\":\"a\",\"hosts\":[\"*\"],\n"
                   "  \"name\":\"b\", \"hosts\":[\"x\"], \"Fail_max\":1}],\n"
                   " \"defaults\":{\"fail_max\":1,\n\"fail_max\":2, \"name\":\"c\"}}",
                   "rules.json:2:3: breakers[0]: duplicate key \"name\" (first at 1:27)\n"
                   "rules.json:2:15: breakers[0]: duplicate key \"hosts\" (first at 1:38)\n"
                   "rules.json:2:30: breakers[0]: unknown key \"Fail_max\"\n"
                   "rules.json:4:1: defaults: duplicate key \"fail_max\" (first at 3:14)\n"
                   "rules.json:4:15: defaults: unknown key \"name\"\n");
}

static void value_errors(void)
{
    static const struct {
        const char *fields; /* after ONE_BREAKER_PREFIX */
        size_t col;         /* of the offending value within fields, 0-based */
        const char *message;
    } rows[] = {
        {"\"fail_max\":0", 11, "breakers[0].fail_max: must be an integer from 1 to 10000"},
        {"\"failure_rate\":{\"threshold\":0}", 28,
         "breakers[0].failure_rate.threshold: must be an integer from 1 to 100"},
        {"\"failure_rate\":{\"threshold\":50,\"window\":3601}", 40,
         "breakers[0].failure_rate.window: must be a number of seconds greater than 0 and at most "
         "3600"},
        {"\"failure_rate\":{}", 15, "breakers[0].failure_rate: missing required key \"threshold\""},
        {"\"failure_rate\":50", 15, "breakers[0].failure_rate: must be an object"},
        {"\"failure_rate\":{\"threshold\":5,\"x\":1}", 30,
         "breakers[0].failure_rate: unknown key \"x\""},
        {"\"failure_rate\":{\"threshold\":5},\"slow_call\":{\"threshold_ms\":9,\"window\":2}", 70,
         "breakers[0].slow_call.window: must equal failure_rate's (a breaker has one window)"},
        {"\"slow_call\":{\"threshold_ms\":1,\"rate\":101}", 37,
         "breakers[0].slow_call.rate: must be an integer from 1 to 100"},
        {"\"backoff\":{\"multiplier\":0.5}", 24,
         "breakers[0].backoff.multiplier: must be a number from 1 to 100"},
        {"\"backoff\":{\"jitter\":1.5}", 20,
         "breakers[0].backoff.jitter: must be a number from 0 to 1"},
        {"\"half_open_max_wait\":0", 21,
         "breakers[0].half_open_max_wait: must be a number of seconds greater than 0 and at most "
         "86400"},
        {"\"per_host\":1", 11, "breakers[0].per_host: must be true or false"},
        {"\"protocol\":\"http\"", 11, "breakers[0].protocol: must be \"auto\" or \"tcp\""},
        {"\"protocol\":1", 11, "breakers[0].protocol: must be \"auto\" or \"tcp\""},
        {"\"max_hosts\":1025", 12, "breakers[0].max_hosts: must be an integer from 1 to 1024"},
        {"\"fail_max\":10001", 11, "breakers[0].fail_max: must be an integer from 1 to 10000"},
        {"\"fail_max\":-1", 11, "breakers[0].fail_max: must be an integer from 1 to 10000"},
        {"\"fail_max\":2.5", 11, "breakers[0].fail_max: must be an integer from 1 to 10000"},
        {"\"fail_max\":\"5\"", 11, "breakers[0].fail_max: must be an integer from 1 to 10000"},
        {"\"fail_max\":true", 11, "breakers[0].fail_max: must be an integer from 1 to 10000"},
        {"\"fail_max\":null", 11, "breakers[0].fail_max: must be an integer from 1 to 10000"},
        {"\"fail_max\":1e999", 11, "breakers[0].fail_max: must be an integer from 1 to 10000"},
        {"\"fail_max\":-1e999", 11, "breakers[0].fail_max: must be an integer from 1 to 10000"},
        {"\"fail_max\":4294967297", 11, "breakers[0].fail_max: must be an integer from 1 to 10000"},
        {"\"success_threshold\":128", 20,
         "breakers[0].success_threshold: must be an integer from 1 to 127"},
        {"\"success_threshold\":0", 20,
         "breakers[0].success_threshold: must be an integer from 1 to 127"},
        {"\"half_open_max_calls\":64", 22,
         "breakers[0].half_open_max_calls: must be an integer from 1 to 63"},
        {"\"half_open_max_calls\":[1]", 22,
         "breakers[0].half_open_max_calls: must be an integer from 1 to 63"},
        {"\"reset_timeout\":0", 16,
         "breakers[0].reset_timeout: must be a number of seconds "
         "greater than 0 and at most 86400"},
        {"\"reset_timeout\":-0.5", 16,
         "breakers[0].reset_timeout: must be a number of seconds "
         "greater than 0 and at most 86400"},
        {"\"reset_timeout\":86400.001", 16,
         "breakers[0].reset_timeout: must be a number of "
         "seconds greater than 0 and at most 86400"},
        {"\"reset_timeout\":\"30s\"", 16,
         "breakers[0].reset_timeout: must be a number of "
         "seconds greater than 0 and at most 86400"},
        {"\"reset_timeout\":1e400", 16,
         "breakers[0].reset_timeout: must be a number of seconds "
         "greater than 0 and at most 86400"},
        {"\"failure_on\":\"refused\"", 13,
         "breakers[0].failure_on: must be an array of class "
         "names"},
        {"\"failure_on\":[\"refused\",\"success\"]", 24,
         "breakers[0].failure_on[1]: unknown class \"success\" (classes: refused, timeout, "
         "unreachable, reset, dns, tls, http_5xx, http_429, http_4xx, slow)"},
        {"\"exclude\":[\"ignored\"]", 11,
         "breakers[0].exclude[0]: unknown class \"ignored\" (classes: refused, timeout, "
         "unreachable, reset, dns, tls, http_5xx, http_429, http_4xx, slow)"},
        {"\"exclude\":[\"Refused\"]", 11,
         "breakers[0].exclude[0]: unknown class \"Refused\" (classes: refused, timeout, "
         "unreachable, reset, dns, tls, http_5xx, http_429, http_4xx, slow)"},
        {"\"exclude\":[\"dns\",{}]", 17,
         "breakers[0].exclude[1]: must be a class name (a "
         "string)"},
        {"\"exclude\":[\"dns\",\"tls\",\"dns\"]", 23,
         "breakers[0].exclude[2]: duplicate class \"dns\" (first at 1:71)"},
        {"\"exclude\":null", 10, "breakers[0].exclude: must be an array of class names"},
    };
    size_t prefix = strlen(ONE_BREAKER_PREFIX);
    for (size_t i = 0; i < sizeof rows / sizeof *rows; i++) {
        char want[512], *errors = NULL;
        snprintf(want, sizeof want, "rules.json:1:%zu: %s\n", prefix + rows[i].col + 1,
                 rows[i].message);
        struct rules *r = parse(one_breaker(rows[i].fields), &errors);
        CHECK_CTX(r == NULL && errors != NULL && strcmp(errors, want) == 0,
                  "%s\n#   got  %s#   want %s", rows[i].fields, errors != NULL ? errors : "\n",
                  want);
        rules_free(r);
        free(errors);
    }
}

static void breaker_shape_errors(void)
{
    CHECK_REJECTED("{\"version\":1,\"breakers\":[{}]}",
                   "rules.json:1:26: breakers[0]: missing required key \"name\"\n"
                   "rules.json:1:26: breakers[0]: missing required key \"hosts\"\n");
    CHECK_REJECTED("{\"version\":1,\"breakers\":[[], \"b\", 3]}",
                   "rules.json:1:26: breakers[0]: must be an object\n"
                   "rules.json:1:30: breakers[1]: must be an object\n"
                   "rules.json:1:35: breakers[2]: must be an object\n");
    CHECK_REJECTED("{\"version\":1,\"breakers\":[{\"name\":\"\",\"hosts\":\"a.example\"}]}",
                   "rules.json:1:34: breakers[0].name: must be a string of 1 to 100 characters "
                   "from A-Z a-z 0-9 _ . : / -\n"
                   "rules.json:1:45: breakers[0].hosts: must be an array of host patterns\n");
    CHECK_REJECTED("{\"version\":1,\"breakers\":[{\"name\":\"a b\",\"hosts\":[1, null, \"ok\"]}]}",
                   "rules.json:1:34: breakers[0].name: must be a string of 1 to 100 characters "
                   "from A-Z a-z 0-9 _ . : / -\n"
                   "rules.json:1:49: breakers[0].hosts[0]: must be a host pattern (a string)\n"
                   "rules.json:1:52: breakers[0].hosts[1]: must be a host pattern (a string)\n");
    char json[256];
    snprintf(json, sizeof json,
             "{\"version\":1,\"breakers\":[{\"name\":\"%0101d\",\"hosts\":[\"*\"]}]}", 0);
    CHECK_REJECTED(json, "rules.json:1:34: breakers[0].name: must be a string of 1 to 100 "
                         "characters from A-Z a-z 0-9 _ . : / -\n");
}

static void duplicate_names_point_at_the_first(void)
{
    CHECK_REJECTED("{\"version\":1,\"breakers\":[\n"
                   "{\"name\":\"x\",\"hosts\":[\"*\"]},\n"
                   "{\"name\":\"y\",\"hosts\":[\"*\"]},\n"
                   "{\"name\":\"x\",\"hosts\":[\"*\"]},\n"
                   "{\"hosts\":[\"*\"],\"name\":\"x\"}]}",
                   "rules.json:4:9: breakers[2].name: duplicate breaker name \"x\" (first at 2:9)\n"
                   "rules.json:5:23: breakers[3].name: duplicate breaker name \"x\" (first at "
                   "2:9)\n");
}

static void long_and_odd_strings_are_quoted_short(void)
{
    char json[2048], key[600];
    memset(key, 'k', sizeof key - 1);
    key[sizeof key - 1] = '\0';
    snprintf(json, sizeof json, "{\"version\":1,\"breakers\":[],\"%s\":1,\"q\\\"\\\\\\n\":2}", key);
    char *errors = NULL;
    struct rules *r = parse(json, &errors);
    CHECK(r == NULL);
    if (CHECK(errors != NULL)) {
        const char *second = strchr(errors, '\n') + 1;
        CHECK(second - errors < 130);
        CHECK(strstr(errors, "kkk...\"\n") != NULL);
        CHECK_STR(second, "rules.json:1:632: unknown key \"q\\\"\\\\\\x0a\"\n");
    }
    free(errors);
}

static void many_errors_stop_at_the_limit(void)
{
    size_t n = 3 * RULES_MAX_PROBLEMS;
    char *json = malloc(16 * n + 64), *p = json;
    p += sprintf(p, "{\"version\":1,\"breakers\":[");
    for (size_t i = 0; i < n; i++)
        p += sprintf(p, "%s%zu", i > 0 ? "," : "", i);
    strcpy(p, "]}");
    char *errors = NULL;
    struct rules *r = parse(json, &errors);
    CHECK(r == NULL);
    size_t lines = 0;
    for (const char *s = errors; s != NULL && *s != '\0'; s = strchr(s, '\n') + 1)
        lines++;
    CHECK_INT(lines, RULES_MAX_PROBLEMS + 1);
    CHECK(errors != NULL &&
          strstr(errors, "rules.json:1:26: breakers[0]: must be an object\n") == errors);
    CHECK(errors != NULL && strstr(errors, "breakers[99]: must be an object\nrules.json: too many "
                                           "problems; stopped after 100\n") != NULL);
    free(errors);
    free(json);
}

/* ---- loading ---- */

static void inline_json_and_files_name_their_source(void)
{
    char *errors = NULL;
    struct rules *r = rules_load(" \n\t{\"version\":1,\"breakers\":[]}", &errors);
    if (CHECK(r != NULL))
        CHECK_STR(r->source, RULES_INLINE_SOURCE);
    rules_free(r);
    r = rules_load("{\"version\":1}", &errors);
    CHECK(r == NULL);
    CHECK_STR(errors, "FUSEBOX_RULES:1:1: missing required key \"breakers\"\n");
    free(errors);

    const char *content =
        "{\"version\":1,\n\"breakers\":[{\"name\":\"f\",\"hosts\":[\"f.example\"]}]}";
    char *path = write_temp_file(content, strlen(content));
    if (!CHECK(path != NULL))
        return;
    r = rules_load(path, &errors);
    if (CHECK(r != NULL)) {
        CHECK_STR(r->source, path);
        CHECK_INT(r->patterns[0].line, 2);
    }
    rules_free(r);
    unlink(path);
    content = "{\"version\":1,\n\"breakers\":[{\"name\":\"f\"}]}";
    path = write_temp_file(content, strlen(content));
    r = rules_load(path, &errors);
    CHECK(r == NULL);
    char want[256];
    snprintf(want, sizeof want, "%s:2:13: breakers[0]: missing required key \"hosts\"\n", path);
    CHECK_STR(errors, want);
    free(errors);
    unlink(path);
}

static void unreadable_files_are_reported(void)
{
    char *errors = NULL, want[512];
    struct rules *r = rules_load("/nonexistent/fusebox.json", &errors);
    CHECK(r == NULL);
    CHECK_STR(errors, "/nonexistent/fusebox.json: cannot read: No such file or directory\n");
    free(errors);

    r = rules_load("/tmp", &errors);
    CHECK_STR(errors, "/tmp: cannot read: not a regular file\n");
    free(errors);

    char fifo[] = "/tmp/fusebox-test-fifo-XXXXXX";
    int fd = mkstemp(fifo);
    close(fd);
    unlink(fifo);
    if (CHECK(mkfifo(fifo, 0600) == 0)) {
        r = rules_load(fifo, &errors); /* must not wait for a writer */
        snprintf(want, sizeof want, "%s: cannot read: not a regular file\n", fifo);
        CHECK_STR(errors, want);
        free(errors);
        unlink(fifo);
    }

    char *big = write_temp_file("{", 1);
    if (CHECK(big != NULL) && CHECK(truncate(big, (off_t)RULES_MAX_FILE_SIZE + 1) == 0)) {
        r = rules_load(big, &errors);
        snprintf(want, sizeof want, "%s: cannot read: larger than 64 MiB\n", big);
        CHECK_STR(errors, want);
        free(errors);
    }
    if (big != NULL)
        unlink(big);

    char *secret = write_temp_file("{}", 2);
    if (CHECK(secret != NULL) && geteuid() != 0) {
        chmod(secret, 0);
        r = rules_load(secret, &errors);
        snprintf(want, sizeof want, "%s: cannot read: Permission denied\n", secret);
        CHECK_STR(errors, want);
        free(errors);
    }
    if (secret != NULL)
        unlink(secret);
    rules_load("", &errors);
    CHECK_STR(errors, ": cannot read: No such file or directory\n");
    free(errors);
}

/* ---- hostile input ---- */

/* Parses len bytes of text; checks the contract (rules xor errors, errors well formed). */
static void parse_anything(const char *text, size_t len, const char *what)
{
    char *errors = NULL;
    struct rules *r = rules_parse(text, len, "h.json", &errors);
    bool ok = (r == NULL) != (errors == NULL);
    if (errors != NULL)
        ok = ok && strncmp(errors, "h.json:", 7) == 0 && errors[strlen(errors) - 1] == '\n';
    CHECK_CTX(ok, "%s", what);
    rules_free(r);
    free(errors);
}

static void truncated_json_is_rejected(void)
{
    const char *json = "{\"$schema\":\"s\",\"version\":1,\"defaults\":{\"fail_max\":5,"
                       "\"reset_timeout\":0.5,\"failure_on\":[\"refused\"],\"exclude\":[]},"
                       "\"breakers\":[{\"name\":\"p\\u00e9\\\"\",\"hosts\":[\"a.example\","
                       "\"[::1]:80\",\"10.0.0.0/8\"],\"success_threshold\":2}]}";
    size_t len = strlen(json);
    for (size_t cut = 0; cut < len; cut++) {
        char what[32];
        snprintf(what, sizeof what, "cut at %zu", cut);
        parse_anything(json, cut, what);
        char *errors = NULL;
        struct rules *r = rules_parse(json, cut, "h.json", &errors);
        CHECK_CTX(r == NULL, "%s", what);
        rules_free(r);
        free(errors);
    }
    parse_anything(NULL, 0, "NULL text");
}

/* Nesting is bounded (RULES_MAX_DEPTH levels, the top object one of them)
 * before cJSON, which recurses, sees the text: 900 levels overflowed a
 * 64 KiB thread stack. Brackets inside strings do not count. */
static void deep_nesting_is_rejected(void)
{
    size_t depth = 200000;
    char *json = malloc(2 * depth + 64);
    size_t n = (size_t)sprintf(json, "{\"version\":1,\"breakers\":[],\"x\":");
    memset(json + n, '[', depth);
    memset(json + n + depth, ']', depth);
    json[n + 2 * depth] = '}';
    parse_anything(json, n + 2 * depth + 1, "200000 brackets");
    char *errors = NULL;
    CHECK(rules_parse(json, n + 2 * depth + 1, "h.json", &errors) == NULL);
    CHECK_STR(errors, "h.json:1:63: nested deeper than 32 levels\n");
    free(errors);
    static const size_t brackets[] = {900, RULES_MAX_DEPTH, RULES_MAX_DEPTH - 1};
    for (size_t i = 0; i < sizeof brackets / sizeof brackets[0]; i++) {
        memset(json + n, '[', brackets[i]);
        memset(json + n + brackets[i], ']', brackets[i]);
        strcpy(json + n + 2 * brackets[i], "}");
        CHECK_REJECTED(json, brackets[i] < RULES_MAX_DEPTH
                                 ? "rules.json:1:28: unknown key \"x\"\n" /* 32 levels: read */
                                 : "rules.json:1:63: nested deeper than 32 levels\n");
    }
    free(json);
    struct rules *r = PARSE_VALID("{\"version\":1,\"breakers\":[],\"$schema\":\"\\\"{[[[[[[[[[[[[[["
                                  "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\"}");
    CHECK(r != NULL);
    rules_free(r);
}

static void huge_values_are_rejected(void)
{
    char *json = malloc(1 << 20);
    size_t n = (size_t)sprintf(json, "{\"version\":1,\"breakers\":[{\"name\":\"b\",\"hosts\":[\"");
    memset(json + n, 'a', 500000);
    strcpy(json + n + 500000, "\"]}]}");
    char want[256];
    snprintf(want, sizeof want,
             "rules.json:1:47: breakers[0].hosts[0]: \"%.75s...\": host name longer than 253 "
             "characters\n",
             json + n);
    CHECK_REJECTED(json, want);
    n = (size_t)sprintf(json, "{\"version\":1,\"breakers\":[],\"defaults\":{\"fail_max\":");
    memset(json + n, '9', 5000);
    strcpy(json + n + 5000, "}}");
    parse_anything(json, strlen(json), "5000-digit number");
    CHECK_REJECTED(one_breaker("\"fail_max\":1e308"),
                   "rules.json:1:71: breakers[0].fail_max: must be an integer from 1 to 10000\n");
    CHECK_REJECTED(one_breaker("\"fail_max\":-0"),
                   "rules.json:1:71: breakers[0].fail_max: must be an integer from 1 to 10000\n");
    free(json);
}

static void random_bytes_never_crash(void)
{
    uint32_t state = 12345;
    char text[256];
    const char alphabet[] = "{}[]:,\"\\ 0123456789.eE+-truefalsnu*/\n\x01\x80\xc3\xff";
    for (int round = 0; round < 3000; round++) {
        size_t len = (size_t)(state % sizeof text);
        for (size_t i = 0; i < len; i++) {
            state = state * 1103515245u + 12345u;
            text[i] = round % 2 != 0 ? alphabet[(state >> 16) % (sizeof alphabet - 1)]
                                     : (char)(state >> 16);
        }
        state = state * 1103515245u + 12345u;
        parse_anything(text, len, "random bytes");
    }
}

static void mutated_rules_never_crash(void)
{
    const char *base = "{\"version\":1,\"defaults\":{\"reset_timeout\":1.5},\"breakers\":["
                       "{\"name\":\"a\",\"hosts\":[\"x.example:80\",\"*.y\",\"[::1]\",\"*\"],"
                       "\"failure_on\":[\"dns\"],\"exclude\":[\"dns\"]}]}";
    size_t len = strlen(base);
    char text[512];
    for (size_t i = 0; i < len; i++) {
        for (int c = 0; c < 256; c += 7) {
            memcpy(text, base, len);
            text[i] = (char)c;
            parse_anything(text, len, "one byte changed");
        }
    }
}

static void large_rules_parse_whole(void)
{
    size_t breakers = 10000;
    char *json = malloc(breakers * 400 + 64), *p = json;
    p += sprintf(p, "{\"version\":1,\"breakers\":[");
    for (size_t i = 0; i < breakers; i++)
        p += sprintf(p,
                     "%s{\"name\":\"b%zu\",\"fail_max\":3,\"hosts\":[\"h%zu.example\","
                     "\"h%zu.example:443\",\"*.d%zu.example\",\"*.e%zu.example:80\","
                     "\"10.%zu.%zu.0/24\",\"10.%zu.%zu.9\",\"[fd00::%zx]:8443\",\"fd01:%zx::/32\","
                     "\"::ffff:11.%zu.%zu.0/120\",\"n%zu.test.\"]}",
                     i > 0 ? "," : "", i, i, i, i, i, i / 256, i % 256, i / 256, i % 256, i, i,
                     i / 256, i % 256, i);
    strcpy(p, "]}");
    char *errors = NULL;
    struct rules *r = rules_parse(json, strlen(json), "big.json", &errors);
    if (CHECK(r != NULL)) {
        CHECK_INT(r->breaker_count, breakers);
        CHECK_INT(r->pattern_count, 10 * breakers);
        CHECK_STR(r->breakers[9999].name, "b9999");
        CHECK_STR(r->patterns[99999].name, "n9999.test");
        CHECK_INT(r->patterns[99998].family, AF_INET);
        CHECK_INT(r->patterns[99998].prefix_len, 24);
    } else {
        unit_diag("#   %.200s\n", errors);
    }
    free(errors);
    rules_free(r);
    free(json);
}

/* ---- fallback ---- */

static void fallback_addresses_are_read_in_order(void)
{
    struct rules *r = PARSE_VALID(one_breaker("\"fallback\":{\"connect_to\":[\"127.0.0.1:8081\",\"["
                                              "::1]:8082\",\"[::ffff:10.0.0.1]:80\"]}"));
    if (!CHECK(r != NULL))
        return;
    const struct rule_breaker *b = &r->breakers[0];
    CHECK_INT(b->fallback_count, 3);
    if (b->fallback_count == 3) {
        CHECK_INT(b->fallbacks[0].family, AF_INET);
        CHECK_INT(b->fallbacks[0].port, 8081);
        CHECK_STR(b->fallbacks[0].host, "127.0.0.1");
        CHECK(memcmp(b->fallbacks[0].addr, "\x7f\0\0\x01", 4) == 0);
        CHECK_INT(b->fallbacks[1].family, AF_INET6);
        CHECK_INT(b->fallbacks[1].port, 8082);
        CHECK_STR(b->fallbacks[1].host, "[::1]");
        CHECK_INT(b->fallbacks[2].family, AF_INET); /* v4-mapped is IPv4 */
        CHECK_STR(b->fallbacks[2].host, "10.0.0.1");
    }
    rules_free(r);
    r = PARSE_VALID(one_breaker("\"fallback\":{\"connect_to\":\"127.0.0.2:9\"}"));
    if (CHECK(r != NULL) && CHECK_INT(r->breakers[0].fallback_count, 1))
        CHECK_STR(r->breakers[0].fallbacks[0].host, "127.0.0.2");
    rules_free(r);
    r = PARSE_VALID(one_breaker("\"fail_max\":2"));
    if (CHECK(r != NULL)) {
        CHECK_INT(r->breakers[0].fallback_count, 0);
        CHECK(r->breakers[0].fallbacks == NULL);
    }
    rules_free(r);
}

static void fallback_errors(void)
{
    static const struct {
        const char *fields; /* after ONE_BREAKER_PREFIX */
        size_t col;         /* of the offending value within fields, 0-based */
        const char *message;
    } rows[] = {
        {"\"fallback\":\"127.0.0.1:80\"", 11,
         "breakers[0].fallback: must be an object such as {\"connect_to\": \"127.0.0.1:8081\"}"},
        {"\"fallback\":{}", 11, "breakers[0].fallback: missing required key \"connect_to\""},
        {"\"fallback\":{\"connect_to\":[]}", 25,
         "breakers[0].fallback.connect_to: must be an address or a non-empty array of addresses "
         "(\"A.B.C.D:PORT\", \"[V6]:PORT\")"},
        {"\"fallback\":{\"connect_to\":7}", 25,
         "breakers[0].fallback.connect_to: must be an address or a non-empty array of addresses "
         "(\"A.B.C.D:PORT\", \"[V6]:PORT\")"},
        {"\"fallback\":{\"connect_to\":[7]}", 26,
         "breakers[0].fallback.connect_to[0]: must be an address such as \"127.0.0.1:8081\" (a "
         "string)"},
        {"\"fallback\":{\"connect_to\":\"cache.local:8081\"}", 25,
         "breakers[0].fallback.connect_to: \"cache.local:8081\": a host name; a fallback must be "
         "an IP address literal with a port, such as 127.0.0.1:8081 or [::1]:8081 (a connect "
         "hook cannot resolve names)"},
        {"\"fallback\":{\"connect_to\":[\"127.0.0.1:1\",\"10.0.0.0/8:80\"]}", 40,
         "breakers[0].fallback.connect_to[1]: \"10.0.0.0/8:80\": a CIDR; a fallback must be an "
         "IP address literal with a port, such as 127.0.0.1:8081 or [::1]:8081 (a connect hook "
         "cannot resolve names)"},
        {"\"fallback\":{\"connect_to\":\"127.0.0.1\"}", 25,
         "breakers[0].fallback.connect_to: \"127.0.0.1\": missing port: write A.B.C.D:PORT or "
         "[V6]:PORT"},
        {"\"fallback\":{\"connect_to\":\"::1\"}", 25,
         "breakers[0].fallback.connect_to: \"::1\": missing port: write A.B.C.D:PORT or "
         "[V6]:PORT"},
        {"\"fallback\":{\"connect_to\":\"127.0.0.1:0\"}", 25,
         "breakers[0].fallback.connect_to: \"127.0.0.1:0\": port must be an integer from 1 to "
         "65535"},
    };
    for (size_t i = 0; i < sizeof rows / sizeof *rows; i++) {
        char want[512];
        size_t col = strlen(ONE_BREAKER_PREFIX) + rows[i].col + 1;
        snprintf(want, sizeof want, "rules.json:1:%zu: %s\n", col, rows[i].message);
        CHECK_REJECTED(one_breaker(rows[i].fields), want);
    }
    CHECK_REJECTED(one_breaker("\"fallback\":{\"connect_to\":[\"127.0.0.1:80\",\"127.0.0.1:80\"]}"),
                   "rules.json:1:101: breakers[0].fallback.connect_to[1]: duplicate fallback "
                   "address \"127.0.0.1:80\" (first at 1:86)\n");
    CHECK_REJECTED("{\"version\":1,\"defaults\":{\"fallback\":{\"connect_to\":\"127.0.0.1:80\"}},"
                   "\"breakers\":[]}",
                   "rules.json:1:26: defaults: unknown key \"fallback\"\n");
    char doc[1024] = "\"fallback\":{\"connect_to\":[";
    for (int i = 0; i <= FALLBACK_MAX_ADDRESSES; i++)
        snprintf(doc + strlen(doc), sizeof doc - strlen(doc), "%s\"127.0.0.1:%d\"", i ? "," : "",
                 i + 1);
    strcat(doc, "]}");
    char *errors = NULL;
    struct rules *r = parse(one_breaker(doc), &errors);
    CHECK(r == NULL);
    CHECK(errors != NULL &&
          strstr(errors, "connect_to[16]: at most 16 fallback addresses") != NULL);
    free(errors);
    rules_free(r);
}

int main(void)
{
    RUN(full_example_inline);
    RUN(example_file);
    RUN(every_example_file_is_valid);
    RUN(builtin_policy_applies);
    RUN(defaults_are_inherited);
    RUN(rate_backoff_and_host_keys);
    RUN(rate_keys_inherit_from_defaults);
    RUN(per_host_names_are_reserved);
    RUN(unplaced_rules_are_the_same_without_positions);
    RUN(reset_timeout_fractions_round_up);
    RUN(failure_mask_is_failure_on_minus_exclude);
    RUN(limits_are_inclusive);
    RUN(empty_breakers_and_schema_are_fine);
    RUN(breaker_names);
    RUN(pattern_forms);
    RUN(pattern_errors);
    RUN(patterns_keep_breaker_and_position);
    RUN(errors_of_the_brief);
    RUN(top_level_errors);
    RUN(syntax_errors);
    RUN(text_that_is_not_json);
    RUN(unknown_and_duplicate_keys_point_at_the_key);
    RUN(value_errors);
    RUN(breaker_shape_errors);
    RUN(duplicate_names_point_at_the_first);
    RUN(long_and_odd_strings_are_quoted_short);
    RUN(many_errors_stop_at_the_limit);
    RUN(inline_json_and_files_name_their_source);
    RUN(unreadable_files_are_reported);
    RUN(truncated_json_is_rejected);
    RUN(deep_nesting_is_rejected);
    RUN(huge_values_are_rejected);
    RUN(random_bytes_never_crash);
    RUN(mutated_rules_never_crash);
    RUN(large_rules_parse_whole);
    RUN(fallback_addresses_are_read_in_order);
    RUN(fallback_errors);
    RUN(fleet_share_and_quorum);
    return unit_done();
}
