/* fusebox gc: give back the slots of breakers that no rule names any more
 * and that nobody has used for a while (state_reclaim does the giving back,
 * with the kill -9 discipline of per-host eviction). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "clock.h"
#include "image_file.h"
#include "rules.h"

static const char gc_usage[] =
    "usage: fusebox gc [-s STATE] [-r RULES] [--idle DURATION]\n"
    "\n"
    "Gives back the slots of the state file's breakers that no rule of RULES names\n"
    "(a per_host rule names its hosts' breakers NAME/host:port too) and that were not\n"
    "used for DURATION: no call counted, no transition, no program beginning to use\n"
    "them. Prints each breaker it removed. Breakers forced open or disabled are kept\n"
    "(fusebox close or enable them first). Calls are seen by their counts, which each\n"
    "run notes: a breaker no run saw before counts as used now, so run it daily (a\n"
    "timer) or give --idle 0, which removes every breaker that no rule names at once.\n"
    "Give the rules of every program that uses the state file. Compiled rules of\n"
    "this user for the state file, but those of RULES, compiled more than DURATION\n"
    "ago are removed too (programs compile theirs again when they next start).\n"
    "\n"
    "  -r, --rules RULES       rules file or inline JSON (default: $FUSEBOX_RULES)\n"
    "  -i, --idle DURATION     unused this long (default 1d; 90, 1.5s, 10m, 2h, 0)\n"
    "  -s, --state STATE       state file (default: $FUSEBOX_STATE, else per-user default)\n"
    "  -h, --help              show this help\n";

/* True when a rule names the breaker: its own name, or NAME/host:port under
 * a per_host rule NAME. */
static bool in_rules(const struct rules *r, const char *name)
{
    for (size_t i = 0; i < r->breaker_count; i++) {
        const struct rule_breaker *b = &r->breakers[i];
        size_t len = strlen(b->name);
        if (strncmp(name, b->name, len) == 0 &&
            (name[len] == '\0' || (b->per_host && name[len] == '/')))
            return true;
    }
    return false;
}

/* What one run did. */
struct gc_tally {
    unsigned removed, used, operator, ruled, free_slots;
};

/* Looks at slot i: counts it, and gives it back when it is in no rule and idle. */
static void collect_slot(struct state *st, uint32_t i, const struct rules *r, uint64_t idle_ms,
                         struct gc_tally *t)
{
    struct state_slot *slot = &st->slots[i];
    char name[STATE_NAME_MAX];
    if (!state_slot_name(slot, name)) {
        uint64_t key = atomic_load_explicit(&slot->key, memory_order_acquire);
        t->free_slots += key == 0 || key == STATE_KEY_TOMBSTONE;
        return;
    }
    if (in_rules(r, name)) {
        t->ruled++;
        return;
    }
    switch (state_reclaim(slot, state_name_hash(name), idle_ms, clock_wall_ms())) {
    case STATE_RECLAIMED:
        printf("removed %s\n", name);
        t->removed++;
        t->free_slots++;
        break;
    case STATE_KEPT_USED:
        t->used++;
        break;
    case STATE_KEPT_OPERATOR:
        printf("kept %s: %s by an operator\n", name,
               breaker_state_name(breaker_view(&slot->breaker).state));
        t->operator++;
        break;
    case STATE_KEPT_GONE:
        break;
    }
}

static void print_removed_image(const char *path)
{
    printf("removed compiled rules %s\n", path);
}

/* Removes the state file path's compiled rules but spec's, compiled over
 * idle_ms ago. */
static void collect_images(const char *path, const char *spec, uint64_t idle_ms)
{
    char keep[IMAGE_PATH_MAX];
    bool kept = image_path(path, spec, keep, sizeof keep);
    image_remove_others(path, kept ? keep : NULL, clock_wall_ms() - idle_ms, print_removed_image);
}

/* Runs gc over the state file with rules r; returns the exit status. */
static int collect(const char *state_option, const char *spec, const struct rules *r,
                   uint64_t idle_ms, const char *idle_text)
{
    char path[PATH_MAX];
    struct state *st;
    if (!cli_open_state(state_option, false, path, &st))
        return EXIT_BAD_INPUT;
    collect_images(path, spec, idle_ms);
    if (!st) {
        printf("gc: no state file %s: nothing to do\n", path);
        return EXIT_OK;
    }
    struct gc_tally t = {0};
    for (uint32_t i = 0; i < STATE_SLOTS; i++)
        collect_slot(st, i, r, idle_ms, &t);
    state_close(st);
    printf("gc: removed %u breaker%s in no rule of %s; kept %u in the rules, %u in no rule but "
           "used within %s, %u forced or disabled; %u of %u slots free\n",
           t.removed, t.removed == 1 ? "" : "s", r->source, t.ruled, t.used, idle_text, t.operator,
           t.free_slots, STATE_SLOTS);
    return EXIT_OK;
}

int cmd_gc(int argc, char **argv)
{
    const char *state_option = NULL, *rules_spec = getenv("FUSEBOX_RULES"), *idle_text = "1d";
    const struct cli_option opts[] = {
        {"rules", 'r', NULL, &rules_spec}, {"idle", 'i', NULL, &idle_text}, {0}};
    int done = cli_parse_options(argc, argv, gc_usage, opts, &state_option);
    if (done >= 0)
        return done;
    uint64_t idle_ms;
    if (optind != argc) {
        cli_error("gc: unexpected argument '%s'", argv[optind]);
        return EXIT_USAGE;
    }
    if (!cli_parse_duration(idle_text, &idle_ms)) {
        cli_error("gc: --idle %s: not a duration (e.g. 90, 1.5s, 10m, 2h, 1d)", idle_text);
        return EXIT_USAGE;
    }
    if (!rules_spec || !*rules_spec) {
        cli_error("gc: no rules: give -r RULES or set FUSEBOX_RULES (gc removes only breakers "
                  "that no rule names)");
        return EXIT_USAGE;
    }
    char *errors = NULL;
    struct rules *r = rules_load(rules_spec, &errors);
    if (!r) {
        fputs(errors ? errors : "fusebox: gc: out of memory\n", stderr);
        free(errors);
        return EXIT_BAD_INPUT;
    }
    int status = collect(state_option, rules_spec, r, idle_ms, idle_text);
    rules_free(r);
    return status;
}
