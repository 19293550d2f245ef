/* Reading the rules object: its keys, the defaults and each breaker's
 * policy, hosts, fallback and fleet keys, into the parser's breakers and
 * patterns, with a problem for every key that is wrong. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "outcome.h"
#include "refusal.h"
#include "rules_parser.h"

enum key {
    KEY_SCHEMA,
    KEY_VERSION,
    KEY_DEFAULTS,
    KEY_BREAKERS,
    KEY_NAME,
    KEY_HOSTS,
    KEY_FAIL_MAX,
    KEY_RESET_TIMEOUT,
    KEY_SUCCESS_THRESHOLD,
    KEY_HALF_OPEN_MAX_CALLS,
    KEY_FAILURE_ON,
    KEY_EXCLUDE,
    KEY_FAIL_DNS,
    KEY_FAILURE_RATE,
    KEY_SLOW_CALL,
    KEY_BACKOFF,
    KEY_HONOR_RETRY_AFTER,
    KEY_HALF_OPEN_MAX_WAIT,
    KEY_PROTOCOL,
    KEY_PER_HOST,
    KEY_MAX_HOSTS,
    KEY_THRESHOLD,
    KEY_WINDOW,
    KEY_MIN_CALLS,
    KEY_THRESHOLD_MS,
    KEY_RATE,
    KEY_MULTIPLIER,
    KEY_MAX,
    KEY_JITTER,
    KEY_FALLBACK,
    KEY_CONNECT_TO,
    KEY_FLEET,  /* breaker: {"share", "quorum"} */
    KEY_SHARE,  /* fleet */
    KEY_QUORUM, /* fleet */
    KEY_COUNT
};

/* Names in place, not pointers: a table of pointers is a relocation each,
 * which every process loading the shim pays at start. */
static const char key_names[KEY_COUNT][sizeof "half_open_max_calls"] = {
    [KEY_SCHEMA] = "$schema",
    [KEY_VERSION] = "version",
    [KEY_DEFAULTS] = "defaults",
    [KEY_BREAKERS] = "breakers",
    [KEY_NAME] = "name",
    [KEY_HOSTS] = "hosts",
    [KEY_FAIL_MAX] = "fail_max",
    [KEY_RESET_TIMEOUT] = "reset_timeout",
    [KEY_SUCCESS_THRESHOLD] = "success_threshold",
    [KEY_HALF_OPEN_MAX_CALLS] = "half_open_max_calls",
    [KEY_FAILURE_ON] = "failure_on",
    [KEY_EXCLUDE] = "exclude",
    [KEY_FAIL_DNS] = "fail_dns",
    [KEY_FAILURE_RATE] = "failure_rate",
    [KEY_SLOW_CALL] = "slow_call",
    [KEY_BACKOFF] = "backoff",
    [KEY_HONOR_RETRY_AFTER] = "honor_retry_after",
    [KEY_HALF_OPEN_MAX_WAIT] = "half_open_max_wait",
    [KEY_PROTOCOL] = "protocol",
    [KEY_PER_HOST] = "per_host",
    [KEY_MAX_HOSTS] = "max_hosts",
    [KEY_THRESHOLD] = "threshold",
    [KEY_WINDOW] = "window",
    [KEY_MIN_CALLS] = "min_calls",
    [KEY_THRESHOLD_MS] = "threshold_ms",
    [KEY_RATE] = "rate",
    [KEY_MULTIPLIER] = "multiplier",
    [KEY_MAX] = "max",
    [KEY_JITTER] = "jitter",
    [KEY_FALLBACK] = "fallback",
    [KEY_CONNECT_TO] = "connect_to",
    [KEY_FLEET] = "fleet",
    [KEY_SHARE] = "share",
    [KEY_QUORUM] = "quorum",
};

#define KEY_BIT(k) (UINT64_C(1) << (k))
#define POLICY_KEYS                                                                                \
    (KEY_BIT(KEY_FAIL_MAX) | KEY_BIT(KEY_RESET_TIMEOUT) | KEY_BIT(KEY_SUCCESS_THRESHOLD) |         \
     KEY_BIT(KEY_HALF_OPEN_MAX_CALLS) | KEY_BIT(KEY_FAILURE_ON) | KEY_BIT(KEY_EXCLUDE) |           \
     KEY_BIT(KEY_FAIL_DNS) | KEY_BIT(KEY_FAILURE_RATE) | KEY_BIT(KEY_SLOW_CALL) |                  \
     KEY_BIT(KEY_BACKOFF) | KEY_BIT(KEY_HONOR_RETRY_AFTER) | KEY_BIT(KEY_HALF_OPEN_MAX_WAIT) |     \
     KEY_BIT(KEY_PROTOCOL))
