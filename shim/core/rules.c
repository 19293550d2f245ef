#include "rules.h"

#include <arpa/inet.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "outcome.h"
#include "refusal.h"
#include "rules_parser.h"

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

/* ---- small helpers ---- */

void *parser_grow_for_one(void *array, size_t count, size_t *cap, size_t size)
{
    if (count < *cap)
        return array;
    size_t new_cap = *cap != 0 ? 2 * *cap : 16;
    /* not reallocarray: its version (GLIBC_2.26) would be one more that every
     * process loading the shim checks at start */
    if (size != 0 && new_cap > SIZE_MAX / size) {
        errno = ENOMEM;
        return NULL;
    }
    void *grown = realloc(array, new_cap * size);
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

bool parser_giving_up(const struct parser *ps)
{
    return ps->too_many || ps->out_of_memory;
}

void parser_vreport(struct parser *ps, struct spot at, struct spot first, const char *path,
                    const char *fmt, va_list ap)
{
    if (parser_giving_up(ps))
        return;
    if (ps->problem_count == RULES_MAX_PROBLEMS) {
        ps->too_many = true;
        return;
    }
    struct problem *grown =
        parser_grow_for_one(ps->problems, ps->problem_count, &ps->problem_cap, sizeof *grown);
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

void parser_report(struct parser *ps, struct spot at, const char *path, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    parser_vreport(ps, at, offset_spot(0), path, fmt, ap);
    va_end(ap);
}

void parser_report_repeat(struct parser *ps, struct spot at, struct spot first, const char *path,
                          const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    parser_vreport(ps, at, first, path, fmt, ap);
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

/* Returns the offset of the first '[' or '{' (outside strings) that opens a
 * value nested deeper than RULES_MAX_DEPTH, or len. cJSON parses by
 * recursion, a few hundred bytes of stack a level: bounded here, before it
 * sees the text, the rules parse on any thread's stack (64 KiB will do). */
static size_t too_deep_at(const char *text, size_t len)
{
    unsigned depth = 0;
    bool in_string = false;
    for (size_t i = 0; i < len; i++) {
        char c = text[i];
        if (in_string) {
            if (c == '\\')
                i++;
            else if (c == '"')
                in_string = false;
        } else if (c == '"') {
            in_string = true;
        } else if ((c == '[' || c == '{') && ++depth > RULES_MAX_DEPTH) {
            return i;
        } else if ((c == ']' || c == '}') && depth > 0) {
            depth--;
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
        parser_report(ps, offset_spot(unfit), "", "%s", why);
        return NULL;
    }
    size_t deep = too_deep_at(ps->text, ps->len);
    if (deep < ps->len) {
        parser_report(ps, offset_spot(deep), "", "nested deeper than %d levels", RULES_MAX_DEPTH);
        return NULL;
    }
    if (is_blank(ps->text, ps->len)) {
        parser_report(ps, offset_spot(0), "", "no JSON value: the text is empty");
        return NULL;
    }
    cJSON *root = cjson.parse(ps->text, ps->len, &end, false);
    size_t stop = end != NULL ? (size_t)(end - ps->text) : 0;
    if (root == NULL) {
        parser_report(ps, offset_spot(stop), "", "JSON syntax error");
        return NULL;
    }
    stop = jsonpos_skip_space(ps->text, ps->len, stop);
    if (stop < ps->len) {
        parser_report(ps, offset_spot(stop), "", "unexpected text after the JSON value");
        cjson.delete(root);
        return NULL;
    }
    return root;
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
        parser_read_rules(&ps, root);
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

/* Why the system rules file described by st must not be used, or NULL: it
 * must be root's and writable by nobody else, since it rules every program,
 * setuid ones included. */
static const char *untrusted(const struct stat *st)
{
    if (st->st_uid != 0)
        return "not owned by root";
    return st->st_mode & 022 ? "writable by group or others" : NULL;
}

/* Reads the regular file at path (at most RULES_MAX_FILE_SIZE bytes) into a
 * malloc'd buffer; with system, only when untrusted() has nothing against
 * it. Returns it, or NULL with *errors set as rules_load says. */
static char *read_rules_file(const char *path, bool system, size_t *len, char **errors)
{
    struct stat st;
    char *text = NULL;
    size_t got = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0 || fstat(fd, &st) != 0)
        goto failed;
    const char *refused = !S_ISREG(st.st_mode)                      ? "not a regular file"
                          : st.st_size > (off_t)RULES_MAX_FILE_SIZE ? "larger than 64 MiB"
                          : system                                  ? untrusted(&st)
                                                                    : NULL;
    if (refused) {
        *errors = single_error(path, "cannot read: %s", refused);
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

/* Parses the rules file at path: read_rules_file, then parse. */
static struct rules *load_file(const char *path, bool system, bool place, char **errors)
{
    size_t len;
    char *text = read_rules_file(path, system, &len, errors);
    if (text == NULL)
        return NULL;
    struct rules *r = parse(text, len, path, place, errors);
    free(text);
    return r;
}

static struct rules *load(const char *spec, bool place, char **errors)
{
    const char *first = spec + strspn(spec, " \t\r\n");
    *errors = NULL;
    if (*first == '{')
        return parse(spec, strlen(spec), RULES_INLINE_SOURCE, place, errors);
    return load_file(spec, false, place, errors);
}

struct rules *rules_load(const char *spec, char **errors)
{
    return load(spec, true, errors);
}

struct rules *rules_load_unplaced(const char *spec, char **errors)
{
    return load(spec, false, errors);
}

struct rules *rules_load_system(const char *path, bool place, char **errors)
{
    *errors = NULL;
    return load_file(path, true, place, errors);
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
