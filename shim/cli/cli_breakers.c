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
    row->fallbacks = load(&b->fallbacks);
    row->fleet_hosts_open = atomic_load_explicit(&b->fleet_hosts_open, memory_order_relaxed);
    row->fleet_quorum = atomic_load_explicit(&slot->fleet_quorum, memory_order_relaxed);
    row->retry_in_ms = breaker_retry_in_ms(&row->view, clock_now_ms());
}

unsigned long long cli_row_calls(const struct breaker_row *row)
{
    return (unsigned long long)(row->successes + row->failures + row->rejected + row->fallbacks);
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
    return breaker_state_rejects(s) || s == BREAKER_HALF_OPEN;
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
