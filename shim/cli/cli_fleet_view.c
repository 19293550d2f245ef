/* The fleet as the display commands show it: the agent's lines in status,
 * the "fleet_agent" member and each shared breaker's hosts open / quorum
 * (status table and JSON) and the fusebox_fleet_* metrics. Reads only what
 * fusebox sync wrote in the state file; never talks to Redis. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "clock.h"
#include "fleet_sentinel.h"

#define AGENT_SILENT_MS 5000 /* an agent quiet this long is presumed dead */
#define NODE_READ_TRIES 100  /* reads of the node fields while the agent rewrites them */

/* Reads the n NUL-padded words at w as a string into out (n * 8 bytes). */
static void load_words(const _Atomic uint64_t *w, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++) {
        uint64_t word = atomic_load_explicit(&w[i], memory_order_relaxed);
        memcpy(out + i * 8, &word, 8);
    }
    out[n * 8 - 1] = '\0';
}

/* The node fields, as one consistent copy unless the agent died while it
 * was writing them (then as they are). */
static void read_node(struct state_fleet_agent *f, struct fleet_agent_row *row)
{
    for (int i = 0; i < NODE_READ_TRIES; i++) {
        uint32_t seq = atomic_load_explicit(&f->node_seq, memory_order_acquire);
        load_words(f->node_address, STATE_REDIS_ADDRESS_MAX / 8, row->address);
        load_words(f->node_master, STATE_HOST_ID_MAX / 8, row->master);
        row->role = atomic_load_explicit(&f->node_role, memory_order_relaxed);
        row->failovers = atomic_load_explicit(&f->failovers, memory_order_relaxed);
        atomic_thread_fence(memory_order_acquire);
        if (!(seq & 1u) && atomic_load_explicit(&f->node_seq, memory_order_relaxed) == seq)
            return;
    }
}

void cli_read_fleet_agent(const struct state *st, struct fleet_agent_row *row)
{
    memset(row, 0, sizeof *row);
    if (!st)
        return;
    struct state_fleet_agent *f = &st->header->fleet;
    row->pid = atomic_load_explicit(&f->pid, memory_order_acquire);
    row->since_wall_ms = atomic_load_explicit(&f->since_wall_ms, memory_order_relaxed);
    row->alive_wall_ms = atomic_load_explicit(&f->alive_wall_ms, memory_order_relaxed);
    row->ever = row->pid || row->alive_wall_ms;
    row->running = row->pid && clock_wall_ms() <= row->alive_wall_ms + AGENT_SILENT_MS;
    row->connected = row->running && atomic_load_explicit(&f->connected, memory_order_relaxed);
    load_words(f->host_id, STATE_HOST_ID_MAX / 8, row->host);
    read_node(f, row);
}

/* "fleet: redis ADDRESS (role R), primary of 'M' by Sentinel, N failovers followed". */
static void node_text(FILE *out, const struct fleet_agent_row *a)
{
    if (!a->address[0])
        return;
    fprintf(out, "fleet: %sredis %s (role %s)", a->connected ? "" : "last ", a->address,
            fleet_role_name((enum fleet_role)a->role));
    if (a->master[0])
        fprintf(out, ", primary of '%s' by Sentinel, %llu failover%s followed", a->master,
                (unsigned long long)a->failovers, a->failovers == 1 ? "" : "s");
    fputc('\n', out);
}

/* Prints what the agent says of itself, in one line; false, printing
 * nothing, when no agent ever ran on the file. */
static bool agent_line(FILE *out, const struct fleet_agent_row *a)
{
    char when[32], seen[32];
    if (!a->ever)
        return false;
    cli_iso8601(a->since_wall_ms, when);
    cli_iso8601(a->alive_wall_ms, seen);
    if (!a->pid)
        fprintf(out, "fleet: agent not running (host '%s' stopped at %s)\n", a->host, seen);
    else if (!a->running)
        fprintf(out, "fleet: agent pid %u (host '%s') not seen since %s: not running?\n", a->pid,
                a->host, seen);
    else if (a->connected)
        fprintf(out, "fleet: host '%s' connected to Redis since %s (agent pid %u)\n", a->host, when,
                a->pid);
    else
        fprintf(out, "fleet: disconnected since %s (host '%s', agent pid %u retrying)\n", when,
                a->host, a->pid);
    return true;
}

bool cli_fleet_agent_line(FILE *out, const struct state *st)
{
    struct fleet_agent_row a;
    cli_read_fleet_agent(st, &a);
    return agent_line(out, &a);
}

