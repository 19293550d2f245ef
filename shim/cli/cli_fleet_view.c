/* The fleet as the display commands show it: the agent's line in status,
 * each shared breaker's hosts open / quorum (status table and JSON) and the
 * fusebox_fleet_* metrics. Reads only what fusebox sync wrote in the state
 * file; never talks to Redis. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "clock.h"

#define AGENT_SILENT_MS 5000 /* an agent quiet this long is presumed dead */

bool cli_fleet_agent_line(FILE *out, const struct state *st)
{
    struct state_fleet_agent *f = &st->header->fleet;
    uint32_t pid = atomic_load_explicit(&f->pid, memory_order_acquire);
    uint64_t since = atomic_load_explicit(&f->since_wall_ms, memory_order_relaxed);
    uint64_t alive = atomic_load_explicit(&f->alive_wall_ms, memory_order_relaxed);
    bool connected = atomic_load_explicit(&f->connected, memory_order_relaxed);
    uint64_t words[STATE_HOST_ID_MAX / 8];
    for (size_t i = 0; i < STATE_HOST_ID_MAX / 8; i++)
        words[i] = atomic_load_explicit(&f->host_id[i], memory_order_relaxed);
    char host[STATE_HOST_ID_MAX], when[32], seen[32];
    memcpy(host, words, sizeof host);
    host[sizeof host - 1] = '\0';
    if (!pid && !alive)
        return false; /* no agent ever ran on this file */
    cli_iso8601(since, when);
    cli_iso8601(alive, seen);
    if (!pid)
        fprintf(out, "fleet: agent not running (host '%s' stopped at %s)\n", host, seen);
    else if (clock_wall_ms() > alive + AGENT_SILENT_MS)
        fprintf(out, "fleet: agent pid %u (host '%s') not seen since %s: not running?\n", pid, host,
                seen);
    else if (connected)
        fprintf(out, "fleet: host '%s' connected to Redis since %s (agent pid %u)\n", host, when,
                pid);
    else
        fprintf(out, "fleet: disconnected since %s (host '%s', agent pid %u retrying)\n", when,
                host, pid);
    return true;
}

void cli_fleet_agent_text(FILE *out, const struct state *st, const struct breaker_row *rows,
                          size_t n)
{
    if (!cli_fleet_agent_line(out, st))
        return;
    for (size_t i = 0; i < n; i++)
        if (rows[i].fleet_quorum)
            fprintf(out, "fleet: %s %u/%u hosts open\n", rows[i].name, rows[i].fleet_hosts_open,
                    rows[i].fleet_quorum);
}

void cli_fleet_breaker_json(FILE *out, const struct breaker_row *r)
{
    if (r->fleet_quorum)
        fprintf(out, ", \"fleet\": {\"hosts_open\": %u, \"quorum\": %u}", r->fleet_hosts_open,
                r->fleet_quorum);
    else
        fprintf(out, ", \"fleet\": null");
}

void cli_fleet_metrics(FILE *out, const struct breaker_row *rows, size_t n)
{
    size_t shared = 0;
    for (size_t i = 0; i < n; i++)
        shared += rows[i].fleet_quorum != 0;
    if (!shared)
        return; /* no agent shares anything: no fleet families */
    fprintf(out, "# HELP fusebox_fleet_hosts_open Hosts of the fleet that have the breaker open "
                 "(shared breakers, as fusebox sync sees them).\n"
                 "# TYPE fusebox_fleet_hosts_open gauge\n");
    for (size_t i = 0; i < n; i++) {
        if (!rows[i].fleet_quorum)
            continue;
        fprintf(out, "fusebox_fleet_hosts_open{breaker=");
        cli_json_string_to(out, rows[i].name); /* a rule's name: [A-Za-z0-9_.:/-] */
        fprintf(out, "} %u\n", rows[i].fleet_hosts_open);
    }
    fprintf(out, "# HELP fusebox_fleet_quorum Hosts that must have a shared breaker open to open "
                 "it here.\n# TYPE fusebox_fleet_quorum gauge\n");
    for (size_t i = 0; i < n; i++) {
        if (!rows[i].fleet_quorum)
            continue;
        fprintf(out, "fusebox_fleet_quorum{breaker=");
        cli_json_string_to(out, rows[i].name);
        fprintf(out, "} %u\n", rows[i].fleet_quorum);
    }
}
