/* fusebox metrics: every breaker in the Prometheus text exposition format. */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "cli.h"

static const char metrics_usage[] =
    "usage: fusebox metrics [-s STATE]\n"
    "\n"
    "Prints every breaker of the state file in the Prometheus text format:\n"
    "fusebox_breaker_state, fusebox_calls_total, fusebox_fallbacks_total,\n"
    "fusebox_trips_total, fusebox_consecutive_failures and\n"
    "fusebox_open_seconds_remaining.\n"
    "\n"
    "  -s, --state STATE   state file (default: $FUSEBOX_STATE, else per-user default)\n"
    "  -h, --help          show this help\n";

/* Writes a label value, escaped as the exposition format requires. */
static void label_value(FILE *out, const char *s)
{
    putc('"', out);
    for (; *s; s++) {
        if (*s == '\\' || *s == '"')
            fprintf(out, "\\%c", *s);
        else if (*s == '\n')
            fputs("\\n", out);
        else
            putc(*s, out);
    }
    putc('"', out);
}

static void family(FILE *out, const char *name, const char *type, const char *help)
{
    fprintf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void sample(FILE *out, const char *name, const char *breaker, const char *label,
                   const char *value, double number)
{
    fprintf(out, "%s{breaker=", name);
    label_value(out, breaker);
    if (label)
        fprintf(out, ",%s=\"%s\"", label, value);
    fprintf(out, "} %.15g\n", number);
}

void cli_metrics_text(FILE *out, const struct breaker_row *rows, size_t n,
                      const struct fleet_agent_row *agent)
{
    static const enum breaker_state states[] = {BREAKER_CLOSED,    BREAKER_OPEN,
                                                BREAKER_HALF_OPEN, BREAKER_FORCED_OPEN,
                                                BREAKER_DISABLED,  BREAKER_FLEET_OPEN};
    family(out, "fusebox_breaker_state", "gauge", "1 for the state the breaker is in, else 0.");
    for (size_t i = 0; i < n; i++)
        for (size_t s = 0; s < sizeof states / sizeof states[0]; s++)
            sample(out, "fusebox_breaker_state", rows[i].name, "state",
                   breaker_state_name(states[s]), rows[i].view.state == states[s]);
    family(out, "fusebox_calls_total", "counter", "Calls the breaker decided, by outcome.");
    for (size_t i = 0; i < n; i++) {
        sample(out, "fusebox_calls_total", rows[i].name, "outcome", "success",
               (double)rows[i].successes);
        sample(out, "fusebox_calls_total", rows[i].name, "outcome", "failure",
               (double)rows[i].failures);
        sample(out, "fusebox_calls_total", rows[i].name, "outcome", "rejected",
               (double)rows[i].rejected);
    }
    family(out, "fusebox_fallbacks_total", "counter",
           "Calls sent to the breaker's fallback while it was open (not in fusebox_calls_total).");
    for (size_t i = 0; i < n; i++)
        sample(out, "fusebox_fallbacks_total", rows[i].name, NULL, NULL, (double)rows[i].fallbacks);
    family(out, "fusebox_trips_total", "counter", "Times the breaker opened after failures.");
    for (size_t i = 0; i < n; i++)
        sample(out, "fusebox_trips_total", rows[i].name, NULL, NULL, (double)rows[i].trips);
    family(out, "fusebox_consecutive_failures", "gauge", "Failures in a row while closed.");
    for (size_t i = 0; i < n; i++)
        sample(out, "fusebox_consecutive_failures", rows[i].name, NULL, NULL, rows[i].consecutive);
    family(out, "fusebox_open_seconds_remaining", "gauge",
           "Seconds before an open breaker lets a probe through (0 when not open).");
    for (size_t i = 0; i < n; i++)
        sample(out, "fusebox_open_seconds_remaining", rows[i].name, NULL, NULL,
               rows[i].retry_in_ms > 0 ? (double)rows[i].retry_in_ms / 1000.0 : 0.0);
    cli_fleet_metrics(out, rows, n, agent);
}

int cmd_metrics(int argc, char **argv)
{
    const char *state_option = NULL;
    int done = cli_parse_options(argc, argv, metrics_usage, NULL, &state_option);
    if (done >= 0)
        return done;
    if (optind != argc) {
        cli_error("metrics: unexpected argument '%s'", argv[optind]);
        return EXIT_USAGE;
    }
    char path[PATH_MAX];
    struct state *st;
    if (!cli_open_state(state_option, false, path, &st))
        return EXIT_BAD_INPUT;
    struct breaker_row *rows = NULL;
    size_t n = cli_read_rows(st, &rows);
    struct fleet_agent_row agent;
    cli_read_fleet_agent(st, &agent);
    cli_metrics_text(stdout, rows, n, &agent);
    free(rows);
    state_close(st);
    return EXIT_OK;
}
