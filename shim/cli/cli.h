/* cli.h — the fusebox command: one function per subcommand, and what they
 * share (exit codes, finding and opening the state file). */
#ifndef FUSEBOX_CLI_H
#define FUSEBOX_CLI_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "rules.h"
#include "state.h"

enum { EXIT_OK = 0, EXIT_BAD_INPUT = 1, EXIT_USAGE = 2 };

int cmd_run(int argc, char **argv);
int cmd_status(int argc, char **argv);
int cmd_events(int argc, char **argv);
int cmd_metrics(int argc, char **argv);
int cmd_open(int argc, char **argv);
int cmd_close(int argc, char **argv);
int cmd_disable(int argc, char **argv);
int cmd_enable(int argc, char **argv);
int cmd_reset(int argc, char **argv);
int cmd_check(int argc, char **argv);
int cmd_explain(int argc, char **argv);
int cmd_serve(int argc, char **argv);
int cmd_fsck(int argc, char **argv);
int cmd_sync(int argc, char **argv);
int cmd_gc(int argc, char **argv);
int cmd_reload(int argc, char **argv);
int cmd_systemd_dropin(int argc, char **argv);

/* Prints one line saying whether the rules in force for the state file
 * state_path are spec's (as cli_rules_spec chose it): compiled when, or
 * changed since, or not compiling, so that the last good rules rule. */
void cli_rules_line(FILE *out, const char *spec, bool system, const char *state_path);

/* Finds libfusebox.so beside this executable (build tree), in ../lib/fusebox/
 * (make install) or in ../lib/MULTIARCH/fusebox/ (the Debian package), and
 * writes its real path into out. Returns false when there is none. */
bool cli_find_library(char out[PATH_MAX]);

/* The rules a command reads: option (its -r), else $FUSEBOX_RULES, else
 * RULES_SYSTEM_PATH when it exists (then *system is set). NULL when there
 * are none. */
const char *cli_rules_spec(const char *option, bool *system);

/* Loads spec as cli_rules_spec chose it (system: with the shim's checks of
 * the system file); prints the problems and returns NULL when it cannot. */
struct rules *cli_load_rules(const char *spec, bool system);

/* fusebox open NAME --fleet: publishes a forced opening of name (for for_ms,
 * 0 = until closed) to every fleet agent of namespace ns on the Redis at url.
 * Returns EXIT_OK with the number of agents that got it in *receivers, or
 * another exit status after a message. */
int cli_fleet_force_open(const char *url, const char *ns, const char *name, uint64_t for_ms,
                         long long *receivers);

/* Checks the state file named by the -s option (as cli_state_path): prints
 * every problem and returns EXIT_BAD_INPUT, or prints "ok: N breakers, M
 * events" and returns EXIT_OK (fusebox fsck, fusebox status --verify). */
int cli_fsck(const char *state_option);

/* An option of a command: a flag (set) or one that takes a value (value). */
struct cli_option {
    const char *name; /* long name, without "--" */
    char letter;      /* short name */
    bool *set;
    const char **value;
};

/* Parses -s/--state STATE (into *state_option, when not NULL), -h/--help and
 * the options in opts (ended by one with a NULL name). Returns -1 to go on
 * (operands start at optind), or the exit status to end with: 0 after
 * printing usage for --help, EXIT_USAGE after a bad option. */
int cli_parse_options(int argc, char **argv, const char *usage, const struct cli_option *opts,
                      const char **state_option);

/* Reads a duration: seconds as a number (fractions allowed), or a number
 * with a unit ms, s, m, h or d. Returns false when text is not one. */
bool cli_parse_duration(const char *text, uint64_t *ms);

/* One breaker as the status, metrics and explain commands show it. */
struct breaker_row {
    char name[STATE_NAME_MAX];
    struct breaker_view view;
    uint32_t consecutive, fail_max;
    uint64_t successes, failures, rejected, trips, fallbacks, opened_at_wall;
    uint32_t fleet_hosts_open; /* hosts of the fleet that have it open (fleet agent) */
    uint32_t fleet_quorum;     /* its quorum when the fleet agent shares it, else 0 */
    long long retry_in_ms;     /* -1: not open, or forced open for ever */
};

/* Every call the breaker decided: successes, failures, rejected calls and
 * calls sent to its fallback. */
unsigned long long cli_row_calls(const struct breaker_row *row);

/* Reads one slot as a row. */
void cli_read_row(struct state_slot *slot, struct breaker_row *row);

/* Reads every named slot, sorted by name; returns the count. *rows is
 * malloc'd (the caller frees it); NULL when st is NULL or memory ran out. */
size_t cli_read_rows(struct state *st, struct breaker_row **rows);

