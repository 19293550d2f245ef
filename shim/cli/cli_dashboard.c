/* The dashboard of fusebox serve: the page, the sampler thread that keeps
 * each breaker's history, and the server-sent events streams. One lock
 * guards everything the sampler writes; a stream takes it to copy a tick's
 * message, or to write a snapshot. Between ticks a stream's connection is
 * suspended (MHD's one thread never waits for it), and each tick resumes
 * them all. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>

#include "cli_dashboard.h"
#include "clock.h"
#include "dashboard_assets.h"

#define SAMPLE_MS 1000u

struct stream;

struct dashboard {
    pthread_mutex_t lock;
    pthread_cond_t wake; /* wakes the sampler at stop */
    pthread_t sampler;
    bool stopping;
    const char *state_option, *rules_spec;
    const char *token_file; /* control allowed with the token there; NULL: no control */
    uint64_t tick;          /* samples taken */
    uint64_t tick_wall;     /* CLOCK_REALTIME ms of the last one */
    struct dash_breaker *breakers[STATE_SLOTS];   /* by slot; NULL: none there */
    char *problem;                                /* why the state file cannot be used, or NULL */
    char *fleet;                                  /* what the fleet agent says of itself, or NULL */
    struct event_record recent[DASHBOARD_RECENT]; /* a ring: event n at n % size */
    uint64_t next_event, recent_from;             /* recent holds [recent_from, next_event) */
    struct rules *rules;                          /* the last that compiled, or NULL */
    struct stat rules_stat;                       /* of the file they were read from */
    char *rules_json;                             /* their object in the stream, once read */
    char *message;                                /* the message of tick message_tick */
    size_t message_size;
    uint64_t message_tick;
    uint32_t gone[STATE_SLOTS]; /* the sampler's scratch */
    struct stream *waiting;     /* the streams suspended until the next tick */
};

/* One client's stream: what it was last sent, the message being sent, and
 * its place in the list of those waiting for a tick. */
struct stream {
    struct dashboard *d;
    struct MHD_Connection *conn;
    uint64_t seen; /* the tick of the last message; 0: none yet */
    char *buf;
    size_t len, sent;
    struct stream *next, **prev; /* in d->waiting while suspended */
};

/* Takes every waiting stream off the list (under the lock); then, without
 * it, resume_all resumes their connections: each is suspended until then,
 * so none of them can go away meanwhile. */
static struct stream *take_waiting(struct dashboard *d)
{
    struct stream *list = d->waiting;
    d->waiting = NULL;
    for (struct stream *s = list; s; s = s->next)
        s->prev = NULL;
    return list;
}

static void resume_all(struct stream *list)
{
    while (list) {
        struct stream *next = list->next; /* read before MHD may run it again */
        MHD_resume_connection(list->conn);
        list = next;
    }
}

/* Replaces *text with a copy of next (NULL for none) and tells whether it
 * changed; a copy that cannot be made leaves *text as it was. */
static bool replace_text(char **text, const char *next)
{
    if ((!*text && !next) || (*text && next && strcmp(*text, next) == 0))
        return false;
    char *copy = next ? strdup(next) : NULL;
    if (next && !copy)
        return false;
    free(*text);
    *text = copy;
    return true;
}

/* Writes text as a JSON string, or null. */
static void json_or_null(FILE *out, const char *text)
{
    if (text)
        cli_json_string_to(out, text);
    else
        fputs("null", out);
}

/* True when a and b show differently on the page (the time until retry
 * aside, which the page counts down itself). */
static bool rows_differ(const struct breaker_row *a, const struct breaker_row *b)
{
    return a->view.state != b->view.state || a->view.time_ms != b->view.time_ms ||
           a->consecutive != b->consecutive || a->fail_max != b->fail_max ||
           a->successes != b->successes || a->failures != b->failures ||
           a->rejected != b->rejected || a->trips != b->trips || a->fallbacks != b->fallbacks ||
           a->fleet_hosts_open != b->fleet_hosts_open || a->fleet_quorum != b->fleet_quorum ||
           (a->retry_in_ms < 0) != (b->retry_in_ms < 0) || strcmp(a->name, b->name) != 0;
}

