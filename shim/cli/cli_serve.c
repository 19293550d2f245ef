/* fusebox serve: the breakers over HTTP (libmicrohttpd) for scrapers, health
 * checks, automation and people (the dashboard at /, cli_dashboard.c). Every
 * request reads the state file afresh; the
 * control endpoints run the same code as the open/close/... commands, for a
 * request that serve_guard lets through. Slow or many clients cannot hold it
 * up: idle connections time out, each client address has a few at most, and
 * a request's headers and body are bounded. */
#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "cli.h"
#include "cli_dashboard.h"
#include "serve_guard.h"

#define SERVE_PER_ADDRESS 16          /* connections at once from one client address */
#define SERVE_MAX_CONNECTIONS 4096    /* connections at once in all (fewer with fewer fds) */
#define SERVE_HEADERS_MAX (16u << 10) /* bytes of request line and headers */
#define SERVE_BODY_MAX 1024u          /* bytes of a request body (no endpoint reads one) */
#define SERVE_TIMEOUT_DEFAULT "10s"   /* an idle connection is closed after this */

static const char serve_usage[] =
    "usage: fusebox serve [-s STATE] [-r RULES] [--listen ADDR:PORT]\n"
    "                     [--allow-control [--token-file PATH]] [--port-file PATH]\n"
    "                     [--timeout DURATION]\n"
    "\n"
    "Serves the breakers over HTTP until SIGINT or SIGTERM:\n"
    "  GET  /                         the dashboard: a live page of every breaker, its last\n"
    "                                 15 minutes, the recent transitions and the rules\n"
    "  GET  " DASHBOARD_STREAM "         the dashboard's updates (server-sent events)\n"
    "  GET  /metrics                  the output of fusebox metrics (Prometheus)\n"
    "  GET  /breakers                 the output of fusebox status --json\n"
    "  GET  /breakers/NAME            one breaker (404 when there is none)\n"
    "  GET  /health                   200 when no breaker is open, else 503 and the open ones\n"
    "  POST /breakers/NAME/ACTION     ACTION is open (?for=DURATION), close, reset, disable\n"
    "                                 or enable; 403 unless --allow-control was given\n"
    "\n"
    "With --allow-control, a POST must carry \"Authorization: Bearer TOKEN\" (else 401),\n"
    "TOKEN being what serve writes at start into the token file (mode 0600, removed at\n"
    "exit), and name the server by an IP address or localhost in Host, from no other\n"
    "Origin (else 403):\n"
    "  curl -X POST -H \"Authorization: Bearer $(cat STATE.serve-token)\" \\\n"
    "       http://127.0.0.1:9464/breakers/NAME/open\n"
    "Connections idle for the timeout are closed; one client address may hold 16 at\n"
    "once; headers beyond 16 KiB or a body beyond 1 KiB are refused.\n"
    "\n"
    "  -l, --listen ADDR:PORT  address to listen on (default 127.0.0.1:9464; IPv6 as\n"
    "                          [ADDR]:PORT; port 0 picks a free one)\n"
    "  -c, --allow-control     accept the POST endpoints, with the token\n"
    "  -T, --token-file PATH   where the token goes (default: STATE.serve-token)\n"
    "  -p, --port-file PATH    write the port listened on into PATH once listening\n"
    "  -r, --rules RULES       rules the dashboard shows (default: $FUSEBOX_RULES)\n"
    "  -t, --timeout DURATION  close a connection idle this long (default 10s; whole\n"
    "                          seconds, at least 1)\n"
    "  -s, --state STATE       state file (default: $FUSEBOX_STATE, else per-user default)\n"
    "  -h, --help              show this help\n";

static const char default_listen[] = "127.0.0.1:9464";

/* What every request needs to know. */
struct server {
    const char *state_option; /* -s, or NULL */
    bool allow_control;
    struct serve_token token; /* with allow_control */
    struct dashboard *dashboard;
};

