/* fusebox open / close / disable / enable: an operator forces a breaker's
 * state. Each change is an event; a breaker no process has used yet gets its
 * slot now, so it can be opened before the program that needs it runs. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "clock.h"
#include "fleet.h"

static const char force_usage[] =
    "usage: fusebox open NAME... [--for DURATION] [--fleet [--redis URL]]   fail every call\n"
    "       fusebox close NAME...                    close, clearing the failure count\n"
    "       fusebox disable NAME...                  let everything through, record nothing\n"
    "       fusebox enable NAME...                   back to normal (closed)\n"
    "\n"
    "Forces the state of breakers in the shared state file (creating it, and\n"
    "the breakers, when missing). An open breaker without --for stays open\n"
    "until closed or enabled; with --for it probes again once the time is up.\n"
    "DURATION is seconds, or a number with ms, s, m, h or d.\n"
    "\n"
    "  -f, --for DURATION  (open) how long to stay open\n"
    "  -F, --fleet         (open) open it on every host: sent to the fleet agents\n"
    "                      (fusebox sync) through Redis, this host's included\n"
    "  -R, --redis URL     (open --fleet) redis://… (default: $FUSEBOX_REDIS)\n"
    "  -N, --namespace NS  (open --fleet) the agents' namespace (default: fusebox)\n"
    "  -s, --state STATE   state file (default: $FUSEBOX_STATE, else per-user default)\n"
    "  -h, --help          show this help\n";

/* fusebox open NAME... --fleet: asks every fleet agent to force the
 * breakers open (the local one included, when it runs). */
static int open_on_fleet(int argc, char **argv, const char *redis, const char *ns, uint64_t for_ms)
{
    for (int i = optind; i < argc; i++) {
        long long agents = 0;
        int status = cli_fleet_force_open(redis, ns, argv[i], for_ms, &agents);
        if (status != EXIT_OK)
            return status;
        printf("%s: forced_open sent to the fleet (%lld agent%s)\n", argv[i], agents,
               agents == 1 ? "" : "s");
    }
    return EXIT_OK;
}

/* Sets every named breaker to target (forced open until until_ms, 0 = for
 * ever), recording an event for each. */
static int force(int argc, char **argv, const char *verb, enum breaker_state target)
{
    const char *state_option = NULL, *for_text = NULL, *redis = NULL, *ns = NULL;
    bool fleet = false;
    const struct cli_option open_opts[] = {{"for", 'f', NULL, &for_text},
                                           {"fleet", 'F', &fleet, NULL},
                                           {"redis", 'R', NULL, &redis},
                                           {"namespace", 'N', NULL, &ns},
                                           {0}};
    bool opening = target == BREAKER_FORCED_OPEN;
    int done =
        cli_parse_options(argc, argv, force_usage, opening ? open_opts : NULL, &state_option);
    if (done >= 0)
        return done;
    uint64_t for_ms = 0;
    if (for_text && (!cli_parse_duration(for_text, &for_ms) || for_ms == 0)) {
        cli_error("%s: --for %s: not a duration (e.g. 90, 1.5s, 10m, 2h)", verb, for_text);
        return EXIT_USAGE;
    }
    if (optind >= argc) {
        cli_error("%s: give the name of a breaker", verb);
        fputs(force_usage, stderr);
        return EXIT_USAGE;
    }
    if (fleet)
        return open_on_fleet(argc, argv, redis ? redis : getenv("FUSEBOX_REDIS"),
                             ns ? ns : FLEET_DEFAULT_NAMESPACE, for_ms);
    char path[PATH_MAX];
    struct state *st;
    if (!cli_open_state(state_option, true, path, &st))
        return EXIT_BAD_INPUT;
    int status = EXIT_OK;
    for (int i = optind; i < argc; i++) {
        struct state_slot *slot = NULL;
        if (strlen(argv[i]) >= STATE_NAME_MAX || argv[i][0] == '\0')
            cli_error("%s: '%s': a breaker name is 1 to %u bytes", verb, argv[i],
                      STATE_NAME_MAX - 1);
        else if (!(slot = state_find_slot(st, argv[i], true)))
            cli_error("%s: %s has no free slot for '%s'", verb, path, argv[i]);
        if (!slot) {
            status = EXIT_BAD_INPUT;
            continue;
        }
        struct breaker_transition tr;
        uint64_t wall = clock_wall_ms();
        breaker_force(&slot->breaker, target, for_ms ? clock_now_ms() + for_ms : 0, &tr);
        breaker_date(&slot->breaker, &tr, wall);
        state_append_event(st, slot, &tr, wall);
        if (for_ms)
            printf("%s: %s for %.1fs\n", argv[i], breaker_state_name(target), for_ms / 1000.0);
        else
            printf("%s: %s\n", argv[i], breaker_state_name(target));
    }
    state_close(st);
    return status;
}

int cmd_open(int argc, char **argv)
{
    return force(argc, argv, "open", BREAKER_FORCED_OPEN);
}

int cmd_close(int argc, char **argv)
{
    return force(argc, argv, "close", BREAKER_CLOSED);
}

int cmd_disable(int argc, char **argv)
{
    return force(argc, argv, "disable", BREAKER_DISABLED);
}

int cmd_enable(int argc, char **argv)
{
    return force(argc, argv, "enable", BREAKER_CLOSED);
}
