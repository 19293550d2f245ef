#include "rules.h"

#include <arpa/inet.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "jsonpos.h"
#include "outcome.h"
#include "refusal.h"

#define PATH_SIZE 96 /* a key path: "breakers[123].failure_on[45]" */
#define WHY_SIZE 128 /* a reason from host_pattern_parse */

/* ---- cJSON, loaded on first use ---- */

typedef cJSON *json_parse_fn(const char *text, size_t len, const char **end, cJSON_bool nul_end);
typedef void json_delete_fn(cJSON *item);

static struct {
    pthread_once_t once;
    json_parse_fn *parse;
    json_delete_fn *delete;
    char error[256];
} cjson = {.once = PTHREAD_ONCE_INIT};

static void load_cjson(void)
{
    void *lib = dlopen("libcjson.so.1", RTLD_NOW | RTLD_LOCAL);
    if (lib != NULL) {
        cjson.parse = (json_parse_fn *)dlsym(lib, "cJSON_ParseWithLengthOpts");
        cjson.delete = (json_delete_fn *)dlsym(lib, "cJSON_Delete");
        if (cjson.parse != NULL && cjson.delete != NULL)
            return;
    }
    const char *why = dlerror();
    snprintf(cjson.error, sizeof cjson.error, "cannot load libcjson.so.1: %s",
             why != NULL ? why : "missing symbols");
    cjson.parse = NULL;
    if (lib != NULL)
        dlclose(lib);
}

/* Returns true once cJSON is loaded; else cjson.error says why. Thread-safe. */
static bool cjson_loaded(void)
{
    pthread_once(&cjson.once, load_cjson);
    return cjson.parse != NULL;
}

static int json_type(const cJSON *node)
{
    return node->type & 0xff;
}

/* ---- small helpers ---- */

/* Returns array, grown if needed to hold count + 1 elements of size bytes
 * (its capacity in *cap), or NULL (array unchanged) on out of memory. */
static void *grow_for_one(void *array, size_t count, size_t *cap, size_t size)
{
    if (count < *cap)
        return array;
    size_t new_cap = *cap != 0 ? 2 * *cap : 16;
    void *grown = reallocarray(array, new_cap, size);
    if (grown != NULL)
        *cap = new_cap;
    return grown;
}

/* Formats "source: message\n" into a malloc'd string; NULL on out of memory. */
__attribute__((format(printf, 2, 3))) static char *single_error(const char *source, const char *fmt,
                                                                ...)
{
    char *message = NULL, *line = NULL;
    va_list ap;
    va_start(ap, fmt);
    int ok = vasprintf(&message, fmt, ap);
    va_end(ap);
    if (ok < 0)
        return NULL;
    if (asprintf(&line, "%s: %s\n", source, message) < 0)
        line = NULL;
    free(message);
    return line;
}

/* ---- problems ---- */

enum site { AT_OFFSET, AT_KEY, AT_VALUE };

/* A place a problem points at: a node's key or value, or a byte offset. */
struct spot {
    enum site site;
    const cJSON *node;
    size_t offset;
};

static struct spot key_of(const cJSON *node)
{
    return (struct spot){AT_KEY, node, 0};
}

static struct spot value_of(const cJSON *node)
{
    return (struct spot){AT_VALUE, node, 0};
}

static struct spot offset_spot(size_t offset)
{
    return (struct spot){AT_OFFSET, NULL, offset};
}

static const struct spot no_spot = {AT_OFFSET, NULL, 0};

struct problem {
    struct spot at, first; /* first.node: an earlier occurrence, shown as "(first at L:C)" */
    struct text_position at_pos, first_pos;
    size_t order;
    char path[PATH_SIZE];
    char *message;
};

/* A breaker being read, with the nodes it came from. */
struct pending_breaker {
    struct rule_breaker breaker;
    const cJSON *object, *name;
    size_t index; /* in the breakers array */
};

struct pending_pattern {
    struct host_pattern pattern;
    const cJSON *node;
};