/* A response being built: status, content type, body written to a memstream. */
struct reply {
    unsigned status;
    const char *content_type;
    const char *header, *value; /* one more header (Allow of a 405, …), else NULL */
    char *body;
    size_t size;
    FILE *out;
};

static const char json_type[] = "application/json";

/* Starts a reply; false when memory ran out. */
static bool reply_begin(struct reply *r, unsigned status, const char *content_type)
{
    *r = (struct reply){.status = status, .content_type = content_type};
    r->out = open_memstream(&r->body, &r->size);
    return r->out != NULL;
}

/* Starts a JSON error reply {"error": message}. */
static bool reply_error(struct reply *r, unsigned status, const char *message)
{
    if (!reply_begin(r, status, json_type))
        return false;
    fputs("{\"error\": ", r->out);
    cli_json_string_to(r->out, message);
    fputs("}\n", r->out);
    return true;
}

/* Starts a 405 reply naming the methods allowed. */
static bool reply_not_allowed(struct reply *r, const char *allow)
{
    bool built = reply_error(r, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed here");
    r->header = MHD_HTTP_HEADER_ALLOW;
    r->value = allow;
    return built;
}

/* Reads every breaker of the state file; false after a 500 reply when the
 * file cannot be used. *rows is malloc'd (NULL when there are none). */
static bool read_breakers(const struct server *srv, struct reply *r, char path[PATH_MAX],
                          struct breaker_row **rows, size_t *n, struct fleet_agent_row *agent)
{
    struct state *st;
    if (!cli_open_state(srv->state_option, false, path, &st)) {
        reply_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "the state file cannot be used");
        return false;
    }
    *n = cli_read_rows(st, rows);
    cli_read_fleet_agent(st, agent);
    state_close(st);
    return true;
}

static const struct breaker_row *find_row(const struct breaker_row *rows, size_t n,
                                          const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(rows[i].name, name) == 0)
            return &rows[i];
    return NULL;
}

/* What a GET shows. */
enum view { VIEW_METRICS, VIEW_BREAKERS, VIEW_HEALTH, VIEW_BREAKER };

/* Starts the /health reply: 200 {"status": "ok"}, or 503 with the names of
 * the open breakers. */
static bool reply_health(struct reply *r, const struct breaker_row *rows, size_t n)
{
    size_t open = 0;
    for (size_t i = 0; i < n; i++)
        open += cli_is_open(rows[i].view.state);
    if (!reply_begin(r, open ? MHD_HTTP_SERVICE_UNAVAILABLE : MHD_HTTP_OK, json_type))
        return false;
    fputs(open ? "{\"status\": \"open\", \"open\": [" : "{\"status\": \"ok\"", r->out);
    for (size_t i = 0, listed = 0; i < n; i++) {
        if (cli_is_open(rows[i].view.state)) {
            fputs(listed++ ? ", " : "", r->out);
            cli_json_string_to(r->out, rows[i].name);
        }
    }
    fputs(open ? "]}\n" : "}\n", r->out);
    return true;
}

/* Starts the reply of a GET: the view of the breakers, or of the one named
 * name (VIEW_BREAKER; 404 when there is none). */
static bool get_view(const struct server *srv, enum view view, const char *name, struct reply *r)
{
    char path[PATH_MAX];
    struct breaker_row *rows = NULL;
    size_t n = 0;
    struct fleet_agent_row agent;
    if (!read_breakers(srv, r, path, &rows, &n, &agent))
        return r->out != NULL; /* the 500 reply, if it could be built */
    const struct breaker_row *row = view == VIEW_BREAKER ? find_row(rows, n, name) : NULL;
    bool ok;
    if (view == VIEW_HEALTH) {
        ok = reply_health(r, rows, n);
    } else if (view == VIEW_BREAKER && !row) {
        ok = reply_error(r, MHD_HTTP_NOT_FOUND, "no such breaker");
    } else if (view == VIEW_METRICS) {
        if ((ok = reply_begin(r, MHD_HTTP_OK, "text/plain; version=0.0.4")))
            cli_metrics_text(r->out, rows, n, &agent);
    } else if ((ok = reply_begin(r, MHD_HTTP_OK, json_type))) {
        if (row)
            cli_breaker_json(r->out, row), fputc('\n', r->out);
        else
            cli_status_json(r->out, path, rows, n, &agent);
    }
    free(rows);
    return ok;
}

