/* jsonpos.h — where in its text a cJSON node was written.
 *
 * cJSON keeps no positions. Its trees keep children in document order, so a
 * node's rank in a pre-order walk equals the rank of its value among the
 * values of the text; a scan of the text that counts value starts (skipping
 * strings with their escapes) finds it again. Meant for error reports and for
 * the few positions a caller keeps: one call locates any number of nodes in
 * one walk and one scan. Also the two lexical rules the scan shares with the
 * rules parser: where a text's value may start, and what is white space. */
#ifndef FUSEBOX_JSONPOS_H
#define FUSEBOX_JSONPOS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

/* A place in a text: 1-based line, and 1-based column counted in characters
 * (UTF-8 sequences; a tab counts as one). {0, 0} means "unknown". */
struct text_position {
    uint32_t line, col;
};

/* Returns the offset where the JSON value of text (len bytes) may start: past
 * a UTF-8 byte order mark (cJSON skips one too), else 0. */
size_t jsonpos_text_start(const char *text, size_t len);

/* Returns the offset of the first byte at or after offset that is not JSON
 * white space (space, tab, LF, CR), or len. */
size_t jsonpos_skip_space(const char *text, size_t len, size_t offset);

/* Returns the position of byte offset in text (len bytes); an offset past the
 * end is taken as len. A leading UTF-8 byte order mark takes no column. */
struct text_position jsonpos_at_offset(const char *text, size_t len, size_t offset);

struct jsonpos_query {
    const cJSON *node;          /* in: a node of the tree */
    struct text_position value; /* out: where its value starts */
    struct text_position key;   /* out: where its key starts (object member), else {0, 0} */
};

/* Fills value and key of queries[0..n) (a node may be asked for more than
 * once). root must be what cJSON parsed successfully from text (len bytes),
 * text being free of bytes that cJSON would take for white space other than
 * space, tab, CR and LF; a node not in the tree gets {0, 0}. Returns false
 * (errno ENOMEM, queries partly filled) when out of memory. */
bool jsonpos_locate(const char *text, size_t len, const cJSON *root, struct jsonpos_query *queries,
                    size_t n);

#endif
