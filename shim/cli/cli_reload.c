/* fusebox reload, and what status says of the rules: compiles the rules
 * into the image every process maps (image_load.h) and has running
 * processes look at their rules at once; tells whether the rules in force
 * are the file's. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "image_load.h"

static const char reload_usage[] =
    "usage: fusebox reload [-r RULES] [-s STATE]\n"
    "\n"
    "Compiles RULES (default: $FUSEBOX_RULES, else " RULES_SYSTEM_PATH ") for the\n"
    "programs that use STATE and has those running look at their rules now\n"
    "rather than within the second. Rules that do not compile are reported as\n"
    "FILE:LINE:COL: message (exit 1); processes keep the last good rules and\n"
    "warn of the problem now.\n"
    "\n"
    "  -r, --rules RULES   rules (default: $FUSEBOX_RULES, else " RULES_SYSTEM_PATH ")\n"
    "  -s, --state STATE   state file (default: $FUSEBOX_STATE, else per-user default)\n"
    "  -h, --help          show this help\n";

/* Writes when the image in map was compiled, local time, into buf. */
static const char *compiled_at(const struct image_map *map, char *buf, size_t size)
{
    time_t t = (time_t)(map->matcher.header->compiled_wall_ms / 1000);
    struct tm tm;
    if (!localtime_r(&t, &tm) || strftime(buf, size, "%Y-%m-%d %H:%M:%S", &tm) == 0)
        snprintf(buf, size, "?");
    return buf;
}

int cmd_reload(int argc, char **argv)
{
    const char *state_option = NULL, *rules_option = NULL;
    const struct cli_option opts[] = {{"rules", 'r', NULL, &rules_option}, {0}};
    int done = cli_parse_options(argc, argv, reload_usage, opts, &state_option);
    if (done >= 0)
        return done;
    if (optind != argc) {
        cli_error("reload: unexpected argument '%s'", argv[optind]);
        return EXIT_USAGE;
    }
    bool system;
    const char *spec = cli_rules_spec(rules_option, &system);
    char path[PATH_MAX], when[32];
    struct state *st;
    if (!spec) {
        cli_error("reload: no rules (-r RULES, $FUSEBOX_RULES or " RULES_SYSTEM_PATH ")");
        return EXIT_USAGE;
    }
    if (!cli_open_state(state_option, true, path, &st))
        return EXIT_BAD_INPUT;
    struct image_load l;
    bool usable = image_load(spec, system, path, &l);
    atomic_fetch_add(&st->header->rules_reloads, 1); /* broken rules too: warned of at once */
    if (l.freshness == IMAGE_CURRENT) {
        uint32_t b = l.map.matcher.breaker_count, p = l.map.matcher.pattern_count;
        printf("%s: compiled, %u breaker%s, %u host pattern%s; running programs take them now\n",
               spec, b, b == 1 ? "" : "s", p, p == 1 ? "" : "s");
        if (l.image_problem)
            cli_error("%s: %s", l.image_path, l.image_problem);
    } else {
        fputs(l.errors ? l.errors : "fusebox: out of memory\n", stderr);
        if (usable)
            cli_error("%s does not compile; processes keep the last good rules, compiled %s", spec,
                      compiled_at(&l.map, when, sizeof when));
        else
            cli_error("%s does not compile, and there are no earlier rules: programs started "
                      "now run unprotected",
                      spec);
    }
    image_load_release(&l, true);
    state_close(st);
    return l.freshness == IMAGE_CURRENT ? EXIT_OK : EXIT_BAD_INPUT;
}

void cli_rules_line(FILE *out, const char *spec, bool system, const char *state_path)
{
    char where[IMAGE_PATH_MAX], why[128], when[32];
    struct image_map map;
    struct image_source now;
    bool stated = image_source_now(spec, &now);
    if (!image_path(state_path, spec, where, sizeof where) ||
        !image_map(where, &map, why, sizeof why)) {
        fprintf(out, "rules: %s (not compiled yet: no program has used them)\n", spec);
        return;
    }
    compiled_at(&map, when, sizeof when);
    if (stated && image_load_is_current(&map, &now)) {
        fprintf(out, "rules: %s, compiled %s\n", spec, when);
    } else {
        char *errors = NULL;
        struct rules *r =
            system ? rules_load_system(spec, false, &errors) : rules_load_unplaced(spec, &errors);
        const char *first = errors ? errors : "out of memory";
        if (!r)
            fprintf(out,
                    "rules: the live rules are not %s's: it does not compile (%.*s); "
                    "programs use the last good rules, compiled %s\n",
                    spec, (int)strcspn(first, "\n"), first, when);
        else
            fprintf(out,
                    "rules: %s changed since compiled %s; programs take it up within a "
                    "second (fusebox reload: at once)\n",
                    spec, when);
        rules_free(r);
        free(errors);
    }
    image_unmap(&map);
}