/* The command that performs a control action, or NULL for an unknown one. */
static int (*command_of(const char *action))(int, char **)
{
    static const struct {
        const char *action;
        int (*run)(int argc, char **argv);
    } actions[] = {{"open", cmd_open},
                   {"close", cmd_close},
                   {"reset", cmd_reset},
                   {"disable", cmd_disable},
                   {"enable", cmd_enable}};
    for (size_t i = 0; i < sizeof actions / sizeof actions[0]; i++)
        if (strcmp(action, actions[i].action) == 0)
            return actions[i].run;
    return NULL;
}

/* True when the breaker exists in the state file (reset needs one). */
static bool breaker_exists(const struct server *srv, const char *name)
{
    char path[PATH_MAX];
    struct state *st;
    bool found = cli_open_state(srv->state_option, false, path, &st) && st &&
                 state_find_slot(st, name, false);
    state_close(st);
    return found;
}

/* POST /breakers/NAME/ACTION: runs the command as `fusebox ACTION [-s STATE]
 * [--for DURATION] -- NAME` (its line goes to serve's stdout, as a log of
 * what was changed), then answers with the breaker's new object. */
static bool post_action(const struct server *srv, struct MHD_Connection *conn, const char *name,
                        const char *action, struct reply *r)
{
    int (*run)(int, char **) = command_of(action);
    const char *for_text = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "for");
    uint64_t for_ms;
    if (!run)
        return reply_error(r, MHD_HTTP_NOT_FOUND, "no such endpoint");
    if (!srv->allow_control)
        return reply_error(r, MHD_HTTP_FORBIDDEN,
                           "control is disabled: start fusebox serve with --allow-control");
    unsigned refused;
    const char *why = serve_guard_refusal(
        &srv->token, MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_HOST),
        MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_ORIGIN),
        MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION),
        &refused);
    if (why) {
        bool built = reply_error(r, refused, why);
        if (refused == MHD_HTTP_UNAUTHORIZED) {
            r->header = MHD_HTTP_HEADER_WWW_AUTHENTICATE;
            r->value = "Bearer realm=\"fusebox\"";
        }
        return built;
    }
    if (strlen(name) >= STATE_NAME_MAX)
        return reply_error(r, MHD_HTTP_BAD_REQUEST, "breaker name too long");
    if (for_text && (run != cmd_open || !cli_parse_duration(for_text, &for_ms) || for_ms == 0))
        return reply_error(r, MHD_HTTP_BAD_REQUEST,
                           run != cmd_open ? "only open takes ?for="
                                           : "?for= is not a duration (e.g. 90, 1.5s, 10m, 2h)");
    if (run == cmd_reset && !breaker_exists(srv, name))
        return reply_error(r, MHD_HTTP_NOT_FOUND, "no such breaker");
    /* getopt reorders args but never writes the strings: the casts are safe */
    char *args[8] = {(char *)action};
    int argc = 1;
    if (srv->state_option) {
        args[argc++] = "--state";
        args[argc++] = (char *)srv->state_option;
    }
    if (for_text) {
        args[argc++] = "--for";
        args[argc++] = (char *)for_text;
    }
    args[argc++] = "--";
    args[argc++] = (char *)name;
    int status = run(argc, args);
    fflush(stdout);
    if (status != EXIT_OK)
        return reply_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR,
                           "the change failed (see the server's error output)");
    return get_view(srv, VIEW_BREAKER, name, r);
}

