/* image.h — rules → compiled image (image_layout.h) and back: compiles
 * parsed rules into one flat block of bytes, and checks a block (a file
 * mapped read-only, or a buffer) before a process reads it through a
 * struct matcher. Pure: no I/O (image_file.h owns the files). */
#ifndef FUSEBOX_IMAGE_H
#define FUSEBOX_IMAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "image_layout.h"
#include "match.h"
#include "rules.h"

/* Compiles r, compiled from source, into a malloc'd image of *len bytes.
 * Returns NULL with errno ENOMEM on out of memory, or E2BIG when r has more
 * than IMAGE_MAX_BREAKERS breakers or its image would pass 4 GiB. */
void *image_compile(const struct rules *r, const struct image_source *source, size_t *len);

/* Checks that the len bytes at base are an image this build can read: its
 * magic, format, record digest and build, its size, that every section
 * and table lies inside it and that its prefix lengths fit their family's
 * addresses. Fills *m (owned NULL) and returns true; else returns false
 * with the reason in *why ("not a rules image", "compiled by another
 * fusebox version", "truncated", "damaged"). */
bool image_view(const void *base, size_t len, struct matcher *m, const char **why);

/* Compiles r into an image of its own (source unknown) and views it: for
 * commands and tests that match against parsed rules. Returns NULL on out
 * of memory (errno ENOMEM). */
struct matcher *matcher_build(const struct rules *r);

/* Frees a matcher from matcher_build and its image; m may be NULL. */
void matcher_free(struct matcher *m);

/* The name of breaker b (b < m->breaker_count): "" if the image is damaged. */
const char *image_breaker_name(const struct matcher *m, uint32_t b);

/* The fallback addresses of breaker b, *count of them (0: none). */
const struct fallback_address *image_fallbacks(const struct matcher *m, uint32_t b,
                                               uint32_t *count);

/* Whether two sources are the same. */
bool image_same_source(const struct image_source *a, const struct image_source *b);

#endif