#define WINDOW_KEYS (KEY_BIT(KEY_WINDOW) | KEY_BIT(KEY_MIN_CALLS))
#define FAILURE_RATE_KEYS (KEY_BIT(KEY_THRESHOLD) | WINDOW_KEYS)
#define SLOW_CALL_KEYS (KEY_BIT(KEY_THRESHOLD_MS) | KEY_BIT(KEY_RATE) | WINDOW_KEYS)
#define BACKOFF_KEYS (KEY_BIT(KEY_MULTIPLIER) | KEY_BIT(KEY_MAX) | KEY_BIT(KEY_JITTER))
#define TOP_KEYS                                                                                   \
    (KEY_BIT(KEY_SCHEMA) | KEY_BIT(KEY_VERSION) | KEY_BIT(KEY_DEFAULTS) | KEY_BIT(KEY_BREAKERS))
#define BREAKER_KEYS                                                                               \
    (KEY_BIT(KEY_NAME) | KEY_BIT(KEY_HOSTS) | KEY_BIT(KEY_PER_HOST) | KEY_BIT(KEY_MAX_HOSTS) |     \
     KEY_BIT(KEY_FALLBACK) | POLICY_KEYS)

/* Policy keys as read so far; a breaker starts from the defaults. */
struct policy {
    uint32_t fail_max, reset_timeout_ms, success_threshold, half_open_max_calls;
    uint32_t failure_on, exclude; /* CLASS_BIT masks */
    bool fail_dns;
    bool fail_max_given; /* else a rate alone decides when a rate is set */
    uint32_t failure_rate, slow_rate, slow_call_ms, window_ms, min_calls;
    double backoff_multiplier, backoff_jitter;
    uint32_t backoff_max_ms, half_open_max_wait_ms;
    bool honor_retry_after;
    enum rule_protocol protocol;
};

#define DEFAULT_WINDOW_MS 10000u
#define DEFAULT_MIN_CALLS 10u
#define DEFAULT_BACKOFF_MULTIPLIER 2.0
#define DEFAULT_BACKOFF_MAX_MS 600000u
#define MAX_BACKOFF_MULTIPLIER 100.0

static const struct policy builtin_policy = {
    .fail_max = 5,
    .reset_timeout_ms = 30000,
    .success_threshold = 1,
    .half_open_max_calls = 1,
    .failure_on = DEFAULT_FAILURE_MASK,
    .exclude = 0,
    .fail_dns = false,
    .window_ms = DEFAULT_WINDOW_MS,
    .min_calls = DEFAULT_MIN_CALLS,
    .backoff_multiplier = 1,
    .backoff_max_ms = DEFAULT_BACKOFF_MAX_MS,
    .honor_retry_after = true,
    .protocol = PROTOCOL_AUTO,
};

/* Writes a key path to out; key paths are short: two keys and two indices at most. */
__attribute__((format(printf, 2, 3))) static void format_path(char out[PATH_SIZE], const char *fmt,
                                                              ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(out, PATH_SIZE, fmt, ap);
    va_end(ap);
}

/* Writes "path.key" (or "key" at the top level) to out. */
static void member_path(char out[PATH_SIZE], const char *path, const char *key)
{
    format_path(out, "%s%s%s", path, path[0] != '\0' ? "." : "", key);
}

static void element_path(char out[PATH_SIZE], const char *path, size_t index)
{
    format_path(out, "%s[%zu]", path, index);
}

/* Records a problem with the member named key of the object at path: its
 * key path ("path.key") is written only then, not for every member read. */
__attribute__((format(printf, 5, 6))) static void report_member(struct parser *ps, struct spot at,
                                                                const char *path, const char *key,
                                                                const char *fmt, ...)
{
    char where[PATH_SIZE];
    member_path(where, path, key);
    va_list ap;
    va_start(ap, fmt);
    parser_vreport(ps, at, offset_spot(0), where, fmt, ap);
    va_end(ap);
}

/* Returns the key among allowed that is named s, or KEY_COUNT. */
static enum key key_named(const char *s, uint64_t allowed)
{
    for (enum key k = 0; k < KEY_COUNT; k++)
        if ((allowed & KEY_BIT(k)) && strcmp(s, key_names[k]) == 0)
            return k;
    return KEY_COUNT;
}

/* Sets members[k] to the member of obj (at path) with key k for each k in
 * allowed, NULL when absent; reports every other key and every repeated key,
 * and each key of required that is missing (at obj). */