enum change { SAME, CHANGED, FRESH, GONE };

/* Takes this tick's sample of the breaker in slot id (slot NULL: the file
 * could not be read, so nothing happened); *before gets its row as it was
 * when it CHANGED. A slot whose key changed holds another breaker now
 * (FRESH): its history starts afresh. */
static enum change sample_slot(struct dashboard *d, struct state_slot *slot, uint32_t id,
                               struct breaker_row *before)
{
    struct dash_breaker *b = d->breakers[id];
    uint64_t at = d->tick % DASHBOARD_HISTORY;
    struct breaker_row row;
    if (slot && !state_slot_name(slot, row.name)) {
        bool was = b != NULL;
        d->breakers[id] = NULL;
        free(b);
        return was ? GONE : SAME;
    }
    if (!slot) {
        for (int s = 0; b && s < SERIES_COUNT; s++)
            b->history[s][at] = 0;
        return SAME;
    }
    uint64_t key = atomic_load_explicit(&slot->key, memory_order_acquire);
    bool fresh = !b || b->key != key;
    if (fresh) {
        free(b);
        if (!(b = d->breakers[id] = calloc(1, sizeof *b)))
            return GONE;
        b->key = key;
    }
    cli_read_row(slot, &row);
    const uint64_t now[SERIES_COUNT] = {cli_row_calls(&row), row.failures, row.rejected};
    for (int s = 0; s < SERIES_COUNT; s++) {
        /* a breaker there when serve started has no history; counters that
         * went down were reset, and count from zero */
        uint64_t delta = fresh && d->tick == 0     ? 0
                         : now[s] >= b->counted[s] ? now[s] - b->counted[s]
                                                   : now[s];
        b->history[s][at] = delta > UINT32_MAX ? UINT32_MAX : (uint32_t)delta;
        b->counted[s] = now[s];
    }
    enum change c = fresh ? FRESH : rows_differ(&b->row, &row) ? CHANGED : SAME;
    *before = b->row;
    b->row = row;
    return c;
}

/* Samples every slot, writing to out the members "s" (the non-zero samples
 * of this tick: [id, calls, failures, rejected]), "b" (the breakers that
 * changed: what changed, or all of a new one) and "gone" (the ids of those
 * that are no more). */
static void sample_slots(struct dashboard *d, struct state *st, FILE *out)
{
    char *changes = NULL;
    size_t changes_size = 0, n_changed = 0, n_gone = 0, n_samples = 0;
    FILE *ch = open_memstream(&changes, &changes_size);
    uint64_t at = d->tick % DASHBOARD_HISTORY;
    fputs(",\"s\":[", out);
    for (uint32_t id = 0; id < STATE_SLOTS; id++) {
        struct breaker_row before;
        enum change c = sample_slot(d, st ? &st->slots[id] : NULL, id, &before);
        const struct dash_breaker *b = d->breakers[id];
        if (c == GONE)
            d->gone[n_gone++] = id;
        if (ch && (c == FRESH || c == CHANGED))
            fputs(n_changed++ ? "," : "", ch);
        if (ch && c == FRESH)
            dashboard_breaker_json(ch, id, b, false, d->tick);
        else if (ch && c == CHANGED)
            dashboard_breaker_diff(ch, id, &before, &b->row);
        if (b && (b->history[0][at] | b->history[1][at] | b->history[2][at]))
            fprintf(out, "%s[%u,%u,%u,%u]", n_samples++ ? "," : "", id, b->history[0][at],
                    b->history[1][at], b->history[2][at]);
    }
    fputs("],\"b\":[", out);
    if (ch && fclose(ch) == 0)
        fwrite(changes, 1, changes_size, out);
    free(changes);
    fputs("],\"gone\":[", out);
    for (size_t i = 0; i < n_gone; i++)
        fprintf(out, "%s%u", i ? "," : "", d->gone[i]);
    fputc(']', out);
}

