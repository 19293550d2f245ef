/* fusebox status: every breaker of the state file, as a table or JSON. */
#include <stdio.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "clock.h"

static const char status_usage[] =
    "usage: fusebox status [-s STATE] [--json]\n"
    "\n"
    "Shows every breaker in the shared state file.\n"
    "\n"
    "  -s, --state STATE   state file (default: $FUSEBOX_STATE, else per-user default)\n"
    "  -j, --json          print JSON instead of a table\n"
    "  -h, --help          show this help\n";

struct breaker_row {
    char name[STATE_NAME_MAX];
    struct breaker_view view;
    uint32_t consecutive, fail_max;
    uint64_t successes, failures, rejected, trips, opened_at_wall;
    long long retry_in_ms; /* -1: none */
};

static uint64_t load(_Atomic uint64_t *counter)
{
    return atomic_load_explicit(counter, memory_order_relaxed);
}

static void read_row(struct state_slot *slot, struct breaker_row *row, uint64_t now_ms)
{
    struct breaker_slot *b = &slot->breaker;
    row->view = breaker_view(b);
    row->consecutive = atomic_load_explicit(&b->consecutive_failures, memory_order_relaxed);
    row->fail_max = atomic_load_explicit(&b->fail_max, memory_order_relaxed);
    row->successes = load(&b->successes);
    row->failures = load(&b->failures);
    row->rejected = load(&b->rejected);
    row->trips = load(&b->trips);
    row->opened_at_wall = load(&b->opened_at_wall);
    row->retry_in_ms = -1;
    bool timed = row->view.state == BREAKER_OPEN ||
                 (row->view.state == BREAKER_FORCED_OPEN && row->view.time_ms != 0);
    if (timed)
        row->retry_in_ms = row->view.time_ms > now_ms ? (long long)(row->view.time_ms - now_ms) : 0;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(((const struct breaker_row *)a)->name, ((const struct breaker_row *)b)->name);
}

/* Reads every named slot, sorted by name; returns the count (rows is
 * malloc'd, NULL when there are none or memory ran out). */
static size_t read_rows(struct state *st, struct breaker_row **rows)
{
    size_t n = 0;
    uint64_t now = clock_now_ms();
    *rows = malloc(STATE_SLOTS * sizeof **rows);
    for (uint32_t i = 0; *rows && i < STATE_SLOTS; i++)
        if (state_slot_name(&st->slots[i], (*rows)[n].name))
            read_row(&st->slots[i], &(*rows)[n++], now);
    if (*rows)
        qsort(*rows, n, sizeof **rows, by_name);
    return n;
}

static bool is_open(enum breaker_state s)
{
    return s == BREAKER_OPEN || s == BREAKER_HALF_OPEN || s == BREAKER_FORCED_OPEN;
}

static void iso8601(uint64_t wall_ms, char out[32])
{
    time_t secs = (time_t)(wall_ms / 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    size_t n = strftime(out, 32, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out + n, 32 - n, ".%03uZ", (unsigned)(wall_ms % 1000));
}

static void json_string(const char *s)
{
    putchar('"');
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            printf("\\%c", c);
        else if (c < 0x20)
            printf("\\u%04x", c);
        else
            putchar(c);
    }
    putchar('"');
}

static void print_json(const char *path, const struct breaker_row *rows, size_t n)
{
    printf("{\"state_file\": ");
    json_string(path);
    printf(", \"breakers\": [");
    for (size_t i = 0; i < n; i++) {
        const struct breaker_row *r = &rows[i];
        printf("%s{\"name\": ", i ? ", " : "");
        json_string(r->name);
        printf(", \"state\": \"%s\", \"consecutive_failures\": %u, "
               "\"calls\": %llu, \"successes\": %llu, \"failures\": %llu, \"rejected\": %llu, "
               "\"trips\": %llu, \"opened_at\": ",
               breaker_state_name(r->view.state), r->consecutive,
               (unsigned long long)(r->successes + r->failures + r->rejected),
               (unsigned long long)r->successes, (unsigned long long)r->failures,
               (unsigned long long)r->rejected, (unsigned long long)r->trips);
        char when[32];
        if (is_open(r->view.state) && r->opened_at_wall) {
            iso8601(r->opened_at_wall, when);
            printf("\"%s\"", when);
        } else {
            printf("null");
        }
        if (r->retry_in_ms >= 0)
            printf(", \"retry_in_ms\": %lld}", r->retry_in_ms);
        else
            printf(", \"retry_in_ms\": null}");
    }
    printf("]}\n");
}

static void print_table(const char *path, const struct breaker_row *rows, size_t n)
{
    size_t width = 7, open = 0;
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(rows[i].name);
        width = len > width ? len : width;
        open += is_open(rows[i].view.state);
    }
    printf("state file: %s\n", path);
    if (n == 0) {
        printf("no breakers yet (a breaker appears when a ruled destination is first used)\n");
        return;
    }
    printf("%-*s  %-11s  %9s  %8s  %8s  %8s  %8s  %5s  %s\n", (int)width, "BREAKER", "STATE",
           "FAILS", "CALLS", "OK", "FAILED", "REJECTED", "TRIPS", "RETRY IN");
    for (size_t i = 0; i < n; i++) {
        const struct breaker_row *r = &rows[i];
        char fails[24], retry[24] = "-";
        snprintf(fails, sizeof fails, "%u/%u", r->consecutive, r->fail_max);
        if (r->retry_in_ms >= 0)
            snprintf(retry, sizeof retry, "%.1fs", (double)r->retry_in_ms / 1000.0);
        printf("%-*s  %-11s  %9s  %8llu  %8llu  %8llu  %8llu  %5llu  %s\n", (int)width, r->name,
               breaker_state_name(r->view.state), fails,
               (unsigned long long)(r->successes + r->failures + r->rejected),
               (unsigned long long)r->successes, (unsigned long long)r->failures,
               (unsigned long long)r->rejected, (unsigned long long)r->trips, retry);
    }
    printf("%zu breaker%s: %zu open, %zu closed\n", n, n == 1 ? "" : "s", open, n - open);
}

int cmd_status(int argc, char **argv)
{
    const char *state_option = NULL;
    bool json = false;
    int done = cli_state_options(argc, argv, status_usage, "json", 'j', &json, &state_option);
    if (done >= 0)
        return done;
    if (optind != argc) {
        cli_error("status: unexpected argument '%s'", argv[optind]);
        return EXIT_USAGE;
    }
    char path[PATH_MAX];
    struct state *st;
    if (!cli_open_state(state_option, path, &st))
        return EXIT_BAD_INPUT;
    struct breaker_row *rows = NULL;
    size_t n = st ? read_rows(st, &rows) : 0;
    if (json)
        print_json(path, rows, n);
    else
        print_table(path, rows, n);
    free(rows);
    state_close(st);
    return EXIT_OK;
}