static void find_members(struct parser *ps, const cJSON *obj, const char *path, uint64_t allowed,
                         uint64_t required, const cJSON *members[KEY_COUNT])
{
    char quoted[REFUSAL_QUOTED_SIZE];
    for (enum key k = 0; k < KEY_COUNT; k++)
        members[k] = NULL;
    for (const cJSON *m = obj->child; m != NULL && !parser_giving_up(ps); m = m->next) {
        enum key k = key_named(m->string, allowed);
        if (k != KEY_COUNT && members[k] == NULL) {
            members[k] = m;
            continue;
        }
        refusal_quote(quoted, sizeof quoted, m->string);
        if (k == KEY_COUNT)
            parser_report(ps, key_of(m), path, "unknown key %s", quoted);
        else
            parser_report_repeat(ps, key_of(m), key_of(members[k]), path, "duplicate key %s",
                                 quoted);
    }
    for (enum key k = 0; k < KEY_COUNT; k++)
        if ((required & KEY_BIT(k)) && members[k] == NULL)
            parser_report(ps, value_of(obj), path, "missing required key \"%s\"", key_names[k]);
}

/* Reads member node (when present) of the object at path as an integer from 1 to max into *out. */
static void read_count(struct parser *ps, const cJSON *node, const char *path, uint32_t max,
                       uint32_t *out)
{
    if (node == NULL)
        return;
    double d = node->valuedouble;
    if (json_type(node) != cJSON_Number || !(d >= 1 && d <= max) || d != (double)(uint32_t)d)
        report_member(ps, value_of(node), path, node->string, "must be an integer from 1 to %u",
                      max);
    else
        *out = (uint32_t)d;
}

/* Reads member node (when present) as true or false into *out. */
static void read_flag(struct parser *ps, const cJSON *node, const char *path, bool *out)
{
    if (node == NULL)
        return;
    if (json_type(node) != cJSON_True && json_type(node) != cJSON_False)
        report_member(ps, value_of(node), path, node->string, "must be true or false");
    else
        *out = json_type(node) == cJSON_True;
}

/* Returns seconds (0 < seconds <= 86400) in milliseconds rounded up, at least 1;
 * an excess below a nanosecond is taken for the rounding of a decimal fraction. */
static uint32_t seconds_to_ms(double seconds)
{
    double ms = seconds * 1000;
    uint32_t whole = (uint32_t)ms;
    if (ms - whole > 1e-6)
        whole++;
    return whole != 0 ? whole : 1;
}

/* Reads member node (when present) as a number of seconds, greater than 0
 * and at most max_ms / 1000, into *ms. */
static void read_seconds(struct parser *ps, const cJSON *node, const char *path, uint32_t max_ms,
                         uint32_t *ms)
{
    if (node == NULL)
        return;
    double d = node->valuedouble;
    if (json_type(node) != cJSON_Number || !(d > 0 && d * 1000 <= max_ms))
        report_member(ps, value_of(node), path, node->string,
                      "must be a number of seconds greater than 0 and at most %u", max_ms / 1000);
    else
        *ms = seconds_to_ms(d);
}

/* Reads member node (when present) as a number from min to max into *out. */
static void read_number(struct parser *ps, const cJSON *node, const char *path, double min,
                        double max, double *out)
{
    if (node == NULL)
        return;
    double d = node->valuedouble;
    if (json_type(node) != cJSON_Number || !(d >= min && d <= max))
        report_member(ps, value_of(node), path, node->string, "must be a number from %g to %g", min,
                      max);
    else
        *out = d;
}

/* Reads member node (when present) as "auto" or "tcp" into *out. */
static void read_protocol(struct parser *ps, const cJSON *node, const char *path,
                          enum rule_protocol *out)
{
    if (node == NULL)
        return;
    const char *s = json_type(node) == cJSON_String ? node->valuestring : "";
    if (strcmp(s, "auto") == 0)
        *out = PROTOCOL_AUTO;
    else if (strcmp(s, "tcp") == 0)
        *out = PROTOCOL_TCP;
    else
        report_member(ps, value_of(node), path, node->string, "must be \"auto\" or \"tcp\"");
}

/* Reads member node (when present) of the object at path as an object whose
 * keys are among allowed (and include required) into members, its path into
 * where. Returns false when it is absent or not an object. */
static bool read_section(struct parser *ps, const cJSON *node, const char *path, uint64_t allowed,
                         uint64_t required, const cJSON *members[KEY_COUNT], char where[PATH_SIZE])
{
    if (node == NULL)
        return false;
    member_path(where, path, node->string);
    if (json_type(node) != cJSON_Object) {
        parser_report(ps, value_of(node), where, "must be an object");
        return false;
    }
    find_members(ps, node, where, allowed, required, members);
    return true;
}

