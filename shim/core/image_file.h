/* image_file.h — compiled rules images as files: where a rules source's
 * image lives (next to the state file), what a source is now (its stat, or
 * the hash of inline JSON), mapping an image read-only and publishing one.
 *
 * An image file is made whole under a temporary name and renamed into
 * place, so a reader sees the old image or the new one, never half of one;
 * racing publishers of one source write equal images and the last rename
 * wins. A file is used only when it is regular, not a symbolic link, owned
 * by the effective user and writable by nobody else; a mapped image is
 * guarded against SIGBUS (sigbus.h): truncated under the process, it turns
 * to zero pages and is marked lost. A mapped image stays valid when its
 * file is replaced or removed. */
#ifndef FUSEBOX_IMAGE_FILE_H
#define FUSEBOX_IMAGE_FILE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include "image_layout.h"
#include "match.h"

#define IMAGE_PATH_MAX 4096
#define IMAGE_SUFFIX ".rules-" /* STATE.rules-UID-KEY */

/* An image mapped read-only (or, when none could be published, in this
 * process's heap). Copied elsewhere, it needs image_rehome there. */
struct image_map {
    void *base;
    size_t len;
    struct matcher matcher; /* its view */
    _Atomic bool lost;      /* truncated under this process: zero pages now */
    bool in_heap;           /* base is malloc'd, not mapped */
};

/* Whether spec (as FUSEBOX_RULES holds it) is inline JSON rather than a path. */
bool image_spec_is_inline(const char *spec);

/* Fills *out with what spec is now: a file's stat, or inline JSON's hash.
 * Returns false (errno from stat) when the file cannot be stat'ed. */
bool image_source_now(const char *spec, struct image_source *out);

/* Writes the path of spec's image for the state file state_path into out
 * (size bytes): "STATE.rules-EUID-KEY", KEY a hash of the absolute path of
 * the rules file or of the inline JSON. Returns false when it does not fit
 * (or the working directory of a relative path is unknown). */
bool image_path(const char *state_path, const char *spec, char *out, size_t size);

/* Maps the image at path into *map (its lost flag set up, its view
 * checked). Returns false with the reason in why (why_size bytes): "no
 * such file" (errno ENOENT), a refusal ("a symbolic link", "owned by
 * another user", "writable by group or others", "not a regular file") or
 * image_view's reason. */
bool image_map(const char *path, struct image_map *map, char *why, size_t why_size);

/* Guards the mapping of *map again at map's own address, after the struct
 * was copied there (the guard sets the lost flag of one struct). */
void image_rehome(struct image_map *map);

/* Unmaps a mapped image (frees one in the heap); base NULL: nothing. */
void image_unmap(struct image_map *map);

/* Removes the effective user's images for the state file state_path, but
 * keep (NULL: none), that were compiled before before_wall_ms (ms since the
 * epoch): programs that have one mapped go on with it, new ones compile
 * their rules again. Calls removed(path) for each. Returns how many it
 * removed. */
unsigned image_remove_others(const char *state_path, const char *keep, uint64_t before_wall_ms,
                             void (*removed)(const char *path));

/* Writes the len bytes of image to path atomically, mode 0600. Returns
 * false with errno (the temporary file is removed). */
bool image_publish(const char *path, const void *image, size_t len);

#endif