/* True for the states in which calls are failed (open, half-open, forced). */
bool cli_is_open(enum breaker_state s);

/* Writes s as a JSON string (quoted and escaped) to out. */
void cli_json_string_to(FILE *out, const char *s);

/* Writes one breaker as the object of status --json (no newline). */
void cli_breaker_json(FILE *out, const struct breaker_row *row);

/* Writes the breakers as the JSON array of status --json. */
void cli_breakers_json(FILE *out, const struct breaker_row *rows, size_t n);

/* Prints the table of fusebox status: "state file: LABEL", a line per
 * breaker (states coloured with colour), and a summary. */
void cli_status_table(const char *label, const struct breaker_row *rows, size_t n, bool colour);

/* fusebox status --all: every state file in the usual places that this user
 * can read, each labelled with its owner (as JSON with json). Returns the
 * exit status. */
int cli_status_all(bool json);

/* What the fleet agent (fusebox sync) says of itself in a state file. */
struct fleet_agent_row {
    bool ever;      /* an agent ran on the file once; all else is zero when not */
    bool running;   /* its pid is set and it gave a sign of life lately */
    bool connected; /* running and connected to Redis */
    uint32_t pid;   /* 0 once it stopped cleanly */
    uint32_t role;  /* what ROLE said of the node reached: enum fleet_role */
    uint64_t since_wall_ms, alive_wall_ms, failovers;
    char host[STATE_HOST_ID_MAX];
    char address[STATE_REDIS_ADDRESS_MAX]; /* "host:port/db" reached last; "" before that */
    char master[STATE_HOST_ID_MAX];        /* Sentinel's name of the primary; "" for redis:// */
};

/* Reads the fleet agent's word in st (NULL: none) into *row. */
void cli_read_fleet_agent(const struct state *st, struct fleet_agent_row *row);

/* Writes the document of status --json for the state file at path. */
void cli_status_json(FILE *out, const char *path, const struct breaker_row *rows, size_t n,
                     const struct fleet_agent_row *agent);

/* Writes the breakers (and the fleet agent, when one ever ran) in the
 * Prometheus text exposition format. */
void cli_metrics_text(FILE *out, const struct breaker_row *rows, size_t n,
                      const struct fleet_agent_row *agent);

/* Prints what the fleet agent says of itself ("fleet: disconnected since …",
 * the node it reached), then hosts open / quorum of each shared breaker in
 * rows; nothing when no agent ever ran. */
void cli_fleet_agent_text(FILE *out, const struct fleet_agent_row *agent,
                          const struct breaker_row *rows, size_t n);

/* Writes the "fleet_agent" member of status --json (null when no agent ever ran). */
void cli_fleet_agent_json(FILE *out, const struct fleet_agent_row *agent);

/* Prints the line of cli_fleet_agent_text that says what the fleet agent
 * says of itself; false, printing nothing, when no agent ever ran on st. */
bool cli_fleet_agent_line(FILE *out, const struct state *st);

/* Writes the ", \"fleet\": {…}" member of a breaker's status --json object. */
void cli_fleet_breaker_json(FILE *out, const struct breaker_row *row);

/* Writes fusebox_fleet_hosts_open and fusebox_fleet_quorum of the shared
 * breakers (nothing when no breaker is shared), then fusebox_fleet_connected
 * and fusebox_fleet_failovers_total (nothing when no agent ever ran). */
void cli_fleet_metrics(FILE *out, const struct breaker_row *rows, size_t n,
                       const struct fleet_agent_row *agent);

/* Reads the events of the ring from *next up to the newest, advancing
 * *next, and calls each(ev, arg) on every one; an event still being written
 * ends the walk (the next call reads it). Returns how many events were lost
 * on the way (overwritten before they were read). */
uint64_t cli_read_events(const struct state *st, uint64_t *next,
                         void (*each)(const struct event_record *ev, void *arg), void *arg);

/* Writes one event as the object of events --json (no newline). */
void cli_event_json(FILE *out, const struct event_record *ev);

/* Writes wall_ms as ISO 8601 UTC with milliseconds into out. */
void cli_iso8601(uint64_t wall_ms, char out[32]);

/* Writes into path the state file named by the -s option, else
 * FUSEBOX_STATE, else the default. Returns false (after a message when it
 * is too long) when there is none. */
bool cli_state_path(const char *state_option, char path[PATH_MAX]);

/* Opens the state file named by the -s option, else FUSEBOX_STATE, else the
 * default, writing its path into path; with create, a missing file is made.
 * Returns false after a message when it cannot be used; true with *st NULL
 * when it does not exist (and create is false). */
bool cli_open_state(const char *state_option, bool create, char path[PATH_MAX], struct state **st);

/* Prints "fusebox: MESSAGE" on stderr. */
void cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
