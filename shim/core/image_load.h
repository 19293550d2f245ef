/* image_load.h — a rules source → the compiled image to use for it: the
 * image published for the source when it was compiled from the source as
 * it is now; else one compiled now and published for every process; else,
 * when the source does not compile (or cannot be read), the last good
 * image published for it. Used by the shim on start and on reload, and by
 * the commands that compile or show rules. */
#ifndef FUSEBOX_IMAGE_LOAD_H
#define FUSEBOX_IMAGE_LOAD_H

#include <stdbool.h>

#include "image_file.h"

enum image_freshness {
    IMAGE_CURRENT,   /* compiled from the source as it is now */
    IMAGE_LAST_GOOD, /* the source does not compile: an earlier image of it */
    IMAGE_NONE,      /* nothing usable */
};

struct image_load {
    enum image_freshness freshness;
    struct image_map map;       /* mapped unless IMAGE_NONE */
    struct image_source source; /* what the source is now */
    /* malloc'd, or NULL: the source's problems, one "SOURCE:LINE:COL:
     * message" line each, when it did not compile */
    char *errors;
    /* static text, or NULL: why the published image was not used, or that
     * no room was left to publish a new one (then it lives in this process
     * only, as it does, unsaid, where the directory cannot be written) */
    const char *image_problem;
    char image_path[IMAGE_PATH_MAX];
};

/* Loads the image of spec (a path, or inline JSON; system: the system rules
 * file, read only when root owns it) for the state file state_path into
 * *out, as the header says. Returns false when nothing is usable
 * (out->freshness IMAGE_NONE, out->errors set unless out of memory). */
bool image_load(const char *spec, bool system, const char *state_path, struct image_load *out);

/* Whether the image mapped in *map was compiled from source. */
bool image_load_is_current(const struct image_map *map, const struct image_source *source);

/* Frees what image_load set in *out; the mapping stays unless unmap. */
void image_load_release(struct image_load *out, bool unmap);

#endif
