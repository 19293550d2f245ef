/* fusebox reset: close breakers and zero their counters. */
#include <stdio.h>
#include <unistd.h>

#include "cli.h"
#include "clock.h"

static const char reset_usage[] =
    "usage: fusebox reset [-s STATE] NAME... | --all [--recreate]\n"
    "\n"
    "Closes the named breakers (or all of them) and zeroes their counters.\n"
    "Each reset is recorded as an event. With --recreate, the state file (even one\n"
    "that is broken, of another layout, a symlink or a FIFO) is replaced by a fresh\n"
    "one; running programs keep the old one until they exit.\n"
    "\n"
    "  -s, --state STATE   state file (default: $FUSEBOX_STATE, else per-user default)\n"
    "  -a, --all           reset every breaker\n"
    "  -R, --recreate      with --all: replace the state file by a fresh one\n"
    "  -h, --help          show this help\n";

static void reset_slot(struct state *st, struct state_slot *slot)
{
    struct breaker_transition tr;
    uint64_t wall = clock_wall_ms();
    breaker_reset(&slot->breaker, &tr);
    breaker_date(&slot->breaker, &tr, wall);
    state_append_event(st, slot, &tr, wall);
}

static int reset_all(struct state *st)
{
    char name[STATE_NAME_MAX];
    int n = 0;
    for (uint32_t i = 0; st && i < STATE_SLOTS; i++) {
        if (state_slot_name(&st->slots[i], name)) {
            reset_slot(st, &st->slots[i]);
            n++;
        }
    }
    printf("reset %d breaker%s\n", n, n == 1 ? "" : "s");
    return EXIT_OK;
}

static int reset_named(struct state *st, const char *path, char **names, int count)
{
    int status = EXIT_OK;
    for (int i = 0; i < count; i++) {
        struct state_slot *slot = st ? state_find_slot(st, names[i], false) : NULL;
        if (!slot) {
            cli_error("reset: no breaker named '%s' in %s", names[i], path);
            status = EXIT_BAD_INPUT;
            continue;
        }
        reset_slot(st, slot);
        printf("reset %s\n", names[i]);
    }
    return status;
}

/* Replaces the state file by a fresh one. */
static int recreate_file(const char *state_option, char path[PATH_MAX])
{
    char err[PATH_MAX + 128];
    if (!cli_state_path(state_option, path))
        return EXIT_BAD_INPUT;
    if (state_recreate(path, err, sizeof err) != 0) {
        cli_error("reset: %s", err);
        return EXIT_BAD_INPUT;
    }
    printf("recreated %s\n", path);
    return EXIT_OK;
}

int cmd_reset(int argc, char **argv)
{
    const char *state_option = NULL;
    bool all = false, recreate = false;
    const struct cli_option opts[] = {
        {"all", 'a', &all, NULL}, {"recreate", 'R', &recreate, NULL}, {0}};
    int done = cli_parse_options(argc, argv, reset_usage, opts, &state_option);
    if (done >= 0)
        return done;
    if (all == (optind < argc)) {
        cli_error("reset: give breaker names or --all, not both or neither");
        fputs(reset_usage, stderr);
        return EXIT_USAGE;
    }
    if (recreate && !all) {
        cli_error("reset: --recreate goes with --all");
        return EXIT_USAGE;
    }
    char path[PATH_MAX];
    if (recreate)
        return recreate_file(state_option, path);
    struct state *st;
    if (!cli_open_state(state_option, false, path, &st))
        return EXIT_BAD_INPUT;
    int status = all ? reset_all(st) : reset_named(st, path, argv + optind, argc - optind);
    state_close(st);
    return status;
}