/* What keep_event needs: the dashboard, the stream of the tick's "e", and
 * the first event it sends (the page shows the last DASHBOARD_RECENT). */
struct event_sink {
    struct dashboard *d;
    FILE *out;
    uint64_t from;
    size_t count;
};

/* Keeps ev among the recent ones and writes it to the tick's "e" when it
 * is one of the last DASHBOARD_RECENT (a cli_read_events callback). */
static void keep_event(const struct event_record *ev, void *arg)
{
    struct event_sink *sink = arg;
    struct dashboard *d = sink->d;
    d->recent[ev->seq % DASHBOARD_RECENT] = *ev;
    if (ev->seq + 1 > d->recent_from + DASHBOARD_RECENT)
        d->recent_from = ev->seq + 1 - DASHBOARD_RECENT;
    if (ev->seq < sink->from)
        return;
    fputs(sink->count++ ? "," : "", sink->out);
    cli_event_json(sink->out, ev);
}

/* Reads the transitions appended since the last tick into "e" (none when
 * there is no state file). */
static void read_events(struct dashboard *d, struct state *st, FILE *out)
{
    if (!st) {
        fputs(",\"e\":[]", out);
        return;
    }
    uint64_t head = state_events_appended(st);
    if (head < d->next_event) /* a new state file: its events count from 0 */
        d->next_event = 0;
    if (d->tick == 0 && head > DASHBOARD_RECENT)
        d->next_event = head - DASHBOARD_RECENT;
    if (d->recent_from > d->next_event || d->tick == 0)
        d->recent_from = d->next_event;
    struct event_sink sink = {d, out, head > DASHBOARD_RECENT ? head - DASHBOARD_RECENT : 0, 0};
    fputs(",\"e\":[", out);
    cli_read_events(st, &d->next_event, keep_event, &sink);
    fputc(']', out);
}

/* Says in the tick (",\"fleet\": …") what the fleet agent says of itself
 * when that changed. */
static void read_fleet(struct dashboard *d, const struct state *st, FILE *out)
{
    char *line = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&line, &size);
    if (!f)
        return;
    bool any = st && cli_fleet_agent_line(f, st);
    if (fclose(f) == 0 && any && size)
        line[size - 1] = '\0'; /* the newline */
    if (replace_text(&d->fleet, any ? line : NULL)) {
        fputs(",\"fleet\":", out);
        json_or_null(out, d->fleet);
    }
    free(line);
}

/* True when a and b describe the same version of a file. */
static bool same_file(const struct stat *a, const struct stat *b)
{
    return a->st_dev == b->st_dev && a->st_ino == b->st_ino && a->st_size == b->st_size &&
           a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec;
}

/* Reads the rules again when their file changed (inline rules: once), and
 * then writes their object to the tick (",\"rules\": …"). Rules that no
 * longer compile keep the last good ones, with the problem, as the shim does. */
static void watch_rules(struct dashboard *d, FILE *out)
{
    const char *spec = d->rules_spec;
    bool inline_json = spec && spec[strspn(spec, " \t\r\n")] == '{';
    struct stat now = {0};
    if (d->rules_json && (!spec || inline_json))
        return;
    if (spec && !inline_json && stat(spec, &now) != 0)
        memset(&now, 0, sizeof now);
    if (d->rules_json && same_file(&now, &d->rules_stat))
        return;
    d->rules_stat = now;
    char *errors = NULL, *json = NULL;
    size_t size = 0;
    struct rules *r = spec ? rules_load(spec, &errors) : NULL;
    if (r) {
        rules_free(d->rules);
        d->rules = r;
    }
    FILE *f = open_memstream(&json, &size);
    if (f) {
        dashboard_rules_json(f, inline_json ? RULES_INLINE_SOURCE : spec, d->rules,
                             spec && !r ? (errors ? errors : "out of memory") : NULL);
        if (fclose(f) == 0) {
            free(d->rules_json);
            d->rules_json = json, json = NULL;
            fprintf(out, ",\"rules\":%s", d->rules_json);
        }
    }
    free(json);
    free(errors);
}

