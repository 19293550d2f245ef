/* fusebox events: the ring of breaker transitions, as text or JSON lines,
 * optionally following new ones as other processes cause them. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "clock.h"

static const char events_usage[] =
    "usage: fusebox events [-s STATE] [--follow] [--json] [--since DURATION]\n"
    "\n"
    "Shows the breaker transitions kept in the state file (the last 1024): when,\n"
    "which breaker, from and to which state, why, and the process that caused it.\n"
    "Says so when older events were lost because the ring wrapped.\n"
    "\n"
    "  -f, --follow          keep waiting for new events (checks 10 times a second)\n"
    "  -j, --json            one JSON object per line\n"
    "  -S, --since DURATION  only events newer than that (e.g. 90, 30s, 10m, 2h)\n"
    "  -s, --state STATE     state file (default: $FUSEBOX_STATE, else per-user default)\n"
    "  -h, --help            show this help\n";

void cli_event_json(FILE *out, const struct event_record *ev)
{
    char when[32], why[96];
    cli_iso8601(ev->wall_ms, when);
    breaker_describe(&ev->tr, why, sizeof why);
    fprintf(out, "{\"seq\": %llu, \"time\": \"%s\", \"breaker\": ", (unsigned long long)ev->seq,
            when);
    cli_json_string_to(out, ev->breaker);
    fprintf(out, ", \"from\": \"%s\", \"to\": \"%s\", \"reason\": ",
            breaker_state_name((enum breaker_state)ev->tr.from),
            breaker_state_name((enum breaker_state)ev->tr.to));
    cli_json_string_to(out, why);
    fprintf(out, ", \"pid\": %u, \"program\": ", ev->pid);
    cli_json_string_to(out, ev->comm);
    fputc('}', out);
}

/* Prints one event as a line of text, or as a JSON line. */
static void print_event(const struct event_record *ev, bool json)
{
    if (json) {
        cli_event_json(stdout, ev);
        putchar('\n');
        return;
    }
    char when[32], why[96];
    cli_iso8601(ev->wall_ms, when);
    breaker_describe(&ev->tr, why, sizeof why);
    printf("%s  %s  %s -> %s  %s  [%s %u]\n", when, ev->breaker,
           breaker_state_name((enum breaker_state)ev->tr.from),
           breaker_state_name((enum breaker_state)ev->tr.to), why, ev->comm, ev->pid);
}

static void say_lost(uint64_t lost)
{
    if (lost)
        cli_error("events: %llu older event%s lost (the ring keeps the last %u)",
                  (unsigned long long)lost, lost == 1 ? "" : "s", STATE_EVENTS);
}

uint64_t cli_read_events(const struct state *st, uint64_t *next,
                         void (*each)(const struct event_record *ev, void *arg), void *arg)
{
    uint64_t head = state_events_appended(st), lost = 0;
    if (head > STATE_EVENTS && *next < head - STATE_EVENTS) {
        lost = head - STATE_EVENTS - *next;
        *next = head - STATE_EVENTS;
    }
    for (; *next < head; (*next)++) {
        struct event_record ev;
        if (!state_read_event(st, *next, &ev)) {
            if (*next + 1 == head)
                break; /* the newest, still being written */
            lost++;
            continue;
        }
        each(&ev, arg);
    }
    return lost;
}

/* What print_since needs: the oldest time shown, and the output format. */
struct events_filter {
    uint64_t since_wall;
    bool json;
};

/* Prints ev when it is not older than the filter's time (a cli_read_events
 * callback). */
static void print_since(const struct event_record *ev, void *arg)
{
    const struct events_filter *f = arg;
    if (ev->wall_ms >= f->since_wall)
        print_event(ev, f->json);
}

int cmd_events(int argc, char **argv)
{
    const char *state_option = NULL, *since_text = NULL;
    bool follow = false, json = false;
    const struct cli_option opts[] = {{"follow", 'f', &follow, NULL},
                                      {"json", 'j', &json, NULL},
                                      {"since", 'S', NULL, &since_text},
                                      {0}};
    int done = cli_parse_options(argc, argv, events_usage, opts, &state_option);
    if (done >= 0)
        return done;
    uint64_t since_ms = 0;
    if (since_text && !cli_parse_duration(since_text, &since_ms)) {
        cli_error("events: --since %s: not a duration (e.g. 90, 30s, 10m, 2h)", since_text);
        return EXIT_USAGE;
    }
    if (optind != argc) {
        cli_error("events: unexpected argument '%s'", argv[optind]);
        return EXIT_USAGE;
    }
    uint64_t since_wall = since_text ? clock_wall_ms() - since_ms : 0, next = 0;
    char path[PATH_MAX];
    struct state *st;
    if (!cli_open_state(state_option, follow, path, &st))
        return EXIT_BAD_INPUT;
    if (!st)
        return EXIT_OK;
    const struct timespec tenth = {0, 100000000};
    struct events_filter filter = {since_wall, json};
    do {
        say_lost(cli_read_events(st, &next, print_since, &filter));
        fflush(stdout);
    } while (follow && !state_lost(st) && nanosleep(&tenth, NULL) == 0);
    bool lost = state_lost(st);
    if (lost)
        cli_error("events: state file %s was truncated while being read", path);
    state_close(st);
    return lost ? EXIT_BAD_INPUT : EXIT_OK;
}
