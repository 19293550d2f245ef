#include "jsonpos.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define NO_RANK SIZE_MAX

/* A read position in a text, with its line and column. */
struct cursor {
    const unsigned char *text;
    size_t len, off;
    struct text_position pos;
};

/* One query, ranked: rank is the node's pre-order number, or NO_RANK. */
struct ranked_query {
    const cJSON *node;
    size_t query, rank;
};

size_t jsonpos_text_start(const char *text, size_t len)
{
    return len >= 3 && memcmp(text, "\xef\xbb\xbf", 3) == 0 ? 3 : 0;
}

/* Returns a cursor at the first character of text; a byte order mark takes no column. */
static struct cursor cursor_start(const char *text, size_t len)
{
    return (struct cursor){(const unsigned char *)text, len, jsonpos_text_start(text, len), {1, 1}};
}

/* Moves c one byte on; a column is counted at each byte that starts a character. */
static void cursor_step(struct cursor *c)
{
    unsigned char b = c->text[c->off++];
    if (b == '\n') {
        c->pos.line++;
        c->pos.col = 1;
    } else if ((b & 0xc0) != 0x80) {
        c->pos.col++;
    }
}

static bool at_end(const struct cursor *c)
{
    return c->off >= c->len;
}

static bool is_json_space(unsigned char b)
{
    return b == ' ' || b == '\t' || b == '\n' || b == '\r';
}

static bool is_structural(unsigned char b)
{
    return b == '{' || b == '}' || b == '[' || b == ']' || b == ',' || b == ':';
}

size_t jsonpos_skip_space(const char *text, size_t len, size_t offset)
{
    while (offset < len && is_json_space((unsigned char)text[offset]))
        offset++;
    return offset;
}

static void skip_space(struct cursor *c)
{
    while (!at_end(c) && is_json_space(c->text[c->off]))
        cursor_step(c);
}

/* Moves c past the string whose opening quote it is at. */
static void skip_string(struct cursor *c)
{
    cursor_step(c);
    while (!at_end(c)) {
        unsigned char b = c->text[c->off];
        cursor_step(c);
        if (b == '"')
            return;
        if (b == '\\' && !at_end(c))
            cursor_step(c);
    }
}

/* Moves c past a number, true, false or null. */
static void skip_scalar(struct cursor *c)
{
    while (!at_end(c) && !is_json_space(c->text[c->off]) && !is_structural(c->text[c->off]))
        cursor_step(c);
}

struct text_position jsonpos_at_offset(const char *text, size_t len, size_t offset)
{
    struct cursor c = cursor_start(text, len);
    if (offset > len)
        offset = len;
    while (c.off < offset)
        cursor_step(&c);
    return c.pos;
}

static int compare_by_node(const void *a, const void *b)
{
    const struct ranked_query *x = a, *y = b;
    if (x->node != y->node)
        return (uintptr_t)x->node < (uintptr_t)y->node ? -1 : 1;
    return x->query < y->query ? -1 : x->query > y->query;
}

static int compare_by_rank(const void *a, const void *b)
{
    const struct ranked_query *x = a, *y = b;
    if (x->rank != y->rank)
        return x->rank < y->rank ? -1 : 1;
    return x->query < y->query ? -1 : x->query > y->query;
}

/* Sets the rank of every query for node (sorted by node). Returns how many it set. */
static size_t rank_node(struct ranked_query *sorted, size_t n, const cJSON *node, size_t rank)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if ((uintptr_t)sorted[mid].node < (uintptr_t)node)
            lo = mid + 1;
        else
            hi = mid;
    }
    size_t set = 0;
    for (; lo < n && sorted[lo].node == node; lo++, set++)
        sorted[lo].rank = rank;
    return set;
}

/* Ranks the queries (sorted by node) by a pre-order walk of root, stopping once
 * all are ranked. Returns false on out of memory. */
static bool rank_queries(const cJSON *root, struct ranked_query *sorted, size_t n)
{
    size_t cap = 64, depth = 0, rank = 0, ranked = 0;
    const cJSON **stack = malloc(cap * sizeof *stack);
    if (stack == NULL)
        return false;
    stack[depth++] = root;
    while (depth > 0 && ranked < n) {
        const cJSON *node = stack[--depth];
        ranked += rank_node(sorted, n, node, rank++);
        if (depth + 2 > cap) {
            const cJSON **grown = realloc(stack, 2 * cap * sizeof *stack);
            if (grown == NULL) {
                free(stack);
                return false;
            }
            stack = grown;
            cap *= 2;
        }
        if (node->next != NULL && node != root)
            stack[depth++] = node->next;
        if (node->child != NULL)
            stack[depth++] = node->child;
    }
    free(stack);
    return true;
}

/* Scans the text for value starts and fills the queries (sorted by rank) whose
 * rank is reached. */
static void place_queries(const char *text, size_t len, struct ranked_query *sorted, size_t n,
                          struct jsonpos_query *queries)
{
    struct cursor c = cursor_start(text, len);
    struct text_position last_key = {0, 0};
    size_t next = 0, rank = 0;
    while (next < n && sorted[next].rank != NO_RANK) {
        skip_space(&c);
        if (at_end(&c))
            return;
        unsigned char b = c.text[c.off];
        struct text_position start = c.pos;
        if (b == '"') {
            skip_string(&c);
            skip_space(&c);
            if (!at_end(&c) && c.text[c.off] == ':') {
                last_key = start;
                continue;
            }
        } else if (b == '{' || b == '[') {
            cursor_step(&c);
        } else if (is_structural(b)) {
            cursor_step(&c);
            continue;
        } else {
            skip_scalar(&c);
        }
        for (; next < n && sorted[next].rank == rank; next++) {
            struct jsonpos_query *q = &queries[sorted[next].query];
            q->value = start;
            if (q->node->string != NULL)
                q->key = last_key;
        }
        rank++;
    }
}

bool jsonpos_locate(const char *text, size_t len, const cJSON *root, struct jsonpos_query *queries,
                    size_t n)
{
    if (n == 0)
        return true;
    struct ranked_query *sorted = malloc(n * sizeof *sorted);
    if (sorted == NULL) {
        errno = ENOMEM;
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        sorted[i] = (struct ranked_query){queries[i].node, i, NO_RANK};
        queries[i].value = queries[i].key = (struct text_position){0, 0};
    }
    qsort(sorted, n, sizeof *sorted, compare_by_node);
    bool ranked = rank_queries(root, sorted, n);
    if (ranked) {
        qsort(sorted, n, sizeof *sorted, compare_by_rank);
        place_queries(text, len, sorted, n, queries);
    }
    free(sorted);
    if (!ranked)
        errno = ENOMEM;
    return ranked;
}