/* Reads window and min_calls of a rate section at where; a breaker has one
 * window, so a second section (slow_call after failure_rate) that states
 * them must agree with the first. */
static void read_window(struct parser *ps, const cJSON *members[KEY_COUNT], const char *where,
                        bool first, struct policy *p)
{
    uint32_t window_ms = first ? DEFAULT_WINDOW_MS : p->window_ms;
    uint32_t min_calls = first ? DEFAULT_MIN_CALLS : p->min_calls;
    read_seconds(ps, members[KEY_WINDOW], where, BREAKER_MAX_WINDOW_MS, &window_ms);
    read_count(ps, members[KEY_MIN_CALLS], where, BREAKER_MAX_FAIL_MAX, &min_calls);
    if (!first && (window_ms != p->window_ms || min_calls != p->min_calls)) {
        const cJSON *node =
            window_ms != p->window_ms ? members[KEY_WINDOW] : members[KEY_MIN_CALLS];
        char key[PATH_SIZE];
        member_path(key, where, node->string);
        parser_report(ps, value_of(node), key,
                      "must equal failure_rate's (a breaker has one window)");
    }
    p->window_ms = window_ms;
    p->min_calls = min_calls;
}

/* Reads the rate sections failure_rate and slow_call among members. */
static void read_rates(struct parser *ps, const cJSON *members[KEY_COUNT], const char *path,
                       struct policy *p)
{
    const cJSON *section[KEY_COUNT];
    char where[PATH_SIZE];
    if (read_section(ps, members[KEY_FAILURE_RATE], path, FAILURE_RATE_KEYS, KEY_BIT(KEY_THRESHOLD),
                     section, where)) {
        read_count(ps, section[KEY_THRESHOLD], where, 100, &p->failure_rate);
        read_window(ps, section, where, true, p);
    }
    if (read_section(ps, members[KEY_SLOW_CALL], path, SLOW_CALL_KEYS, KEY_BIT(KEY_THRESHOLD_MS),
                     section, where)) {
        p->slow_rate = 0;
        read_count(ps, section[KEY_THRESHOLD_MS], where, BREAKER_MAX_RESET_MS, &p->slow_call_ms);
        read_count(ps, section[KEY_RATE], where, 100, &p->slow_rate);
        read_window(ps, section, where, p->failure_rate == 0, p);
    }
}

/* Reads the backoff section among members; a section without multiplier
 * doubles. */
static void read_backoff(struct parser *ps, const cJSON *members[KEY_COUNT], const char *path,
                         struct policy *p)
{
    const cJSON *section[KEY_COUNT];
    char where[PATH_SIZE];
    if (!read_section(ps, members[KEY_BACKOFF], path, BACKOFF_KEYS, 0, section, where))
        return;
    p->backoff_multiplier = DEFAULT_BACKOFF_MULTIPLIER;
    p->backoff_jitter = 0;
    read_number(ps, section[KEY_MULTIPLIER], where, 1, MAX_BACKOFF_MULTIPLIER,
                &p->backoff_multiplier);
    read_seconds(ps, section[KEY_MAX], where, BREAKER_MAX_RESET_MS, &p->backoff_max_ms);
    read_number(ps, section[KEY_JITTER], where, 0, 1, &p->backoff_jitter);
}

/* Writes the class names a rules file may use, comma-separated, to out. */
static void class_names(char *out, size_t size)
{
    size_t n = 0;
    out[0] = '\0';
    for (int c = OUTCOME_SUCCESS + 1; c < CLASS_COUNT && n < size; c++)
        n += (size_t)snprintf(out + n, size - n, "%s%s", c > OUTCOME_SUCCESS + 1 ? ", " : "",
                              outcome_class_name(c));
}