/* Takes one sample of everything and makes the tick's message. */
static void take_sample(struct dashboard *d)
{
    char path[PATH_MAX], err[PATH_MAX + 128] = "", *message = NULL;
    size_t size = 0;
    struct state *st = NULL;
    if (cli_state_path(d->state_option, path))
        st = state_open(path, false, err, sizeof err);
    else
        snprintf(err, sizeof err, "no state file path (too long?)");
    if (!st && errno == ENOENT)
        err[0] = '\0'; /* not made yet: no breakers */
    FILE *out = open_memstream(&message, &size);
    if (!out) {
        state_close(st);
        return;
    }
    d->tick_wall = clock_wall_ms();
    fprintf(out, "event: tick\ndata: {\"t\":%llu", (unsigned long long)d->tick_wall);
    if (replace_text(&d->problem, err[0] ? err : NULL)) {
        fputs(",\"problem\":", out);
        json_or_null(out, d->problem);
    }
    sample_slots(d, st, out);
    read_events(d, st, out);
    read_fleet(d, st, out);
    watch_rules(d, out);
    fputs("}\n\n", out);
    state_close(st);
    d->tick++;
    if (fclose(out) == 0) {
        free(d->message);
        d->message = message, d->message_size = size, d->message_tick = d->tick;
    } else {
        free(message);
    }
}

/* The sampler thread: a sample a second until stopping. */
static void *sampler_run(void *arg)
{
    struct dashboard *d = arg;
    struct timespec next;
    clock_gettime(CLOCK_MONOTONIC, &next);
    pthread_mutex_lock(&d->lock);
    while (!d->stopping) {
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (now.tv_sec > next.tv_sec + 1)
            next = now; /* the machine slept: no burst of samples to catch up */
        next.tv_sec += SAMPLE_MS / 1000;
        while (!d->stopping && pthread_cond_timedwait(&d->wake, &d->lock, &next) != ETIMEDOUT)
            ;
        if (d->stopping)
            break;
        take_sample(d);
        struct stream *waiting = take_waiting(d);
        pthread_mutex_unlock(&d->lock);
        resume_all(waiting);
        pthread_mutex_lock(&d->lock);
    }
    pthread_mutex_unlock(&d->lock);
    return NULL;
}

struct dashboard *dashboard_start(const char *state_option, const char *rules_spec,
                                  const char *token_file)
{
    struct dashboard *d = calloc(1, sizeof *d);
    pthread_condattr_t attr;
    if (!d || pthread_condattr_init(&attr) != 0) {
        free(d);
        cli_error("serve: out of memory");
        return NULL;
    }
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_mutex_init(&d->lock, NULL);
    pthread_cond_init(&d->wake, &attr);
    pthread_condattr_destroy(&attr);
    d->state_option = state_option;
    d->rules_spec = rules_spec;
    d->token_file = token_file;
    take_sample(d); /* a stream never waits for its first */
    int err = pthread_create(&d->sampler, NULL, sampler_run, d);
    if (err) {
        cli_error("serve: cannot start the dashboard's sampler: %s", strerror(err));
        d->stopping = true;
        dashboard_stop(d, NULL);
        return NULL;
    }
    return d;
}