struct parser {
    const char *text, *source;
    size_t len;
    const cJSON *root;
    struct problem *problems;
    size_t problem_count, problem_cap;
    bool too_many, out_of_memory;
    struct pending_breaker *breakers;
    size_t breaker_count, breaker_cap;
    struct pending_pattern *patterns;
    size_t pattern_count, pattern_cap;
};

/* Returns true once reading should stop: too many problems, or out of memory. */
static bool giving_up(const struct parser *ps)
{
    return ps->too_many || ps->out_of_memory;
}

__attribute__((format(printf, 5, 0))) static void vreport(struct parser *ps, struct spot at,
                                                          struct spot first, const char *path,
                                                          const char *fmt, va_list ap)
{
    if (giving_up(ps))
        return;
    if (ps->problem_count == RULES_MAX_PROBLEMS) {
        ps->too_many = true;
        return;
    }
    struct problem *grown =
        grow_for_one(ps->problems, ps->problem_count, &ps->problem_cap, sizeof *grown);
    if (grown == NULL) {
        ps->out_of_memory = true;
        return;
    }
    ps->problems = grown;
    struct problem *p = &ps->problems[ps->problem_count];
    *p = (struct problem){.at = at, .first = first, .order = ps->problem_count};
    snprintf(p->path, sizeof p->path, "%s", path);
    if (vasprintf(&p->message, fmt, ap) < 0) {
        ps->out_of_memory = true;
        return;
    }
    ps->problem_count++;
}

/* Records a problem at `at` about the key path `path` ("" at the top level). */
__attribute__((format(printf, 4, 5))) static void report(struct parser *ps, struct spot at,
                                                         const char *path, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vreport(ps, at, no_spot, path, fmt, ap);
    va_end(ap);
}

/* Records a problem at `at` that repeats what was first written at `first`. */
__attribute__((format(printf, 5, 6))) static void report_repeat(struct parser *ps, struct spot at,
                                                                struct spot first, const char *path,
                                                                const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vreport(ps, at, first, path, fmt, ap);
    va_end(ap);
}

/* ---- the text as JSON ---- */

/* Returns the length of the valid UTF-8 sequence at s (avail bytes, s[0] >= 0x80), or 0. */
static size_t utf8_sequence_length(const unsigned char *s, size_t avail)
{
    static const uint32_t shortest[5] = {0, 0, 0x80, 0x800, 0x10000}; /* by length */
    size_t n = s[0] >= 0xf0 ? 4 : s[0] >= 0xe0 ? 3 : 2;
    if (s[0] < 0xc2 || s[0] > 0xf4 || avail < n)
        return 0;
    uint32_t cp = s[0] & (0x7fu >> n);
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = cp << 6 | (s[i] & 0x3fu);
    }
    if (cp < shortest[n] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return n;
}

/* Returns the offset of the first byte that JSON text cannot hold (not UTF-8, a
 * control character other than tab, LF and CR) or that cJSON would mishandle
 * (a \u0000 escape, which would cut a string short), or len; sets *why. */
static size_t find_unfit_byte(const char *text, size_t len, const char **why)
{
    const unsigned char *s = (const unsigned char *)text;
    size_t i = 0;
    while (i < len) {
        if (s[i] < 0x20 && s[i] != '\t' && s[i] != '\n' && s[i] != '\r') {
            *why = "control character (JSON text may hold only tab, LF and CR)";
            return i;
        }
        if (s[i] == '\\' && len - i >= 6 && memcmp(s + i, "\\u0000", 6) == 0) {
            *why = "\\u0000 is not allowed in strings";
            return i;
        }
        if (s[i] == '\\' && len - i >= 2 && s[i + 1] == '\\') {
            i += 2;
        } else if (s[i] < 0x80) {
            i++;
        } else {
            size_t n = utf8_sequence_length(s + i, len - i);
            if (n == 0) {
                *why = "invalid UTF-8";
                return i;
            }
            i += n;
        }
    }
    return len;
}

static bool is_blank(const char *text, size_t len)
{
    return jsonpos_skip_space(text, len, jsonpos_text_start(text, len)) == len;
}

/* Parses the text into a cJSON tree. Returns it, or NULL after reporting why
 * the text is not one JSON value. */