/* Routes a GET or POST to its handler; writes 404/405 replies itself. */
static bool route(const struct server *srv, struct MHD_Connection *conn, const char *method,
                  const char *url, struct reply *r)
{
    bool get = strcmp(method, MHD_HTTP_METHOD_GET) == 0;
    static const char prefix[] = "/breakers/";
    static const char *const paths[] = {
        [VIEW_METRICS] = "/metrics", [VIEW_BREAKERS] = "/breakers", [VIEW_HEALTH] = "/health"};
    for (enum view v = VIEW_METRICS; v <= VIEW_HEALTH; v++)
        if (strcmp(url, paths[v]) == 0)
            return get ? get_view(srv, v, NULL, r) : reply_not_allowed(r, "GET");
    const char *name = url + sizeof prefix - 1;
    if (strncmp(url, prefix, sizeof prefix - 1) != 0 || *name == '\0')
        return reply_error(r, MHD_HTTP_NOT_FOUND, "no such endpoint");
    const char *slash = strrchr(name, '/');
    if (get) /* a breaker's name may itself contain '/' */
        return get_view(srv, VIEW_BREAKER, name, r);
    if (!slash || slash == name)
        return reply_not_allowed(r, "GET");
    char breaker[STATE_NAME_MAX + 1];
    snprintf(breaker, sizeof breaker, "%.*s", (int)(slash - name), name);
    return post_action(srv, conn, breaker, slash + 1, r);
}

/* Queues resp (NULL: memory ran out, and MHD closes the connection). */
static enum MHD_Result send_response(struct MHD_Connection *conn, unsigned status,
                                     struct MHD_Response *resp)
{
    if (!resp)
        return MHD_NO;
    enum MHD_Result queued = MHD_queue_response(conn, status, resp);
    MHD_destroy_response(resp);
    return queued;
}

/* Sends the reply built in r (or a bare 500 when building it failed). */
static enum MHD_Result send_reply(struct MHD_Connection *conn, struct reply *r, bool built)
{
    if (!built || fclose(r->out) != 0)
        return MHD_NO; /* out of memory: MHD closes the connection */
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(r->size, r->body, MHD_RESPMEM_MUST_FREE);
    if (!resp) {
        free(r->body);
        return MHD_NO;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, r->content_type);
    if (r->header)
        MHD_add_response_header(resp, r->header, r->value);
    return send_response(conn, r->status, resp);
}

/* True when the request says it has a body larger than SERVE_BODY_MAX, or
 * one of a length it does not say (chunked). */
static bool body_too_large(struct MHD_Connection *conn)
{
    const char *length =
        MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    return MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_TRANSFER_ENCODING) ||
           (length && strtoull(length, NULL, 10) > SERVE_BODY_MAX);
}

/* MHD's access handler: called once when the headers are in (a body too
 * large is refused then, unread), then with each piece of the body
 * (ignored), then once more with none left: answer then. */
static enum MHD_Result answer(void *cls, struct MHD_Connection *conn, const char *url,
                              const char *method, const char *version, const char *upload_data,
                              size_t *upload_data_size, void **request_state)
{
    static int headers_seen;
    (void)version, (void)upload_data;
    struct reply r = {0};
    if (*request_state == NULL && body_too_large(conn)) {
        bool built = reply_error(&r, MHD_HTTP_CONTENT_TOO_LARGE, "request body too large");
        return send_reply(conn, &r, built);
    }
    if (*request_state == NULL) {
        *request_state = &headers_seen;
        return MHD_YES;
    }
    if (*upload_data_size) {
        *upload_data_size = 0;
        return MHD_YES;
    }
    struct server *srv = cls;
    bool built, get = strcmp(method, MHD_HTTP_METHOD_GET) == 0;
    bool page = strcmp(url, "/") == 0, stream = strcmp(url, DASHBOARD_STREAM) == 0;
    if ((page || stream) && get)
        return send_response(conn, MHD_HTTP_OK,
                             page ? dashboard_page() : dashboard_stream(srv->dashboard, conn));
    if (page || stream) {
        built = reply_not_allowed(&r, "GET");
    } else if (!get && strcmp(method, MHD_HTTP_METHOD_POST) != 0) {
        built = reply_not_allowed(&r, "GET, POST");
    } else {
        built = route(srv, conn, method, url, &r);
    }
    return send_reply(conn, &r, built);
}

