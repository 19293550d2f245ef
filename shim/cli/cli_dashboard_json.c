/* The JSON of the dashboard's stream: breakers (with their history) and
 * the rules. Compact on purpose: a tick of 1 000 breakers stays small. */
#include <stdio.h>
#include <string.h>

#include "cli_dashboard.h"

/* Writes one series of b, oldest first, the newest taken at tick; a run of
 * zeros is written as one negative number (-900: 15 idle minutes). */
static void series_json(FILE *out, const uint32_t *ring, uint64_t tick)
{
    uint32_t zeros = 0;
    bool first = true;
    fputc('[', out);
    for (uint64_t t = tick + 1; t <= tick + DASHBOARD_HISTORY; t++) {
        uint32_t v = ring[t % DASHBOARD_HISTORY];
        if (v == 0) {
            zeros++;
            continue;
        }
        if (zeros)
            fprintf(out, "%s-%u", first ? "" : ",", zeros), first = false, zeros = 0;
        fprintf(out, "%s%u", first ? "" : ",", v), first = false;
    }
    if (zeros)
        fprintf(out, "%s-%u", first ? "" : ",", zeros);
    fputc(']', out);
}

/* The members of a breaker that are counts, in the order they are written. */
enum { NUMBERS = 7 };
static const char *const number_names[NUMBERS] = {"fails",    "fail_max",  "calls", "failures",
                                                  "rejected", "fallbacks", "trips"};

static void numbers_of(const struct breaker_row *r, unsigned long long v[NUMBERS])
{
    const unsigned long long all[NUMBERS] = {r->consecutive, r->fail_max, cli_row_calls(r),
                                             r->failures,    r->rejected, r->fallbacks,
                                             r->trips};
    memcpy(v, all, sizeof all);
}

/* Writes ,"retry_ms":… and ,"fleet":… of r; with nulls, also when they are
 * null (a change to null), else not at all. */
static void write_retry(FILE *out, const struct breaker_row *r, bool nulls)
{
    if (r->retry_in_ms >= 0)
        fprintf(out, ",\"retry_ms\":%lld", r->retry_in_ms);
    else if (nulls)
        fputs(",\"retry_ms\":null", out);
}

static void write_fleet(FILE *out, const struct breaker_row *r, bool nulls)
{
    if (r->fleet_quorum)
        fprintf(out, ",\"fleet\":[%u,%u]", r->fleet_hosts_open, r->fleet_quorum);
    else if (nulls)
        fputs(",\"fleet\":null", out);
}

void dashboard_breaker_json(FILE *out, uint32_t id, const struct dash_breaker *b, bool history,
                            uint64_t tick)
{
    const struct breaker_row *r = &b->row;
    unsigned long long v[NUMBERS];
    numbers_of(r, v);
    fprintf(out, "{\"id\":%u,\"name\":", id);
    cli_json_string_to(out, r->name);
    fprintf(out, ",\"state\":\"%s\"", breaker_state_name(r->view.state));
    for (int i = 0; i < NUMBERS; i++)
        fprintf(out, ",\"%s\":%llu", number_names[i], v[i]);
    write_retry(out, r, false);
    write_fleet(out, r, false);
    if (history) {
        fputs(",\"h\":[", out);
        for (int s = 0; s < SERIES_COUNT; s++) {
            fputs(s ? "," : "", out);
            series_json(out, b->history[s], tick);
        }
        fputc(']', out);
    }
    fputc('}', out);
}

void dashboard_breaker_diff(FILE *out, uint32_t id, const struct breaker_row *before,
                            const struct breaker_row *after)
{
    unsigned long long was[NUMBERS], now[NUMBERS];
    numbers_of(before, was);
    numbers_of(after, now);
    fprintf(out, "{\"id\":%u", id);
    if (before->view.state != after->view.state)
        fprintf(out, ",\"state\":\"%s\"", breaker_state_name(after->view.state));
    for (int i = 0; i < NUMBERS; i++)
        if (was[i] != now[i])
            fprintf(out, ",\"%s\":%llu", number_names[i], now[i]);
    /* the page counts the time down itself: sent again only when it moved */
    if (before->view.state != after->view.state || before->view.time_ms != after->view.time_ms ||
        (before->retry_in_ms < 0) != (after->retry_in_ms < 0))
        write_retry(out, after, true);
    if (before->fleet_hosts_open != after->fleet_hosts_open ||
        before->fleet_quorum != after->fleet_quorum)
        write_fleet(out, after, true);
    fputc('}', out);
}

/* Writes the host patterns of breaker number index of r as a JSON array. */
static void hosts_json(FILE *out, const struct rules *r, size_t index)
{
    bool first = true;
    fputc('[', out);
    for (size_t i = 0; i < r->pattern_count; i++) {
        if (r->patterns[i].breaker != index)
            continue;
        fputs(first ? "" : ",", out), first = false;
        cli_json_string_to(out, r->patterns[i].text);
    }
    fputc(']', out);
}

/* Writes one rule's breaker: its hosts and its policy. */
static void rule_json(FILE *out, const struct rules *r, size_t index)
{
    const struct rule_breaker *b = &r->breakers[index];
    const struct breaker_config *c = &b->config;
    fputs("{\"name\":", out);
    cli_json_string_to(out, b->name);
    fputs(",\"hosts\":", out);
    hosts_json(out, r, index);
    fprintf(out,
            ",\"fail_max\":%u,\"reset_timeout_ms\":%u,\"success_threshold\":%u,"
            "\"half_open_max_calls\":%u",
            c->fail_max, c->reset_timeout_ms, c->success_threshold, c->half_open_max_calls);
    /* the rest only when set: 1 000 rules stay small */
    const struct {
        const char *name;
        uint32_t value;
    } optional[] = {{"failure_rate", c->failure_rate},
                    {"slow_rate", c->slow_rate},
                    {"slow_call_ms", c->slow_call_ms},
                    {"window_ms", c->window_ms},
                    {"max_hosts", b->per_host ? b->max_hosts : 0}};
    for (size_t i = 0; i < sizeof optional / sizeof optional[0]; i++)
        if (optional[i].value)
            fprintf(out, ",\"%s\":%u", optional[i].name, optional[i].value);
    for (uint32_t i = 0; i < b->fallback_count; i++)
        fprintf(out, "%s\"%s:%u\"", i ? "," : ",\"fallback\":[", b->fallbacks[i].host,
                (unsigned)b->fallbacks[i].port);
    if (b->fallback_count)
        fputc(']', out);
    if (b->fleet.share)
        fprintf(out, ",\"fleet\":{\"quorum\":%u}", b->fleet.quorum);
    fputc('}', out);
}

void dashboard_rules_json(FILE *out, const char *source, const struct rules *r, const char *error)
{
    fputs("{\"source\":", out);
    if (source)
        cli_json_string_to(out, source);
    else
        fputs("null", out);
    fputs(",\"error\":", out);
    if (error)
        cli_json_string_to(out, error);
    else
        fputs("null", out);
    fputs(",\"breakers\":[", out);
    for (size_t i = 0; r && i < r->breaker_count; i++) {
        fputs(i ? "," : "", out);
        rule_json(out, r, i);
    }
    fputs("]}", out);
}