static cJSON *parse_json(struct parser *ps)
{
    const char *why, *end = NULL;
    size_t unfit = find_unfit_byte(ps->text, ps->len, &why);
    if (unfit < ps->len) {
        report(ps, offset_spot(unfit), "", "%s", why);
        return NULL;
    }
    if (is_blank(ps->text, ps->len)) {
        report(ps, offset_spot(0), "", "no JSON value: the text is empty");
        return NULL;
    }
    cJSON *root = cjson.parse(ps->text, ps->len, &end, false);
    size_t stop = end != NULL ? (size_t)(end - ps->text) : 0;
    if (root == NULL) {
        report(ps, offset_spot(stop), "", "JSON syntax error");
        return NULL;
    }
    stop = jsonpos_skip_space(ps->text, ps->len, stop);
    if (stop < ps->len) {
        report(ps, offset_spot(stop), "", "unexpected text after the JSON value");
        cjson.delete(root);
        return NULL;
    }
    return root;
}

/* ---- the rules object ---- */

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

static const char *const key_names[KEY_COUNT] = {
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
     KEY_BIT(KEY_BACKOFF) | KEY_BIT(KEY_HONOR_RETRY_AFTER) | KEY_BIT(KEY_HALF_OPEN_MAX_WAIT))
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
    vreport(ps, at, no_spot, where, fmt, ap);
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
    for (const cJSON *m = obj->child; m != NULL && !giving_up(ps); m = m->next) {
        enum key k = key_named(m->string, allowed);
        if (k != KEY_COUNT && members[k] == NULL) {
            members[k] = m;
            continue;
        }
        refusal_quote(quoted, sizeof quoted, m->string);
        if (k == KEY_COUNT)
            report(ps, key_of(m), path, "unknown key %s", quoted);
        else
            report_repeat(ps, key_of(m), key_of(members[k]), path, "duplicate key %s", quoted);
    }
    for (enum key k = 0; k < KEY_COUNT; k++)
        if ((required & KEY_BIT(k)) && members[k] == NULL)
            report(ps, value_of(obj), path, "missing required key \"%s\"", key_names[k]);
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
        report(ps, value_of(node), where, "must be an object");
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
        report(ps, value_of(node), key, "must equal failure_rate's (a breaker has one window)");
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
        report(ps, value_of(node), where, "must be an array of class names");
        return;
    }
    for (const cJSON *e = node->child; e != NULL && !giving_up(ps); e = e->next, i++) {
        int c = json_type(e) == cJSON_String ? outcome_class_parse(e->valuestring) : -1;
        element_path(element, where, i);
        if (json_type(e) != cJSON_String) {
            report(ps, value_of(e), element, "must be a class name (a string)");
        } else if (c < 0) {
            class_names(known, sizeof known);
            refusal_quote(quoted, sizeof quoted, e->valuestring);
            report(ps, value_of(e), element, "unknown class %s (classes: %s)", quoted, known);
        } else if (classes & CLASS_BIT(c)) {
            refusal_quote(quoted, sizeof quoted, e->valuestring);
            report_repeat(ps, value_of(e), value_of(first[c]), element, "duplicate class %s",
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
        report(ps, value_of(node), where,
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
        grow_for_one(ps->patterns, ps->pattern_count, &ps->pattern_cap, sizeof *grown);
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
        report(ps, value_of(node), where, "must be an array of host patterns");
        return;
    }
    if (node->child == NULL)
        report(ps, value_of(node), where, "must not be empty");
    for (const cJSON *e = node->child; e != NULL && !giving_up(ps); e = e->next, i++) {
        struct host_pattern p;
        bool string = json_type(e) == cJSON_String;
        if (string && host_pattern_parse(e->valuestring, &p, why, sizeof why)) {
            p.breaker = breaker;
            add_pattern(ps, &p, e);
            continue;
        }
        element_path(element, where, i);
        if (!string) {
            report(ps, value_of(e), element, "must be a host pattern (a string)");
        } else {
            refusal_quote(quoted, sizeof quoted, e->valuestring);
            report(ps, value_of(e), element, "%s: %s", quoted, why);
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
        report(ps, value_of(e), element,
               "must be an address such as \"127.0.0.1:8081\" (a string)");
        return false;
    }
    refusal_quote(quoted, sizeof quoted, e->valuestring);
    if (!fallback_address_parse(e->valuestring, out, why, sizeof why)) {
        report(ps, value_of(e), element, "%s: %s", quoted, why);
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        if (seen[i].family == out->family && seen[i].port == out->port &&
            memcmp(seen[i].addr, out->addr, sizeof out->addr) == 0) {
            report_repeat(ps, value_of(e), value_of(earlier[i]), element,
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
        report(ps, value_of(node), where,
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
        report(ps, value_of(list), list_path,
               "must be an address or a non-empty array of addresses (\"A.B.C.D:PORT\", "
               "\"[V6]:PORT\")");
        return;
    }
    for (const cJSON *e = list->child; e != NULL && !giving_up(ps); e = e->next, i++) {
        element_path(element, list_path, i);
        if (i == FALLBACK_MAX_ADDRESSES) {
            report(ps, value_of(e), element, "at most %d fallback addresses",
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
        grow_for_one(ps->breakers, ps->breaker_count, &ps->breaker_cap, sizeof *grown);
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
        report(ps, value_of(node), where, "must be an object {\"share\": true, \"quorum\": N}");
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
        report(ps, value_of(obj), path, "must be an object");
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
    report_repeat(ps, value_of(b->name), value_of(first->name), where, "%s%s%s", before, quoted,
                  after);
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
        report(ps, value_of(list), "breakers", "must be an array");
        return;
    }
    for (const cJSON *e = list->child; e != NULL && !giving_up(ps); e = e->next, i++)
        read_breaker(ps, e, i, defaults);
    if (!giving_up(ps))
        check_unique_names(ps);
}

static void read_defaults(struct parser *ps, const cJSON *obj, struct policy *defaults)
{
    const cJSON *members[KEY_COUNT];
    if (json_type(obj) != cJSON_Object) {
        report(ps, value_of(obj), "defaults", "must be an object");
        return;
    }
    find_members(ps, obj, "defaults", POLICY_KEYS, 0, members);
    read_policy(ps, members, "defaults", defaults);
}

static void read_rules(struct parser *ps, const cJSON *root)
{
    const cJSON *members[KEY_COUNT];
    if (json_type(root) != cJSON_Object) {
        report(ps, value_of(root), "", "the rules must be a JSON object");
        return;
    }
    find_members(ps, root, "", TOP_KEYS, KEY_BIT(KEY_VERSION) | KEY_BIT(KEY_BREAKERS), members);
    const cJSON *schema = members[KEY_SCHEMA], *version = members[KEY_VERSION];
    if (schema != NULL && json_type(schema) != cJSON_String)
        report(ps, value_of(schema), "$schema", "must be a string");
    if (version != NULL && (json_type(version) != cJSON_Number || version->valuedouble != 1))
        report(ps, value_of(version), "version", "must be the integer 1");
    struct policy defaults = builtin_policy;
    if (members[KEY_DEFAULTS] != NULL)
        read_defaults(ps, members[KEY_DEFAULTS], &defaults);
    if (members[KEY_BREAKERS] != NULL)
        read_breakers(ps, members[KEY_BREAKERS], &defaults);
}

/* ---- results ---- */

static int compare_problems(const void *a, const void *b)
{
    const struct problem *x = a, *y = b;
    if (x->at_pos.line != y->at_pos.line)
        return x->at_pos.line < y->at_pos.line ? -1 : 1;
    if (x->at_pos.col != y->at_pos.col)
        return x->at_pos.col < y->at_pos.col ? -1 : 1;
    return x->order < y->order ? -1 : x->order > y->order;
}

static struct text_position spot_position(const struct parser *ps, struct spot s,
                                          const struct jsonpos_query *q)
{
    if (s.site == AT_OFFSET)
        return jsonpos_at_offset(ps->text, ps->len, s.offset);
    return s.site == AT_KEY ? q->key : q->value;
}

/* Fills at_pos and first_pos of every problem. Returns false on out of memory. */
static bool place_problems(struct parser *ps)
{
    struct jsonpos_query *queries = calloc(2 * ps->problem_count, sizeof *queries);
    if (queries == NULL)
        return false;
    for (size_t i = 0; i < ps->problem_count; i++) {
        queries[2 * i].node = ps->problems[i].at.node;
        queries[2 * i + 1].node = ps->problems[i].first.node;
    }
    bool placed = ps->root == NULL ||
                  jsonpos_locate(ps->text, ps->len, ps->root, queries, 2 * ps->problem_count);
    for (size_t i = 0; placed && i < ps->problem_count; i++) {
        struct problem *p = &ps->problems[i];
        p->at_pos = spot_position(ps, p->at, &queries[2 * i]);
        p->first_pos = spot_position(ps, p->first, &queries[2 * i + 1]);
    }
    free(queries);
    return placed;
}

/* Returns the problems as the error text of rules_parse, in text order; NULL on out of memory. */
static char *format_problems(struct parser *ps)
{
    char *text = NULL;
    size_t size;
    if (!place_problems(ps))
        return NULL;
    qsort(ps->problems, ps->problem_count, sizeof *ps->problems, compare_problems);
    FILE *out = open_memstream(&text, &size);
    if (out == NULL)
        return NULL;
    for (size_t i = 0; i < ps->problem_count; i++) {
        const struct problem *p = &ps->problems[i];
        fprintf(out, "%s:%u:%u: %s%s%s", ps->source, p->at_pos.line, p->at_pos.col, p->path,
                p->path[0] != '\0' ? ": " : "", p->message);
        if (p->first.node != NULL)
            fprintf(out, " (first at %u:%u)", p->first_pos.line, p->first_pos.col);
        fputc('\n', out);
    }
    if (ps->too_many)
        fprintf(out, "%s: too many problems; stopped after %d\n", ps->source, RULES_MAX_PROBLEMS);
    bool failed = ferror(out);
    if (fclose(out) != 0 || failed) {
        free(text);
        return NULL;
    }
    return text;
}

/* Returns the rules made of what the parser read (moving its strings), or
 * NULL on out of memory; with place, the line and column of each breaker and
 * pattern too (one more pass over the text), else 0. */
static struct rules *assemble_rules(struct parser *ps, bool place)
{
    size_t nb = ps->breaker_count, np = ps->pattern_count;
    struct rules *r = calloc(1, sizeof *r);
    struct jsonpos_query *queries = calloc(nb + np + 1, sizeof *queries);
    if (r == NULL || queries == NULL || (r->source = strdup(ps->source)) == NULL ||
        (r->breakers = calloc(nb + 1, sizeof *r->breakers)) == NULL ||
        (r->patterns = calloc(np + 1, sizeof *r->patterns)) == NULL) {
        free(queries);
        rules_free(r);
        return NULL;
    }
    for (size_t i = 0; i < nb; i++)
        queries[i].node = ps->breakers[i].object;
    for (size_t i = 0; i < np; i++)
        queries[nb + i].node = ps->patterns[i].node;
    if (place && !jsonpos_locate(ps->text, ps->len, ps->root, queries, nb + np)) {
        free(queries);
        rules_free(r);
        return NULL;
    }
    for (size_t i = 0; i < nb; i++) {
        r->breakers[i] = ps->breakers[i].breaker;
        r->breakers[i].line = queries[i].value.line;
        r->breakers[i].col = queries[i].value.col;
    }
    for (size_t i = 0; i < np; i++) {
        r->patterns[i] = ps->patterns[i].pattern;
        r->patterns[i].line = queries[nb + i].value.line;
        r->patterns[i].col = queries[nb + i].value.col;
    }
    r->breaker_count = nb;
    r->pattern_count = np;
    ps->breaker_count = ps->pattern_count = 0;
    free(queries);
    return r;
}

static void release_parser(struct parser *ps)
{
    for (size_t i = 0; i < ps->problem_count; i++)
        free(ps->problems[i].message);
    for (size_t i = 0; i < ps->breaker_count; i++) {
        free(ps->breakers[i].breaker.name);
        free(ps->breakers[i].breaker.fallbacks);
    }
    for (size_t i = 0; i < ps->pattern_count; i++)
        host_pattern_clear(&ps->patterns[i].pattern);
    free(ps->problems);
    free(ps->breakers);
    free(ps->patterns);
}

static struct rules *parse(const char *text, size_t len, const char *source, bool place,
                           char **errors)
{
    struct parser ps = {.text = text, .len = len, .source = source};
    struct rules *r = NULL;
    *errors = NULL;
    if (!cjson_loaded()) {
        *errors = single_error(source, "%s", cjson.error);
        return NULL;
    }
    cJSON *root = parse_json(&ps);
    if (root != NULL) {
        ps.root = root;
        read_rules(&ps, root);
    }
    if (!ps.out_of_memory && ps.problem_count > 0)
        *errors = format_problems(&ps);
    else if (!ps.out_of_memory)
        r = assemble_rules(&ps, place);
    if (root != NULL)
        cjson.delete(root);
    release_parser(&ps);
    if (r == NULL && *errors == NULL) {
        *errors = single_error(source, "out of memory");
        errno = ENOMEM;
    }
    return r;
}

struct rules *rules_parse(const char *text, size_t len, const char *source, char **errors)
{
    return parse(text, len, source, true, errors);
}

/* Reads the regular file at path (at most RULES_MAX_FILE_SIZE bytes) into a
 * malloc'd buffer. Returns it, or NULL with *errors set as rules_load says. */
static char *read_rules_file(const char *path, size_t *len, char **errors)
{
    struct stat st;
    char *text = NULL;
    size_t got = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0 || fstat(fd, &st) != 0)
        goto failed;
    if (!S_ISREG(st.st_mode) || st.st_size > (off_t)RULES_MAX_FILE_SIZE) {
        *errors = single_error(path, "cannot read: %s",
                               S_ISREG(st.st_mode) ? "larger than 64 MiB" : "not a regular file");
        close(fd);
        return NULL;
    }
    text = malloc((size_t)st.st_size + 1);
    if (text == NULL)
        goto failed;
    while (got < (size_t)st.st_size) {
        ssize_t n = read(fd, text + got, (size_t)st.st_size - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            goto failed;
        if (n == 0)
            break;
        got += (size_t)n;
    }
    close(fd);
    *len = got;
    return text;
failed:
    *errors = single_error(path, "cannot read: %s", strerror(errno));
    free(text);
    if (fd >= 0)
        close(fd);
    return NULL;
}

static struct rules *load(const char *spec, bool place, char **errors)
{
    const char *first = spec + strspn(spec, " \t\r\n");
    size_t len;
    *errors = NULL;
    if (*first == '{')
        return parse(spec, strlen(spec), RULES_INLINE_SOURCE, place, errors);
    char *text = read_rules_file(spec, &len, errors);
    if (text == NULL)
        return NULL;
    struct rules *r = parse(text, len, spec, place, errors);
    free(text);
    return r;
}

struct rules *rules_load(const char *spec, char **errors)
{
    return load(spec, true, errors);
}

struct rules *rules_load_unplaced(const char *spec, char **errors)
{
    return load(spec, false, errors);
}

bool rules_host_breaker_name(const char *rule, const char *host, uint16_t port, char *out,
                             size_t size)
{
    bool bare_v6 = host[0] != '[' && strchr(host, ':') != NULL;
    int n = snprintf(out, size, bare_v6 ? "%s/[%s]:%u" : "%s/%s:%u", rule, host, (unsigned)port);
    if (n <= 0 || (size_t)n >= size)
        return false;
    for (char *c = out + strlen(rule); *c; c++)
        *c = (char)ascii_lower((unsigned char)*c);
    return true;
}

void rules_free(struct rules *r)
{
    if (r == NULL)
        return;
    for (size_t i = 0; i < r->breaker_count; i++) {
        free(r->breakers[i].name);
        free(r->breakers[i].fallbacks);
    }
    for (size_t i = 0; i < r->pattern_count; i++)
        host_pattern_clear(&r->patterns[i]);
    free(r->breakers);
    free(r->patterns);
    free(r->source);
    free(r);
}