/* Reads member node (when present) as an array of unique class names into *mask. */
static void read_classes(struct parser *ps, const cJSON *node, const char *path, uint32_t *mask)
{
    if (node == NULL)
        return;
    char where[PATH_SIZE], element[PATH_SIZE], quoted[REFUSAL_QUOTED_SIZE], known[160];
    const cJSON *first[CLASS_COUNT] = {NULL};
    uint32_t classes = 0;
    size_t i = 0;
    member_path(where, path, node->string);
    if (json_type(node) != cJSON_Array) {
        parser_report(ps, value_of(node), where, "must be an array of class names");
        return;
    }
    for (const cJSON *e = node->child; e != NULL && !parser_giving_up(ps); e = e->next, i++) {
        int c = json_type(e) == cJSON_String ? outcome_class_parse(e->valuestring) : -1;
        element_path(element, where, i);
        if (json_type(e) != cJSON_String) {
            parser_report(ps, value_of(e), element, "must be a class name (a string)");
        } else if (c < 0) {
            class_names(known, sizeof known);
            refusal_quote(quoted, sizeof quoted, e->valuestring);
            parser_report(ps, value_of(e), element, "unknown class %s (classes: %s)", quoted,
                          known);
        } else if (classes & CLASS_BIT(c)) {
            refusal_quote(quoted, sizeof quoted, e->valuestring);
            parser_report_repeat(ps, value_of(e), value_of(first[c]), element, "duplicate class %s",
                                 quoted);
        } else {
            classes |= CLASS_BIT(c);
            first[c] = e;
        }
    }
    *mask = classes;
}

/* Reads the policy keys among members (of the object at path) over *p. */
static void read_policy(struct parser *ps, const cJSON *members[KEY_COUNT], const char *path,
                        struct policy *p)
{
    read_count(ps, members[KEY_FAIL_MAX], path, BREAKER_MAX_FAIL_MAX, &p->fail_max);
    p->fail_max_given |= members[KEY_FAIL_MAX] != NULL;
    read_seconds(ps, members[KEY_RESET_TIMEOUT], path, BREAKER_MAX_RESET_MS, &p->reset_timeout_ms);
    read_count(ps, members[KEY_SUCCESS_THRESHOLD], path, BREAKER_MAX_THRESHOLD,
               &p->success_threshold);
    read_count(ps, members[KEY_HALF_OPEN_MAX_CALLS], path, BREAKER_MAX_PROBES,
               &p->half_open_max_calls);
    read_classes(ps, members[KEY_FAILURE_ON], path, &p->failure_on);
    read_classes(ps, members[KEY_EXCLUDE], path, &p->exclude);
    read_flag(ps, members[KEY_FAIL_DNS], path, &p->fail_dns);
    read_rates(ps, members, path, p);
    read_backoff(ps, members, path, p);
    read_flag(ps, members[KEY_HONOR_RETRY_AFTER], path, &p->honor_retry_after);
    read_seconds(ps, members[KEY_HALF_OPEN_MAX_WAIT], path, BREAKER_MAX_RESET_MS,
                 &p->half_open_max_wait_ms);
    read_protocol(ps, members[KEY_PROTOCOL], path, &p->protocol);
}

/* The compiled policy: with a rate and no fail_max stated anywhere, the rate
 * alone decides; a window exists only for a rate. */
static struct breaker_config config_of(const struct policy *p)
{
    bool rated = p->failure_rate != 0 || p->slow_rate != 0;
    return (struct breaker_config){
        .fail_max = rated && !p->fail_max_given ? 0 : p->fail_max,
        .reset_timeout_ms = p->reset_timeout_ms,
        .success_threshold = p->success_threshold,
        .half_open_max_calls = p->half_open_max_calls,
        .failure_mask = p->failure_on & ~p->exclude,
        .fail_dns = p->fail_dns,
        .window_ms = rated ? p->window_ms : 0,
        .min_calls = p->min_calls,
        .failure_rate = (uint8_t)p->failure_rate,
        .slow_rate = (uint8_t)p->slow_rate,
        .slow_call_ms = p->slow_call_ms,
        .backoff_multiplier = p->backoff_multiplier,
        .backoff_max_ms = p->backoff_max_ms,
        .backoff_jitter_permille = (uint16_t)(p->backoff_jitter * 1000 + 0.5),
        .honor_retry_after = p->honor_retry_after,
        .half_open_max_wait_ms = p->half_open_max_wait_ms,
    };
}

static bool is_breaker_name(const char *s)
{
    size_t len = strlen(s);
    if (len == 0 || len > RULES_MAX_NAME_LEN)
        return false;
    for (; *s != '\0'; s++)
        if (!pattern_is_host_char(*s) && *s != ':' && *s != '/')
            return false;
    return true;
}

/* Returns a copy of the breaker name in node, or NULL (after reporting, unless node is NULL). */
static char *read_breaker_name(struct parser *ps, const cJSON *node, const char *path)
{
    if (node == NULL)
        return NULL;
    char where[PATH_SIZE];
    member_path(where, path, node->string);
    if (json_type(node) != cJSON_String || !is_breaker_name(node->valuestring)) {
        parser_report(ps, value_of(node), where,
                      "must be a string of 1 to %d characters from A-Z a-z 0-9 _ . : / -",
                      RULES_MAX_NAME_LEN);
        return NULL;
    }
    char *name = strdup(node->valuestring);
    if (name == NULL)
        ps->out_of_memory = true;
    return name;
}