/* Parses ADDR:PORT or [ADDR6]:PORT into addr; false when it is neither. */
static bool parse_listen(const char *text, struct sockaddr_storage *addr)
{
    const char *colon = strrchr(text, ':');
    if (!colon || colon == text)
        return false;
    char host[INET6_ADDRSTRLEN + 2], *end;
    size_t host_len = (size_t)(colon - text);
    errno = 0;
    unsigned long port = strtoul(colon + 1, &end, 10);
    if (colon[1] == '\0' || *end || errno || port > 65535 || host_len >= sizeof host)
        return false;
    memcpy(host, text, host_len);
    host[host_len] = '\0';
    memset(addr, 0, sizeof *addr);
    struct sockaddr_in *in4 = (struct sockaddr_in *)addr;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)addr;
    if (inet_pton(AF_INET, host, &in4->sin_addr) == 1) {
        in4->sin_family = AF_INET;
        in4->sin_port = htons((uint16_t)port);
        return true;
    }
    if (host_len < 3 || host[0] != '[' || host[host_len - 1] != ']')
        return false;
    host[host_len - 1] = '\0';
    if (inet_pton(AF_INET6, host + 1, &in6->sin6_addr) != 1)
        return false;
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons((uint16_t)port);
    return true;
}

/* Writes the port into path (via a temporary file, so a reader never sees
 * it half written); false after a message. */
static bool write_port_file(const char *path, unsigned port)
{
    char tmp[PATH_MAX];
    FILE *f = NULL;
    bool ok = snprintf(tmp, sizeof tmp, "%s.tmp", path) < (int)sizeof tmp &&
              (f = fopen(tmp, "w")) != NULL;
    ok = ok && fprintf(f, "%u\n", port) > 0;
    ok = (f && fclose(f) == 0) && ok && rename(tmp, path) == 0;
    if (!ok)
        cli_error("serve: cannot write the port file %s: %s", path, strerror(errno));
    return ok;
}

/* How fusebox serve was asked to run. */
struct serve_options {
    const char *listen, *port_file, *token_file;
    const char *rules; /* what the dashboard shows, or NULL */
    struct sockaddr_storage addr;
    unsigned timeout_s;
};

/* The connections the server takes at once: SERVE_MAX_CONNECTIONS, or fewer
 * when it cannot have a descriptor for each (after raising its soft limit
 * to the hard one). */
static unsigned connection_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return 1000;
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    getrlimit(RLIMIT_NOFILE, &rl);
    rlim_t spare = rl.rlim_cur > 64 ? rl.rlim_cur - 64 : 1; /* for the state file, logs, … */
    return spare < SERVE_MAX_CONNECTIONS ? (unsigned)spare : SERVE_MAX_CONNECTIONS;
}

/* Writes the control token into the token file (--token-file, else the
 * state file's path with ".serve-token"); false after a message. */
static bool make_token(struct server *srv, const char *token_file)
{
    char path[PATH_MAX + 16];
    if (!token_file) {
        if (!cli_state_path(srv->state_option, path))
            return false;
        strcat(path, ".serve-token");
        token_file = path;
    }
    return serve_token_create(&srv->token, token_file);
}

