/* fusebox status: every breaker of the state file, as a table or JSON. */
#include <stdio.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "clock.h"

static const char status_usage[] =
    "usage: fusebox status [-s STATE] [-r RULES] [--json | --watch | --verify]\n"
    "       fusebox status --all [--json]\n"
    "\n"
    "Shows every breaker in the shared state file: state, consecutive failures\n"
    "/ fail_max, calls, successes, failures, rejected calls, calls sent to its\n"
    "fallback, trips and the time left before the next probe. States are\n"
    "coloured on a terminal (not when piped, nor when NO_COLOR is set). A last\n"
    "line says whether the rules in force are RULES's, and when they were\n"
    "compiled; rules that no longer compile are named with their first problem.\n"
    "\n"
    "  -s, --state STATE   state file (default: $FUSEBOX_STATE, else per-user default)\n"
    "  -r, --rules RULES   rules (default: $FUSEBOX_RULES, else " RULES_SYSTEM_PATH ")\n"
    "  -j, --json          print JSON instead of a table\n"
    "  -w, --watch         redraw the table every second until interrupted\n"
    "  -V, --verify        check the state file instead (as fusebox fsck)\n"
    "  -a, --all           every state file in the usual places that this user can\n"
    "                      read (all users' for root), each with its owner\n"
    "  -h, --help          show this help\n";

/* The escape sequence that colours a state, or "" when colour is off. */
static const char *colour_of(enum breaker_state s, bool colour)
{
    static const char *const colours[] = {
        [BREAKER_CLOSED] = "\033[32m",    [BREAKER_OPEN] = "\033[31m",
        [BREAKER_HALF_OPEN] = "\033[33m", [BREAKER_FORCED_OPEN] = "\033[1;31m",
        [BREAKER_DISABLED] = "\033[2m",   [BREAKER_FLEET_OPEN] = "\033[35m",
    };
    return colour && (unsigned)s < sizeof colours / sizeof colours[0] ? colours[s] : "";
}

void cli_breaker_json(FILE *out, const struct breaker_row *r)
{
    fprintf(out, "{\"name\": ");
    cli_json_string_to(out, r->name);
    fprintf(out,
            ", \"state\": \"%s\", \"consecutive_failures\": %u, "
            "\"calls\": %llu, \"successes\": %llu, \"failures\": %llu, \"rejected\": %llu, "
            "\"fallbacks\": %llu, \"trips\": %llu, \"opened_at\": ",
            breaker_state_name(r->view.state), r->consecutive, cli_row_calls(r),
            (unsigned long long)r->successes, (unsigned long long)r->failures,
            (unsigned long long)r->rejected, (unsigned long long)r->fallbacks,
            (unsigned long long)r->trips);
    char when[32];
    if (cli_is_open(r->view.state) && r->opened_at_wall) {
        cli_iso8601(r->opened_at_wall, when);
        fprintf(out, "\"%s\"", when);
    } else {
        fprintf(out, "null");
    }
    if (r->retry_in_ms >= 0)
        fprintf(out, ", \"retry_in_ms\": %lld", r->retry_in_ms);
    else
        fprintf(out, ", \"retry_in_ms\": null");
    cli_fleet_breaker_json(out, r);
    fputc('}', out);
}

void cli_breakers_json(FILE *out, const struct breaker_row *rows, size_t n)
{
    fputc('[', out);
    for (size_t i = 0; i < n; i++) {
        fputs(i ? ", " : "", out);
        cli_breaker_json(out, &rows[i]);
    }
    fputc(']', out);
}

void cli_status_json(FILE *out, const char *path, const struct breaker_row *rows, size_t n,
                     const struct fleet_agent_row *agent)
{
    fprintf(out, "{\"state_file\": ");
    cli_json_string_to(out, path);
    fprintf(out, ", \"breakers\": ");
    cli_breakers_json(out, rows, n);
    cli_fleet_agent_json(out, agent);
    fprintf(out, "}\n");
}

