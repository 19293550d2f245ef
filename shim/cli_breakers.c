/* Reading breakers out of the state file for display, and the small
 * formatting helpers the display commands share. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "clock.h"

static uint64_t load(_Atomic uint64_t *counter)
{
    return atomic_load_explicit(counter, memory_order_relaxed);
}

void cli_read_row(struct state_slot *slot, struct breaker_row *row)
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
    uint64_t now = clock_now_ms();
    if (timed)
        row->retry_in_ms = row->view.time_ms > now ? (long long)(row->view.time_ms - now) : 0;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(((const struct breaker_row *)a)->name, ((const struct breaker_row *)b)->name);
}

size_t cli_read_rows(struct state *st, struct breaker_row **rows)
{
    size_t n = 0;
    *rows = st ? malloc(STATE_SLOTS * sizeof **rows) : NULL;
    for (uint32_t i = 0; *rows && i < STATE_SLOTS; i++)
        if (state_slot_name(&st->slots[i], (*rows)[n].name))
            cli_read_row(&st->slots[i], &(*rows)[n++]);
    if (*rows)
        qsort(*rows, n, sizeof **rows, by_name);
    return n;
}

bool cli_is_open(enum breaker_state s)
{
    return s == BREAKER_OPEN || s == BREAKER_HALF_OPEN || s == BREAKER_FORCED_OPEN;
}

void cli_iso8601(uint64_t wall_ms, char out[32])
{
    time_t secs = (time_t)(wall_ms / 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    size_t n = strftime(out, 32, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out + n, 32 - n, ".%03uZ", (unsigned)(wall_ms % 1000));
}

void cli_json_string_to(FILE *out, const char *s)
{
    putc('"', out);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            fprintf(out, "\\%c", c);
        else if (c < 0x20)
            fprintf(out, "\\u%04x", c);
        else
            putc(c, out);
    }
    putc('"', out);
}

void cli_json_string(const char *s)
{
    cli_json_string_to(stdout, s);
}
