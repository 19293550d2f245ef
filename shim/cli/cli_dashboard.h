/* cli_dashboard.h — the live dashboard of fusebox serve (GET /).
 *
 * Owns the page (the HTML, CSS and JavaScript of shim/cli/dashboard/,
 * compiled in and sent as one document), the history of each breaker's
 * calls, failures and rejections per second over the last
 * DASHBOARD_HISTORY seconds (in memory, sampled once a second by a thread of
 * serve's: the shim has none), and the server-sent events stream the page
 * reads: one snapshot (every breaker with its history, the recent
 * transitions, the rules), then one tick a second with what changed.
 * cli_dashboard_json.c writes the JSON of both. */
#ifndef FUSEBOX_CLI_DASHBOARD_H
#define FUSEBOX_CLI_DASHBOARD_H

#include <microhttpd.h>
#include <stdbool.h>
#include <stdio.h>

#include "cli.h"
#include "rules.h"

#define DASHBOARD_HISTORY 900u /* seconds of history: 15 minutes */
#define DASHBOARD_RECENT 100u  /* transitions a snapshot carries */
#define DASHBOARD_STREAM "/dashboard/stream"

struct dashboard;

/* Samples the state file named by state_option (as cli_state_path) now and
 * then once a second, and watches the rules of rules_spec (a path or inline
 * JSON; NULL: none). token_file: the file of serve's control token when
 * control is allowed (the page offers its buttons and asks for the token
 * from there), else NULL. Call with SIGINT and SIGTERM blocked (the thread
 * inherits the mask). Returns NULL after a message when memory or a thread
 * cannot be had. */
struct dashboard *dashboard_start(const char *state_option, const char *rules_spec,
                                  const char *token_file);

/* Ends every stream (resuming the suspended ones), stops daemon (which may
 * be NULL), then the sampler, and frees d. */
void dashboard_stop(struct dashboard *d, struct MHD_Daemon *daemon);

/* The response of GET /: the page, with its Content-Security-Policy (inline
 * script and style only under a fresh nonce, connections to this server
 * only). NULL when memory ran out. */
struct MHD_Response *dashboard_page(void);

/* The response of GET DASHBOARD_STREAM on conn: text/event-stream, a
 * snapshot then a tick a second until the client goes or serve stops. The
 * connection is suspended between ticks: the daemon must be started with
 * MHD_ALLOW_SUSPEND_RESUME. NULL when memory ran out. */
struct MHD_Response *dashboard_stream(struct dashboard *d, struct MHD_Connection *conn);

/* Shared by cli_dashboard.c and cli_dashboard_json.c. */

/* A breaker as the dashboard keeps it: its row as last sampled and its
 * history, a ring of DASHBOARD_HISTORY samples per series, the newest at
 * (tick - 1) % DASHBOARD_HISTORY. */
enum { SERIES_CALLS, SERIES_FAILURES, SERIES_REJECTED, SERIES_COUNT };
struct dash_breaker {
    uint64_t key; /* the slot's key when it was first seen */
    struct breaker_row row;
    uint64_t counted[SERIES_COUNT]; /* counters at the last sample */
    uint32_t history[SERIES_COUNT][DASHBOARD_HISTORY];
};

/* Writes breaker b (in slot id) as an object of the stream (retry_ms and
 * fleet left out when null); with history, its history too, the oldest
 * sample first, the newest taken at tick. */
void dashboard_breaker_json(FILE *out, uint32_t id, const struct dash_breaker *b, bool history,
                            uint64_t tick);

/* Writes what differs between before and after, the rows of breaker id at
 * two ticks, as an object of the stream with the id and those members. */
void dashboard_breaker_diff(FILE *out, uint32_t id, const struct breaker_row *before,
                            const struct breaker_row *after);

/* Writes the rules object of the stream: the source, every breaker with its
 * hosts and policy, and error, the problem of the last attempt to read them
 * (NULL: none). r may be NULL (no rules, or none that compiled yet). */
void dashboard_rules_json(FILE *out, const char *source, const struct rules *r, const char *error);

#endif