void dashboard_stop(struct dashboard *d, struct MHD_Daemon *daemon)
{
    pthread_mutex_lock(&d->lock);
    bool running = !d->stopping;
    d->stopping = true;
    pthread_cond_broadcast(&d->wake);
    struct stream *waiting = take_waiting(d);
    pthread_mutex_unlock(&d->lock);
    resume_all(waiting); /* MHD must not be stopped with a connection suspended */
    if (daemon)
        MHD_stop_daemon(daemon); /* the streams end: stream_free still needs d */
    if (running)
        pthread_join(d->sampler, NULL);
    for (uint32_t i = 0; i < STATE_SLOTS; i++)
        free(d->breakers[i]);
    rules_free(d->rules);
    free(d->rules_json);
    free(d->problem);
    free(d->fleet);
    free(d->message);
    pthread_cond_destroy(&d->wake);
    pthread_mutex_destroy(&d->lock);
    free(d);
}

/* Writes the stream's first message (or the one after falling behind):
 * every breaker with its history, the recent transitions, the rules. */
static void write_snapshot(const struct dashboard *d, FILE *out)
{
    fprintf(out, "retry: 1000\nevent: snapshot\ndata: {\"t\":%llu,\"file\":",
            (unsigned long long)d->tick_wall);
    char path[PATH_MAX];
    json_or_null(out, cli_state_path(d->state_option, path) ? path : NULL);
    fputs(",\"problem\":", out);
    json_or_null(out, d->problem);
    fprintf(out, ",\"control\":%s,\"token_file\":", d->token_file ? "true" : "false");
    json_or_null(out, d->token_file);
    fprintf(out, ",\"history\":%u,\"interval_ms\":%u,\"fleet\":", DASHBOARD_HISTORY, SAMPLE_MS);
    json_or_null(out, d->fleet);
    fputs(",\"breakers\":[", out);
    for (uint32_t id = 0, n = 0; id < STATE_SLOTS; id++) {
        if (!d->breakers[id])
            continue;
        fputs(n++ ? "," : "", out);
        dashboard_breaker_json(out, id, d->breakers[id], true, d->tick - 1);
    }
    fputs("],\"events\":[", out);
    for (uint64_t n = d->recent_from, shown = 0; n < d->next_event; n++) {
        const struct event_record *ev = &d->recent[n % DASHBOARD_RECENT];
        if (ev->seq != n)
            continue; /* lost before it was read */
        fputs(shown++ ? "," : "", out);
        cli_event_json(out, ev);
    }
    fprintf(out, "],\"rules\":%s}\n\n", d->rules_json ? d->rules_json : "null");
}

enum next { NEXT_DATA, NEXT_WAIT, NEXT_END };

/* Puts the stream's next message in s->buf (NEXT_DATA); or suspends its
 * connection until the next tick (NEXT_WAIT); or says it ends (NEXT_END:
 * serve is stopping, or memory ran out). Called from the content reader,
 * the one place MHD lets a connection be suspended. */
static enum next stream_next(struct stream *s)
{
    struct dashboard *d = s->d;
    pthread_mutex_lock(&d->lock);
    enum next next = d->stopping ? NEXT_END : s->seen == d->tick ? NEXT_WAIT : NEXT_DATA;
    free(s->buf);
    s->buf = NULL, s->len = s->sent = 0;
    if (next == NEXT_WAIT) {
        s->next = d->waiting, s->prev = &d->waiting;
        if (d->waiting)
            d->waiting->prev = &s->next;
        d->waiting = s;
        MHD_suspend_connection(s->conn);
    } else if (next == NEXT_DATA && s->seen && s->seen + 1 == d->tick &&
               d->message_tick == d->tick) {
        if ((s->buf = malloc(d->message_size)))
            memcpy(s->buf, d->message, s->len = d->message_size);
        next = s->buf ? NEXT_DATA : NEXT_END;
    } else if (next == NEXT_DATA) {
        FILE *out = open_memstream(&s->buf, &s->len);
        if (out)
            write_snapshot(d, out);
        next = out && fclose(out) == 0 ? NEXT_DATA : NEXT_END;
    }
    if (next == NEXT_DATA)
        s->seen = d->tick;
    pthread_mutex_unlock(&d->lock);
    return next;
}