static void add_pattern(struct parser *ps, const struct host_pattern *p, const cJSON *node)
{
    struct pending_pattern *grown =
        parser_grow_for_one(ps->patterns, ps->pattern_count, &ps->pattern_cap, sizeof *grown);
    if (grown == NULL) {
        struct host_pattern lost = *p;
        host_pattern_clear(&lost);
        ps->out_of_memory = true;
        return;
    }
    ps->patterns = grown;
    ps->patterns[ps->pattern_count++] = (struct pending_pattern){*p, node};
}

/* Reads member node (when present) as the host patterns of breaker number breaker. */
static void read_hosts(struct parser *ps, const cJSON *node, const char *path, uint32_t breaker)
{
    if (node == NULL)
        return;
    char where[PATH_SIZE], element[PATH_SIZE], quoted[REFUSAL_QUOTED_SIZE], why[WHY_SIZE];
    size_t i = 0;
    member_path(where, path, node->string);
    if (json_type(node) != cJSON_Array) {
        parser_report(ps, value_of(node), where, "must be an array of host patterns");
        return;
    }
    if (node->child == NULL)
        parser_report(ps, value_of(node), where, "must not be empty");
    for (const cJSON *e = node->child; e != NULL && !parser_giving_up(ps); e = e->next, i++) {
        struct host_pattern p;
        bool string = json_type(e) == cJSON_String;
        if (string && host_pattern_parse(e->valuestring, &p, why, sizeof why)) {
            p.breaker = breaker;
            add_pattern(ps, &p, e);
            continue;
        }
        element_path(element, where, i);
        if (!string) {
            parser_report(ps, value_of(e), element, "must be a host pattern (a string)");
        } else {
            refusal_quote(quoted, sizeof quoted, e->valuestring);
            parser_report(ps, value_of(e), element, "%s: %s", quoted, why);
        }
    }
}

/* Reads one fallback address (string node e, at path element) into *out;
 * false after reporting when it is not one, or repeats an earlier one. */
static bool read_fallback_address(struct parser *ps, const cJSON *e, const char *element,
                                  const cJSON *const *earlier, const struct fallback_address *seen,
                                  size_t n, struct fallback_address *out)
{
    char quoted[REFUSAL_QUOTED_SIZE], why[2 * WHY_SIZE];
    if (json_type(e) != cJSON_String) {
        parser_report(ps, value_of(e), element,
                      "must be an address such as \"127.0.0.1:8081\" (a string)");
        return false;
    }
    refusal_quote(quoted, sizeof quoted, e->valuestring);
    if (!fallback_address_parse(e->valuestring, out, why, sizeof why)) {
        parser_report(ps, value_of(e), element, "%s: %s", quoted, why);
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        if (seen[i].family == out->family && seen[i].port == out->port &&
            memcmp(seen[i].addr, out->addr, sizeof out->addr) == 0) {
            parser_report_repeat(ps, value_of(e), value_of(earlier[i]), element,
                                 "duplicate fallback address %s", quoted);
            return false;
        }
    }
    return true;
}

/* Reads member node (when present) as the breaker's "fallback" object:
 * {"connect_to": ADDRESS or [ADDRESS, …]} into b->fallbacks. */
