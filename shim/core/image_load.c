#include "image_load.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "image.h"
#include "rules.h"

bool image_load_is_current(const struct image_map *map, const struct image_source *source)
{
    return map->base && image_same_source(&map->matcher.header->source, source);
}

/* Views a compiled image that could not be published: it lives in this
 * process's heap (map->len bytes at map->base; image_unmap frees it). */
static bool keep_private(struct image_map *map, void *image, size_t len)
{
    const char *why;
    *map = (struct image_map){.base = image, .len = len, .in_heap = true};
    return image_view(image, len, &map->matcher, &why);
}

/* Compiles rules r into out->map, publishing it at out->image_path. */
static bool compile(struct image_load *out, const struct rules *r)
{
    size_t len;
    char why[128];
    void *image = image_compile(r, &out->source, &len);
    if (!image)
        return false;
    bool published = image_publish(out->image_path, image, len);
    int err = errno;
    if (published) {
        struct image_map fresh;
        if (image_map(out->image_path, &fresh, why, sizeof why) &&
            image_load_is_current(&fresh, &out->source)) {
            free(image);
            image_unmap(&out->map);
            out->map = fresh;
            image_rehome(&out->map);
            return true;
        }
        if (fresh.base)
            image_unmap(&fresh);
    }
    /* where the directory cannot be written, the state file cannot be
     * either, and that is what is said */
    if (!published && (err == ENOSPC || err == EDQUOT || err == EIO))
        out->image_problem = "no room to publish the compiled rules (full disk?); this process "
                             "compiled its own";
    image_unmap(&out->map);
    if (keep_private(&out->map, image, len))
        return true;
    image_unmap(&out->map);
    return false;
}

bool image_load(const char *spec, bool system, const char *state_path, struct image_load *out)
{
    char why[128];
    *out = (struct image_load){.freshness = IMAGE_NONE};
    bool stated = image_source_now(spec, &out->source);
    if (!image_path(state_path, spec, out->image_path, sizeof out->image_path))
        out->image_path[0] = '\0';
    if (out->image_path[0] && !image_map(out->image_path, &out->map, why, sizeof why) &&
        errno != ENOENT)
        out->image_problem = "the published compiled rules were refused (a symbolic link, "
                             "another user's, damaged or of another version); compiling again";
    if (stated && image_load_is_current(&out->map, &out->source)) {
        out->freshness = IMAGE_CURRENT;
        return true;
    }
    struct rules *r = system ? rules_load_system(spec, false, &out->errors)
                             : rules_load_unplaced(spec, &out->errors);
    if (r && stated) {
        bool compiled = compile(out, r);
        rules_free(r);
        if (compiled) {
            out->freshness = IMAGE_CURRENT;
            return true;
        }
        out->errors = NULL;
    } else {
        rules_free(r);
    }
    if (out->map.base) {
        out->freshness = IMAGE_LAST_GOOD;
        return true;
    }
    return false;
}

void image_load_release(struct image_load *out, bool unmap)
{
    free(out->errors);
    out->errors = NULL;
    if (unmap)
        image_unmap(&out->map);
}