/* MHD's content reader of a stream: 0 (nothing yet) once the connection is
 * suspended until the next tick. */
static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    struct stream *s = cls;
    (void)pos;
    if (s->sent == s->len) {
        enum next next = stream_next(s);
        if (next != NEXT_DATA)
            return next == NEXT_WAIT ? 0 : MHD_CONTENT_READER_END_OF_STREAM;
    }
    size_t n = s->len - s->sent < max ? s->len - s->sent : max;
    memcpy(buf, s->buf + s->sent, n);
    s->sent += n;
    return (ssize_t)n;
}

/* Frees a stream whose connection ended; it may still be on the list. */
static void stream_free(void *cls)
{
    struct stream *s = cls;
    pthread_mutex_lock(&s->d->lock);
    if (s->prev) {
        *s->prev = s->next;
        if (s->next)
            s->next->prev = s->prev;
    }
    pthread_mutex_unlock(&s->d->lock);
    free(s->buf);
    free(s);
}

struct MHD_Response *dashboard_stream(struct dashboard *d, struct MHD_Connection *conn)
{
    struct stream *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->d = d;
    s->conn = conn;
    struct MHD_Response *resp =
        MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16384, stream_read, s, stream_free);
    if (!resp) {
        free(s);
        return NULL;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "text/event-stream");
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    return resp;
}

/* Writes the bytes of text up to marker (all of them when it is absent),
 * then what to put in its place; returns what follows the marker. */
static const unsigned char *copy_until(FILE *out, const unsigned char *text,
                                       const unsigned char *end, const char *marker,
                                       const char *tag, const char *nonce,
                                       const unsigned char *asset, unsigned asset_len)
{
    const unsigned char *at = memmem(text, (size_t)(end - text), marker, strlen(marker));
    fwrite(text, 1, (size_t)((at ? at : end) - text), out);
    if (!at)
        return end;
    fprintf(out, "<%s nonce=\"%s\">\n", tag, nonce);
    fwrite(asset, 1, asset_len, out);
    fprintf(out, "</%s>", tag);
    return at + strlen(marker);
}

struct MHD_Response *dashboard_page(void)
{
    unsigned char random[16];
    char nonce[2 * sizeof random + 1], csp[256], *body = NULL;
    size_t size = 0;
    if (getrandom(random, sizeof random, 0) != (ssize_t)sizeof random)
        return NULL;
    for (size_t i = 0; i < sizeof random; i++)
        snprintf(nonce + 2 * i, 3, "%02x", random[i]);
    FILE *out = open_memstream(&body, &size);
    if (!out)
        return NULL;
    const unsigned char *at = dashboard_html, *end = dashboard_html + dashboard_html_len;
    at = copy_until(out, at, end, "<!-- fusebox:style -->", "style", nonce, dashboard_css,
                    dashboard_css_len);
    at = copy_until(out, at, end, "<!-- fusebox:script -->", "script", nonce, dashboard_js,
                    dashboard_js_len);
    fwrite(at, 1, (size_t)(end - at), out);
    if (fclose(out) != 0)
        return NULL;
    struct MHD_Response *resp = MHD_create_response_from_buffer(size, body, MHD_RESPMEM_MUST_FREE);
    if (!resp) {
        free(body);
        return NULL;
    }
    snprintf(csp, sizeof csp,
             "default-src 'none'; script-src 'nonce-%s'; style-src 'nonce-%s'; "
             "connect-src 'self'; img-src data:; base-uri 'none'; form-action 'none'; "
             "frame-ancestors 'none'",
             nonce, nonce);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "text/html; charset=utf-8");
    MHD_add_response_header(resp, "Content-Security-Policy", csp);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
    return resp;
}