/* Listens until SIGINT or SIGTERM; returns the exit status. */
static int serve(struct server *srv, const struct serve_options *o)
{
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop, NULL); /* the threads inherit the mask */
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL | MHD_ALLOW_SUSPEND_RESUME;
    if (o->addr.ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    if (srv->allow_control && !make_token(srv, o->token_file)) /* before MHD's thread reads it */
        return EXIT_BAD_INPUT;
    srv->dashboard =
        dashboard_start(srv->state_option, o->rules, srv->allow_control ? srv->token.path : NULL);
    if (!srv->dashboard) {
        if (srv->allow_control)
            serve_token_remove(&srv->token);
        return EXIT_BAD_INPUT;
    }
    struct MHD_Daemon *daemon = MHD_start_daemon(
        flags, 0, NULL, NULL, answer, srv, MHD_OPTION_SOCK_ADDR, &o->addr,
        MHD_OPTION_CONNECTION_TIMEOUT, o->timeout_s, MHD_OPTION_PER_IP_CONNECTION_LIMIT,
        (unsigned)SERVE_PER_ADDRESS, MHD_OPTION_CONNECTION_LIMIT, connection_limit(),
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)SERVE_HEADERS_MAX, MHD_OPTION_END);
    int status = EXIT_BAD_INPUT;
    if (!daemon) {
        cli_error("serve: cannot listen on %s: %s", o->listen, strerror(errno));
        goto out;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(daemon, MHD_DAEMON_INFO_BIND_PORT);
    unsigned port = info ? info->port : 0;
    if (o->port_file && !write_port_file(o->port_file, port))
        goto out;
    char control[PATH_MAX + 32] = "refused (no --allow-control)";
    if (srv->allow_control)
        snprintf(control, sizeof control, "allowed with the token in %s", srv->token.path);
    printf("fusebox serve: listening on http://%.*s:%u/, control %s\n",
           (int)(strrchr(o->listen, ':') - o->listen), o->listen, port, control);
    fflush(stdout);
    int signal_number;
    sigwait(&stop, &signal_number);
    status = EXIT_OK;
out:
    dashboard_stop(srv->dashboard, daemon);
    if (srv->allow_control)
        serve_token_remove(&srv->token);
    return status;
}

int cmd_serve(int argc, char **argv)
{
    struct server srv = {0};
    struct serve_options o = {.listen = default_listen, .rules = getenv("FUSEBOX_RULES")};
    const char *timeout = SERVE_TIMEOUT_DEFAULT;
    const struct cli_option opts[] = {{"listen", 'l', NULL, &o.listen},
                                      {"allow-control", 'c', &srv.allow_control, NULL},
                                      {"token-file", 'T', NULL, &o.token_file},
                                      {"port-file", 'p', NULL, &o.port_file},
                                      {"timeout", 't', NULL, &timeout},
                                      {"rules", 'r', NULL, &o.rules},
                                      {0}};
    int done = cli_parse_options(argc, argv, serve_usage, opts, &srv.state_option);
    if (done >= 0)
        return done;
    uint64_t timeout_ms;
    if (optind != argc) {
        cli_error("serve: unexpected argument '%s'", argv[optind]);
        return EXIT_USAGE;
    }
    if (!parse_listen(o.listen, &o.addr)) {
        cli_error("serve: --listen %s: not ADDR:PORT or [ADDR6]:PORT (e.g. 127.0.0.1:9464)",
                  o.listen);
        return EXIT_USAGE;
    }
    if (!cli_parse_duration(timeout, &timeout_ms) || timeout_ms == 0 || timeout_ms > 86400000u) {
        cli_error("serve: --timeout %s: not a duration from 1s to 1d (e.g. 10s, 1m)", timeout);
        return EXIT_USAGE;
    }
    o.timeout_s = (unsigned)((timeout_ms + 999) / 1000);
    if (o.token_file && !srv.allow_control) {
        cli_error("serve: --token-file goes with --allow-control");
        return EXIT_USAGE;
    }
    if (o.rules && !*o.rules)
        o.rules = NULL;
    return serve(&srv, &o);
}