static void read_fallback(struct parser *ps, const cJSON *node, const char *path,
                          struct rule_breaker *b)
{
    if (node == NULL)
        return;
    char where[PATH_SIZE], list_path[PATH_SIZE], element[PATH_SIZE];
    const cJSON *members[KEY_COUNT], *nodes[FALLBACK_MAX_ADDRESSES];
    struct fallback_address found[FALLBACK_MAX_ADDRESSES];
    size_t n = 0, i = 0;
    member_path(where, path, node->string);
    if (json_type(node) != cJSON_Object) {
        parser_report(ps, value_of(node), where,
                      "must be an object such as {\"connect_to\": \"127.0.0.1:8081\"}");
        return;
    }
    find_members(ps, node, where, KEY_BIT(KEY_CONNECT_TO), KEY_BIT(KEY_CONNECT_TO), members);
    const cJSON *list = members[KEY_CONNECT_TO];
    if (list == NULL)
        return;
    member_path(list_path, where, list->string);
    if (json_type(list) == cJSON_String) {
        if (read_fallback_address(ps, list, list_path, nodes, found, 0, &found[0]))
            n = 1;
    } else if (json_type(list) != cJSON_Array || list->child == NULL) {
        parser_report(ps, value_of(list), list_path,
                      "must be an address or a non-empty array of addresses (\"A.B.C.D:PORT\", "
                      "\"[V6]:PORT\")");
        return;
    }
    for (const cJSON *e = list->child; e != NULL && !parser_giving_up(ps); e = e->next, i++) {
        element_path(element, list_path, i);
        if (i == FALLBACK_MAX_ADDRESSES) {
            parser_report(ps, value_of(e), element, "at most %d fallback addresses",
                          FALLBACK_MAX_ADDRESSES);
            return;
        }
        if (read_fallback_address(ps, e, element, nodes, found, n, &found[n]))
            nodes[n++] = e;
    }
    if (n == 0 || ps->problem_count > 0)
        return;
    b->fallbacks = malloc(n * sizeof *b->fallbacks);
    if (b->fallbacks == NULL) {
        ps->out_of_memory = true;
        return;
    }
    memcpy(b->fallbacks, found, n * sizeof *found);
    b->fallback_count = (uint32_t)n;
}

/* Adds a breaker read from obj, element index of the breakers array. Returns
 * it, or NULL on out of memory. */
static struct pending_breaker *add_breaker(struct parser *ps, const cJSON *obj, size_t index)
{
    struct pending_breaker *grown =
        parser_grow_for_one(ps->breakers, ps->breaker_count, &ps->breaker_cap, sizeof *grown);
    if (grown == NULL) {
        ps->out_of_memory = true;
        return NULL;
    }
    ps->breakers = grown;
    struct pending_breaker *b = &ps->breakers[ps->breaker_count++];
    *b = (struct pending_breaker){.object = obj, .index = index};
    return b;
}

/* Reads member node (when present) of the breaker at path as its fleet
 * object into *out (default: not shared, quorum 1). */
static void read_fleet(struct parser *ps, const cJSON *node, const char *path,
                       struct rule_fleet *out)
{
    *out = (struct rule_fleet){.share = false, .quorum = 1};
    if (node == NULL)
        return;
    char where[PATH_SIZE];
    const cJSON *members[KEY_COUNT];
    member_path(where, path, node->string);
    if (json_type(node) != cJSON_Object) {
        parser_report(ps, value_of(node), where,
                      "must be an object {\"share\": true, \"quorum\": N}");
        return;
    }
    find_members(ps, node, where, KEY_BIT(KEY_SHARE) | KEY_BIT(KEY_QUORUM), 0, members);
    read_flag(ps, members[KEY_SHARE], where, &out->share);
    read_count(ps, members[KEY_QUORUM], where, RULES_MAX_QUORUM, &out->quorum);
}

static void read_breaker(struct parser *ps, const cJSON *obj, size_t index,
                         const struct policy *defaults)
{
    char path[PATH_SIZE];
    const cJSON *members[KEY_COUNT];
    element_path(path, "breakers", index);
    if (json_type(obj) != cJSON_Object) {
        parser_report(ps, value_of(obj), path, "must be an object");
        return;
    }
    find_members(ps, obj, path, BREAKER_KEYS | KEY_BIT(KEY_FLEET),
                 KEY_BIT(KEY_NAME) | KEY_BIT(KEY_HOSTS), members);
    struct policy policy = *defaults;
    read_policy(ps, members, path, &policy);
    struct pending_breaker *b = add_breaker(ps, obj, index);
    if (b == NULL)
        return;
    b->name = members[KEY_NAME];
    b->breaker.name = read_breaker_name(ps, members[KEY_NAME], path);
    b->breaker.config = config_of(&policy);
    b->breaker.protocol = policy.protocol;
    b->breaker.max_hosts = DEFAULT_MAX_HOSTS;
    read_flag(ps, members[KEY_PER_HOST], path, &b->breaker.per_host);
    read_count(ps, members[KEY_MAX_HOSTS], path, STATE_MAX_HOSTS, &b->breaker.max_hosts);
    read_hosts(ps, members[KEY_HOSTS], path, (uint32_t)(ps->breaker_count - 1));
    read_fallback(ps, members[KEY_FALLBACK], path, &b->breaker);
    read_fleet(ps, members[KEY_FLEET], path, &b->breaker.fleet);
}

static int compare_breaker_names(const void *a, const void *b)
{
    const struct pending_breaker *x = *(const struct pending_breaker *const *)a;
    const struct pending_breaker *y = *(const struct pending_breaker *const *)b;
    int by_name = strcmp(x->breaker.name, y->breaker.name);
    if (by_name != 0)
        return by_name;
    return x < y ? -1 : x > y;
}

