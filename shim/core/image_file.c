#include "image_file.h"

#include <dirent.h>
#include <errno.h>
#include <libgen.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "image.h"
#include "sigbus.h"
#include "temp_file.h"

#define FNV64_BASIS 14695981039346656037ull
#define FNV64_PRIME 1099511628211ull

static uint64_t fnv64(uint64_t hash, const char *s)
{
    for (; *s; s++)
        hash = (hash ^ (unsigned char)*s) * FNV64_PRIME;
    return hash;
}

bool image_spec_is_inline(const char *spec)
{
    return spec[strspn(spec, " \t\r\n")] == '{';
}

bool image_source_now(const char *spec, struct image_source *out)
{
    struct stat st;
    *out = (struct image_source){0};
    if (image_spec_is_inline(spec)) {
        out->text_hash = fnv64(FNV64_BASIS, spec) | 1u;
        return true;
    }
    if (stat(spec, &st) != 0)
        return false;
    *out = (struct image_source){
        .dev = (uint64_t)st.st_dev,
        .ino = (uint64_t)st.st_ino,
        .size = (uint64_t)st.st_size,
        .mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec,
        .ctime_ns = (int64_t)st.st_ctim.tv_sec * 1000000000 + st.st_ctim.tv_nsec,
    };
    return true;
}

bool image_path(const char *state_path, const char *spec, char *out, size_t size)
{
    uint64_t key = FNV64_BASIS;
    if (!image_spec_is_inline(spec) && spec[0] != '/') {
        char cwd[PATH_MAX];
        if (!getcwd(cwd, sizeof cwd))
            return false;
        key = fnv64(fnv64(key, cwd), "/");
    }
    key = fnv64(key, spec);
    int n = snprintf(out, size, "%s" IMAGE_SUFFIX "%u-%016llx", state_path, (unsigned)geteuid(),
                     (unsigned long long)key);
    return n > 0 && (size_t)n < size;
}

/* Returns NULL when fstat's sb is an image file this user may trust, else
 * the reason. */
static const char *refusal(const struct stat *sb)
{
    if (!S_ISREG(sb->st_mode))
        return "not a regular file";
    if (sb->st_uid != geteuid())
        return "owned by another user";
    if (sb->st_mode & 022)
        return "writable by group or others";
    return NULL;
}

bool image_map(const char *path, struct image_map *map, char *why, size_t why_size)
{
    struct stat sb;
    const char *refused = NULL, *bad = NULL;
    *map = (struct image_map){0};
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    if (fd < 0) {
        int err = errno;
        snprintf(why, why_size, "%s", err == ELOOP ? "a symbolic link" : strerror(err));
        errno = err;
        return false;
    }
    if (fstat(fd, &sb) != 0)
        refused = strerror(errno);
    else if (!(refused = refusal(&sb)) && (sb.st_size < (off_t)sizeof(struct image_header)))
        refused = "truncated";
    void *base = MAP_FAILED;
    if (!refused) {
        base = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_SHARED, fd, 0);
        if (base == MAP_FAILED)
            refused = strerror(errno);
    }
    close(fd);
    if (!refused) {
        map->base = base;
        map->len = (size_t)sb.st_size;
        if (!sigbus_guard(base, map->len, &map->lost))
            refused = "cannot guard its mapping";
        else if (!image_view(base, map->len, &map->matcher, &bad))
            refused = bad;
    }
    if (refused) {
        snprintf(why, why_size, "%s", refused);
        if (map->base)
            image_unmap(map);
        else if (base != MAP_FAILED)
            munmap(base, (size_t)sb.st_size);
        *map = (struct image_map){0};
        errno = EINVAL;
        return false;
    }
    return true;
}

void image_rehome(struct image_map *map)
{
    if (!map->base || map->in_heap)
        return;
    sigbus_unguard(map->base);
    atomic_store(&map->lost, false);
    sigbus_guard(map->base, map->len, &map->lost);
}

void image_unmap(struct image_map *map)
{
    if (!map->base)
        return;
    if (map->in_heap) {
        free(map->base);
    } else {
        sigbus_unguard(map->base);
        munmap(map->base, map->len);
    }
    map->base = NULL;
}

bool image_publish(const char *path, const void *image, size_t len)
{
    char tmp[IMAGE_PATH_MAX + 8];
    if (snprintf(tmp, sizeof tmp, "%s.XXXXXX", path) >= (int)sizeof tmp) {
        errno = ENAMETOOLONG;
        return false;
    }
    int fd = temp_file_create(tmp);
    if (fd < 0)
        return false;
    int err = fchmod(fd, 0600) == 0 ? 0 : errno;
    for (size_t done = 0; err == 0 && done < len;) {
        ssize_t n = write(fd, (const char *)image + done, len - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            err = n < 0 ? errno : EIO;
        else
            done += (size_t)n;
    }
    if (close(fd) != 0 && err == 0)
        err = errno;
    if (err == 0 && rename(tmp, path) != 0)
        err = errno;
    if (err != 0)
        unlink(tmp);
    errno = err;
    return err == 0;
}

unsigned image_remove_others(const char *state_path, const char *keep, uint64_t before_wall_ms,
                             void (*removed)(const char *path))
{
    char dir_buf[IMAGE_PATH_MAX], base_buf[IMAGE_PATH_MAX], prefix[IMAGE_PATH_MAX];
    char path[IMAGE_PATH_MAX];
    unsigned count = 0;
    snprintf(dir_buf, sizeof dir_buf, "%s", state_path);
    snprintf(base_buf, sizeof base_buf, "%s", state_path);
    const char *dir = dirname(dir_buf);
    int n = snprintf(prefix, sizeof prefix, "%s" IMAGE_SUFFIX "%u-", basename(base_buf),
                     (unsigned)geteuid());
    DIR *d = n > 0 && (size_t)n < sizeof prefix ? opendir(dir) : NULL;
    if (!d)
        return 0;
    for (struct dirent *e; (e = readdir(d));) {
        struct stat sb;
        if (strncmp(e->d_name, prefix, (size_t)n) != 0 ||
            snprintf(path, sizeof path, "%s/%s", dir, e->d_name) >= (int)sizeof path ||
            (keep && strcmp(path, keep) == 0) || lstat(path, &sb) != 0 || refusal(&sb))
            continue;
        uint64_t mtime_ms =
            (uint64_t)sb.st_mtim.tv_sec * 1000u + (uint64_t)sb.st_mtim.tv_nsec / 1000000u;
        if (mtime_ms < before_wall_ms && unlink(path) == 0) {
            count++;
            if (removed)
                removed(path);
        }
    }
    closedir(d);
    return count;
}
