#include "sync_rules.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void rules_follow_init(struct rules_follow *f, const char *spec, bool system, uint64_t now)
{
    memset(f, 0, sizeof *f);
    f->spec = spec && *spec ? spec : NULL;
    f->system = system;
    f->file = f->spec && f->spec[strspn(f->spec, " \t\r\n")] != '{';
    f->missing = f->file && stat(f->spec, &f->seen) != 0;
    f->check_at = now + SYNC_RULES_CHECK_MS;
}

static bool same_file(const struct stat *x, const struct stat *y)
{
    return x->st_dev == y->st_dev && x->st_ino == y->st_ino && x->st_size == y->st_size &&
           x->st_mtim.tv_sec == y->st_mtim.tv_sec && x->st_mtim.tv_nsec == y->st_mtim.tv_nsec;
}

struct rules *rules_follow_check(struct rules_follow *f, uint64_t now, bool asked, char *why,
                                 size_t len)
{
    why[0] = '\0';
    if (!asked && now < f->check_at)
        return NULL;
    f->check_at = now + SYNC_RULES_CHECK_MS;
    if (!f->file) {
        if (asked)
            snprintf(why, len, "%s: nothing to reload",
                     f->spec ? "the rules are inline JSON" : "no rules file");
        return NULL;
    }
    struct stat st;
    if (stat(f->spec, &st) != 0) {
        if (asked || !f->missing)
            snprintf(why, len, "rules %s: %s; keeping the last good rules", f->spec,
                     strerror(errno));
        f->missing = true;
        return NULL;
    }
    bool changed = f->missing || !same_file(&st, &f->seen);
    f->missing = false;
    f->seen = st;
    if (!changed && !asked)
        return NULL;
    char *errors = NULL;
    struct rules *fresh =
        f->system ? rules_load_system(f->spec, true, &errors) : rules_load(f->spec, &errors);
    if (!fresh)
        snprintf(why, len, "rules not reloaded, keeping the last good ones: %.*s",
                 errors ? (int)strcspn(errors, "\n") : 13, errors ? errors : "out of memory");
    free(errors);
    return fresh;
}