/* Reports that breaker b's name clashes with first's, as BEFORE, the quoted
 * name, AFTER. */
static void report_name_clash(struct parser *ps, const struct pending_breaker *b,
                              const struct pending_breaker *first, const char *before,
                              const char *after)
{
    char path[PATH_SIZE], where[PATH_SIZE], quoted[REFUSAL_QUOTED_SIZE];
    element_path(path, "breakers", b->index);
    member_path(where, path, "name");
    refusal_quote(quoted, sizeof quoted, b->breaker.name);
    parser_report_repeat(ps, value_of(b->name), value_of(first->name), where, "%s%s%s", before,
                         quoted, after);
}

/* Reports each breaker named[j] (j > i; named sorted by name) whose name
 * lies in the space of named[i]'s per-host breakers, "NAME/...". */
static void check_host_space(struct parser *ps, struct pending_breaker **named, size_t n, size_t i)
{
    const char *rule = named[i]->breaker.name;
    size_t len = strlen(rule);
    char after[RULES_MAX_NAME_LEN + 48];
    snprintf(after, sizeof after, " is a name of the per-host breakers of \"%s\" (per_host)", rule);
    for (size_t j = i + 1; j < n && strncmp(named[j]->breaker.name, rule, len) == 0; j++)
        if (named[j]->breaker.name[len] == '/')
            report_name_clash(ps, named[j], named[i], "", after);
}

/* Reports each breaker whose name an earlier breaker has, or that a per_host
 * breaker would give one of its hosts. */
static void check_unique_names(struct parser *ps)
{
    struct pending_breaker **named = malloc((ps->breaker_count + 1) * sizeof *named);
    size_t n = 0;
    if (named == NULL) {
        ps->out_of_memory = true;
        return;
    }
    for (size_t i = 0; i < ps->breaker_count; i++)
        if (ps->breakers[i].breaker.name != NULL)
            named[n++] = &ps->breakers[i];
    qsort(named, n, sizeof *named, compare_breaker_names);
    for (size_t i = 0; i < n; i++)
        if (named[i]->breaker.per_host)
            check_host_space(ps, named, n, i);
    for (size_t first = 0, i = 1; i < n; i++) {
        if (strcmp(named[i]->breaker.name, named[first]->breaker.name) != 0) {
            first = i;
            continue;
        }
        report_name_clash(ps, named[i], named[first], "duplicate breaker name ", "");
    }
    free(named);
}

static void read_breakers(struct parser *ps, const cJSON *list, const struct policy *defaults)
{
    size_t i = 0;
    if (json_type(list) != cJSON_Array) {
        parser_report(ps, value_of(list), "breakers", "must be an array");
        return;
    }
    for (const cJSON *e = list->child; e != NULL && !parser_giving_up(ps); e = e->next, i++)
        read_breaker(ps, e, i, defaults);
    if (!parser_giving_up(ps))
        check_unique_names(ps);
}

static void read_defaults(struct parser *ps, const cJSON *obj, struct policy *defaults)
{
    const cJSON *members[KEY_COUNT];
    if (json_type(obj) != cJSON_Object) {
        parser_report(ps, value_of(obj), "defaults", "must be an object");
        return;
    }
    find_members(ps, obj, "defaults", POLICY_KEYS, 0, members);
    read_policy(ps, members, "defaults", defaults);
}

void parser_read_rules(struct parser *ps, const cJSON *root)
{
    const cJSON *members[KEY_COUNT];
    if (json_type(root) != cJSON_Object) {
        parser_report(ps, value_of(root), "", "the rules must be a JSON object");
        return;
    }
    find_members(ps, root, "", TOP_KEYS, KEY_BIT(KEY_VERSION) | KEY_BIT(KEY_BREAKERS), members);
    const cJSON *schema = members[KEY_SCHEMA], *version = members[KEY_VERSION];
    if (schema != NULL && json_type(schema) != cJSON_String)
        parser_report(ps, value_of(schema), "$schema", "must be a string");
    if (version != NULL && (json_type(version) != cJSON_Number || version->valuedouble != 1))
        parser_report(ps, value_of(version), "version", "must be the integer 1");
    struct policy defaults = builtin_policy;
    if (members[KEY_DEFAULTS] != NULL)
        read_defaults(ps, members[KEY_DEFAULTS], &defaults);
    if (members[KEY_BREAKERS] != NULL)
        read_breakers(ps, members[KEY_BREAKERS], &defaults);
}