void cli_fleet_agent_text(FILE *out, const struct fleet_agent_row *a,
                          const struct breaker_row *rows, size_t n)
{
    if (!agent_line(out, a))
        return;
    node_text(out, a);
    for (size_t i = 0; i < n; i++)
        if (rows[i].fleet_quorum)
            fprintf(out, "fleet: %s %u/%u hosts open\n", rows[i].name, rows[i].fleet_hosts_open,
                    rows[i].fleet_quorum);
}

/* Writes s as a JSON string, or null when it is empty. */
static void json_text_or_null(FILE *out, const char *s)
{
    if (*s)
        cli_json_string_to(out, s);
    else
        fputs("null", out);
}

void cli_fleet_agent_json(FILE *out, const struct fleet_agent_row *a)
{
    char since[32] = "", alive[32];
    fputs(", \"fleet_agent\": ", out);
    if (!a->ever) {
        fputs("null", out);
        return;
    }
    if (a->since_wall_ms)
        cli_iso8601(a->since_wall_ms, since);
    cli_iso8601(a->alive_wall_ms, alive);
    fputs("{\"host\": ", out);
    cli_json_string_to(out, a->host);
    if (a->pid)
        fprintf(out, ", \"pid\": %u", a->pid);
    else
        fputs(", \"pid\": null", out);
    fprintf(out, ", \"running\": %s, \"connected\": %s, \"since\": ", a->running ? "true" : "false",
            a->connected ? "true" : "false");
    json_text_or_null(out, since);
    fprintf(out, ", \"alive\": \"%s\", \"redis\": ", alive);
    json_text_or_null(out, a->address);
    fputs(", \"role\": ", out);
    json_text_or_null(out, a->address[0] ? fleet_role_name((enum fleet_role)a->role) : "");
    fputs(", \"sentinel_master\": ", out);
    json_text_or_null(out, a->master);
    fprintf(out, ", \"failovers\": %llu}", (unsigned long long)a->failovers);
}

void cli_fleet_breaker_json(FILE *out, const struct breaker_row *r)
{
    if (r->fleet_quorum)
        fprintf(out, ", \"fleet\": {\"hosts_open\": %u, \"quorum\": %u}", r->fleet_hosts_open,
                r->fleet_quorum);
    else
        fprintf(out, ", \"fleet\": null");
}

/* One gauge family of the shared breakers: each one's quorum (quorum),
 * else the hosts that have it open. */
static void shared_family(FILE *out, const char *name, const char *help,
                          const struct breaker_row *rows, size_t n, bool quorum)
{
    fprintf(out, "# HELP %s %s\n# TYPE %s gauge\n", name, help, name);
    for (size_t i = 0; i < n; i++) {
        if (!rows[i].fleet_quorum)
            continue;
        fprintf(out, "%s{breaker=", name);
        cli_json_string_to(out, rows[i].name); /* a rule's name: [A-Za-z0-9_.:/-] */
        fprintf(out, "} %u\n", quorum ? rows[i].fleet_quorum : rows[i].fleet_hosts_open);
    }
}

void cli_fleet_metrics(FILE *out, const struct breaker_row *rows, size_t n,
                       const struct fleet_agent_row *agent)
{
    size_t shared = 0;
    for (size_t i = 0; i < n; i++)
        shared += rows[i].fleet_quorum != 0;
    if (shared) {
        shared_family(out, "fusebox_fleet_hosts_open",
                      "Hosts of the fleet that have the breaker open (shared breakers, as fusebox "
                      "sync sees them).",
                      rows, n, false);
        shared_family(out, "fusebox_fleet_quorum",
                      "Hosts that must have a shared breaker open to open it here.", rows, n, true);
    }
    if (!agent->ever)
        return; /* no agent ever ran on this file: no agent families */
    fprintf(out,
            "# HELP fusebox_fleet_connected 1 while the fleet agent (fusebox sync) runs and is "
            "connected to Redis, else 0.\n# TYPE fusebox_fleet_connected gauge\n"
            "fusebox_fleet_connected %d\n"
            "# HELP fusebox_fleet_failovers_total Times the running fleet agent followed the "
            "Redis primary to another node (Sentinel).\n"
            "# TYPE fusebox_fleet_failovers_total counter\nfusebox_fleet_failovers_total %llu\n",
            agent->connected ? 1 : 0, (unsigned long long)agent->failovers);
}