void cli_status_table(const char *label, const struct breaker_row *rows, size_t n, bool colour)
{
    size_t width = 7, open = 0;
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(rows[i].name);
        width = len > width ? len : width;
        open += cli_is_open(rows[i].view.state);
    }
    printf("state file: %s\n", label);
    if (n == 0) {
        printf("no breakers yet (a breaker appears when a ruled destination is first used)\n");
        return;
    }
    printf("%-*s  %-11s  %9s  %8s  %8s  %8s  %8s  %9s  %5s  %s\n", (int)width, "BREAKER", "STATE",
           "FAILS", "CALLS", "OK", "FAILED", "REJECTED", "FALLBACKS", "TRIPS", "RETRY IN");
    for (size_t i = 0; i < n; i++) {
        const struct breaker_row *r = &rows[i];
        char fails[24], retry[24] = "-";
        if (r->fail_max)
            snprintf(fails, sizeof fails, "%u/%u", r->consecutive, r->fail_max);
        else /* no process has used it yet: its policy is not known */
            snprintf(fails, sizeof fails, "%u/-", r->consecutive);
        bool forced = r->view.state == BREAKER_FORCED_OPEN;
        if (r->retry_in_ms >= 0)
            snprintf(retry, sizeof retry, forced ? "%.1fs left" : "%.1fs",
                     (double)r->retry_in_ms / 1000.0);
        else if (forced)
            snprintf(retry, sizeof retry, "until closed");
        const char *on = colour_of(r->view.state, colour), *off = *on ? "\033[0m" : "";
        printf("%-*s  %s%-11s%s  %9s  %8llu  %8llu  %8llu  %8llu  %9llu  %5llu  %s\n", (int)width,
               r->name, on, breaker_state_name(r->view.state), off, fails, cli_row_calls(r),
               (unsigned long long)r->successes, (unsigned long long)r->failures,
               (unsigned long long)r->rejected, (unsigned long long)r->fallbacks,
               (unsigned long long)r->trips, retry);
    }
    printf("%zu breaker%s: %zu open, %zu closed\n", n, n == 1 ? "" : "s", open, n - open);
}

/* Prints the state file once (and, in text, whether the rules in force are
 * rules_option's or the default rules'); false when it cannot be read. */
static bool show(const char *state_option, const char *rules_option, bool json, bool colour)
{
    char path[PATH_MAX];
    struct state *st;
    if (!cli_open_state(state_option, false, path, &st))
        return false;
    struct breaker_row *rows = NULL;
    size_t n = cli_read_rows(st, &rows);
    struct fleet_agent_row agent;
    cli_read_fleet_agent(st, &agent);
    if (json)
        cli_status_json(stdout, path, rows, n, &agent);
    else
        cli_status_table(path, rows, n, colour);
    if (!json) {
        cli_fleet_agent_text(stdout, &agent, rows, n);
        bool system;
        const char *spec = cli_rules_spec(rules_option, &system);
        if (spec)
            cli_rules_line(stdout, spec, system, path);
    }
    free(rows);
    state_close(st);
    return true;
}

int cmd_status(int argc, char **argv)
{
    const char *state_option = NULL, *rules_option = NULL;
    bool json = false, watch = false, verify = false, all = false;
    const struct cli_option opts[] = {
        {"json", 'j', &json, NULL},   {"rules", 'r', NULL, &rules_option},
        {"watch", 'w', &watch, NULL}, {"verify", 'V', &verify, NULL},
        {"all", 'a', &all, NULL},     {0}};
    int done = cli_parse_options(argc, argv, status_usage, opts, &state_option);
    if (done >= 0)
        return done;
    if (optind != argc || json + watch + verify > 1 || (all && (watch || verify || state_option))) {
        cli_error("status: %s", optind != argc ? "unexpected argument"
                                : all          ? "--all goes with --json only"
                                               : "--json, --watch and --verify do not go together");
        return EXIT_USAGE;
    }
    if (all)
        return cli_status_all(json);
    if (verify)
        return cli_fsck(state_option);
    bool colour = isatty(STDOUT_FILENO) && !getenv("NO_COLOR");
    if (!watch)
        return show(state_option, rules_option, json, colour) ? EXIT_OK : EXIT_BAD_INPUT;
    for (;;) {
        if (colour)
            fputs("\033[H\033[2J", stdout);
        if (!show(state_option, rules_option, false, colour))
            return EXIT_BAD_INPUT;
        fflush(stdout);
        sleep(1);
    }
}
