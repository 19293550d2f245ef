/* fusebox fsck (and status --verify): check every invariant of the state file. */
#include <stdio.h>
#include <unistd.h>

#include "cli.h"
#include "state_check.h"

static const char fsck_usage[] =
    "usage: fusebox fsck [-s STATE]\n"
    "\n"
    "Checks the state file: header (magic, layout version, sizes), owner and mode,\n"
    "every slot (name, key, state word, counters) and the event ring. Prints each\n"
    "problem and exits 1, or prints \"ok: N breakers, M events\". A broken file is\n"
    "replaced by a fresh one with `fusebox reset --all --recreate`.\n"
    "\n"
    "  -s, --state STATE   state file (default: $FUSEBOX_STATE, else per-user default)\n"
    "  -h, --help          show this help\n";

/* Prints one problem on stdout. */
static void print_problem(void *ctx, const char *problem)
{
    (void)ctx;
    printf("%s\n", problem);
}

int cli_fsck(const char *state_option)
{
    char path[PATH_MAX];
    if (!cli_state_path(state_option, path))
        return EXIT_BAD_INPUT;
    struct state_census census;
    size_t problems = state_check_file(path, print_problem, NULL, &census);
    if (problems) {
        cli_error("fsck: %zu problem%s in %s (fusebox reset --all --recreate replaces it)",
                  problems, problems == 1 ? "" : "s", path);
        return EXIT_BAD_INPUT;
    }
    printf("ok: %zu breaker%s, %zu event%s\n", census.breakers, census.breakers == 1 ? "" : "s",
           census.events, census.events == 1 ? "" : "s");
    return EXIT_OK;
}

int cmd_fsck(int argc, char **argv)
{
    const char *state_option = NULL;
    int done = cli_parse_options(argc, argv, fsck_usage, NULL, &state_option);
    if (done >= 0)
        return done;
    if (optind != argc) {
        cli_error("fsck: unexpected argument");
        fputs(fsck_usage, stderr);
        return EXIT_USAGE;
    }
    return cli_fsck(state_option);
}
