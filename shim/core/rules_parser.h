/* rules_parser.h — private to rules.c and rules_read.c: the parser's state
 * while it reads one rules text, and the problems it collects (each with
 * the node or byte offset it points at, placed as line:col only at the end).
 * rules.c owns the text, the JSON and the results; rules_read.c reads the
 * rules object into breakers and patterns. */
#ifndef FUSEBOX_RULES_PARSER_H
#define FUSEBOX_RULES_PARSER_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

#include "jsonpos.h"
#include "rules.h"

#define PATH_SIZE 96 /* a key path: "breakers[123].failure_on[45]" */
#define WHY_SIZE 128 /* a reason from host_pattern_parse */

static inline int json_type(const cJSON *node)
{
    return node->type & 0xff;
}

enum site { AT_OFFSET, AT_KEY, AT_VALUE };

/* A place a problem points at: a node's key or value, or a byte offset. */
struct spot {
    enum site site;
    const cJSON *node;
    size_t offset;
};

static inline struct spot key_of(const cJSON *node)
{
    return (struct spot){AT_KEY, node, 0};
}

static inline struct spot value_of(const cJSON *node)
{
    return (struct spot){AT_VALUE, node, 0};
}

static inline struct spot offset_spot(size_t offset)
{
    return (struct spot){AT_OFFSET, NULL, offset};
}

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

/* Returns array, grown if needed to hold count + 1 elements of size bytes
 * (its capacity in *cap), or NULL (array unchanged) on out of memory. */
void *parser_grow_for_one(void *array, size_t count, size_t *cap, size_t size);

/* Returns true once reading should stop: too many problems, or out of memory. */
bool parser_giving_up(const struct parser *ps);

/* Records a problem at `at` about the key path `path`, repeating what was
 * first written at `first` (offset_spot(0): nothing). Does nothing once
 * reading gives up; a problem past RULES_MAX_PROBLEMS sets too_many. */
__attribute__((format(printf, 5, 0))) void parser_vreport(struct parser *ps, struct spot at,
                                                          struct spot first, const char *path,
                                                          const char *fmt, va_list ap);

/* Records a problem at `at` about the key path `path` ("" at the top level). */
__attribute__((format(printf, 4, 5))) void parser_report(struct parser *ps, struct spot at,
                                                         const char *path, const char *fmt, ...);

/* Records a problem at `at` that repeats what was first written at `first`. */
__attribute__((format(printf, 5, 6))) void parser_report_repeat(struct parser *ps, struct spot at,
                                                                struct spot first, const char *path,
                                                                const char *fmt, ...);

/* Reads the rules object root into ps's breakers and patterns, reporting
 * every problem it finds. */
void parser_read_rules(struct parser *ps, const cJSON *root);

#endif
