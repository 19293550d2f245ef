/* sync_rules.h — how the fleet agent follows its rules file: one stat a
 * second (SYNC_RULES_CHECK_MS), and at once when asked (SIGHUP). A file
 * whose device, inode, size or modification time changed is loaded again;
 * one that does not load leaves the last good rules in force, with one
 * warning per change. Inline JSON (FUSEBOX_RULES starting with '{') has
 * nothing to follow. No logging here: the caller says what it is told. */
#ifndef FUSEBOX_SYNC_RULES_H
#define FUSEBOX_SYNC_RULES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include "rules.h"

#define SYNC_RULES_CHECK_MS 1000u

struct rules_follow {
    const char *spec; /* the rules as given (-r, FUSEBOX_RULES); NULL: none */
    bool file;        /* spec is a path, not inline JSON */
    bool system;      /* spec is the system rules file (root's, checked as the shim does) */
    bool missing;     /* the last stat failed (said once) */
    struct stat seen; /* the file as last loaded or tried */
    uint64_t check_at;
};

/* Starts following spec (may be NULL; system: it is RULES_SYSTEM_PATH, as
 * cli_rules_spec chose it) at now (CLOCK_MONOTONIC ms): takes the file's
 * identity, so call it before the first load. */
void rules_follow_init(struct rules_follow *f, const char *spec, bool system, uint64_t now);

/* Checks the file when due (now past the last check by SYNC_RULES_CHECK_MS)
 * or asked. Returns the rules loaded from it (rules_free them) when it
 * changed, or when asked; NULL otherwise. why (len bytes) is set to a
 * one-line warning when there is one to give (the file vanished, does not
 * load: its first problem, with file:line:col; asked but inline), else "". */
struct rules *rules_follow_check(struct rules_follow *f, uint64_t now, bool asked, char *why,
                                 size_t len);

#endif
