/* fusebox sync: the fleet agent. It follows the local event ring, publishes
 * each transition to Redis, and applies other hosts' openings to the local
 * breakers whose rule says "fleet": {"share": true}. Hooked calls never talk
 * to Redis: the agent is the only thing that does, and it only ever writes
 * the shared state with the same atomics every process uses.
 *
 * In Redis, with NS the namespace:
 *   NS:events                 channel: one message per transition (fleet.h)
 *   NS:open:NAME:HOST         string, PX = the time HOST's breaker stays open,
 *                             value = why; it expires by itself, so a dead
 *                             host's opening ages out
 *   NS:breaker:NAME           hash, field HOST → "REMAINING_MS WALL_MS REASON"
 *                             (the fleet view for people; agents drop fields
 *                             whose NS:open key is gone)
 * Both are written by one script per transition; after (re)connecting and
 * every RECONCILE_MS each agent rewrites its own keys and reloads the others'. */
#include <errno.h>
#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "clock.h"
#include "fleet.h"
#include "refusal.h"
#include "rules.h"

#define TICK_MS 10          /* how often the event ring is read */
#define RECONCILE_MS 2000   /* full resync with Redis (also a liveness check) */
#define IO_TIMEOUT_MS 1000  /* connect and command timeout */
#define ALIVE_EVERY_MS 250  /* header heartbeat */
#define HASH_KEEP_MS 60000u /* the hash outlives the longest opening by this */

static const char sync_usage[] =
    "usage: fusebox sync --redis URL [--namespace NS] [--host-id ID] [-r RULES] [-s STATE]\n"
    "\n"
    "Runs the fleet agent: publishes every transition of this host's breakers to\n"
    "Redis and opens the breakers whose rule says \"fleet\": {\"share\": true} here\n"
    "(state fleet_open) while at least \"quorum\" other hosts have them open. Hooked\n"
    "calls never talk to Redis. Reconnects with backoff; stops on SIGTERM/SIGINT.\n"
    "One agent per state file (lock file STATE.sync.lock).\n"
    "\n"
    "  -R, --redis URL       redis://[[user]:password@]host[:port][/db] (default: $FUSEBOX_REDIS)\n"
    "  -N, --namespace NS    prefix of the Redis keys and channel (default: fusebox)\n"
    "  -H, --host-id ID      this host's name in the fleet (default: the host name)\n"
    "  -r, --rules RULES     rules file or JSON (default: $FUSEBOX_RULES)\n"
    "  -s, --state STATE     state file (default: $FUSEBOX_STATE, else per-user default)\n"
    "  -h, --help            show this help\n";

/* Writes the opening (ms > 0) or closing of HOST's breaker, and publishes. */
static const char write_script[] =
    "local ms = tonumber(ARGV[2])\n"
    "if ms > 0 then\n"
    "  redis.call('SET', KEYS[1], ARGV[3], 'PX', ms)\n"
    "  redis.call('HSET', KEYS[2], ARGV[1], ARGV[4])\n"
    "  local keep = ms + tonumber(ARGV[7])\n"
    "  if redis.call('PTTL', KEYS[2]) < keep then redis.call('PEXPIRE', KEYS[2], keep) end\n"
    "else\n"
    "  redis.call('DEL', KEYS[1])\n"
    "  redis.call('HDEL', KEYS[2], ARGV[1])\n"
    "end\n"
    "if ARGV[6] ~= '' then return redis.call('PUBLISH', ARGV[5], ARGV[6]) end\n"
    "return 0\n";

/* Returns {host, remaining ms, reason, …} of a breaker, dropping stale fields. */
static const char read_script[] = "local out = {}\n"
                                  "for _, h in ipairs(redis.call('HKEYS', KEYS[1])) do\n"
                                  "  local k = ARGV[1] .. h\n"
                                  "  local t = redis.call('PTTL', k)\n"
                                  "  if t > 0 then\n"
                                  "    out[#out + 1] = h\n"
                                  "    out[#out + 1] = tostring(t)\n"
                                  "    out[#out + 1] = redis.call('GET', k) or ''\n"
                                  "  else\n"
                                  "    redis.call('HDEL', KEYS[1], h)\n"
                                  "  end\n"
                                  "end\n"
                                  "return out\n";

/* A breaker whose rule shares it, with what this host knows of the others. */
struct shared {
    const struct rule_breaker *rule;
    struct state_slot *slot;
    struct fleet_view view;
};

struct agent {
    const char *url_text, *ns, *state_path;
    char host[FLEET_ID_MAX];
    struct fleet_url url;
    struct state *st;
    struct rules *rules;
    struct shared *shared;
    size_t shared_count;
    redisContext *cmd, *sub;
    bool connected;
    unsigned attempt;
    uint64_t retry_at, reconcile_at, alive_at, next_event;
    uint8_t published[STATE_SLOTS]; /* 1: this host's opening of slot i is in Redis */
};

static volatile sig_atomic_t stopping;

static void on_stop(int sig)
{
    (void)sig;
    stopping = 1;
}

__attribute__((format(printf, 1, 2))) static void say(const char *fmt, ...)
{
    char when[32];
    cli_iso8601(clock_wall_ms(), when);
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "fusebox: sync: %s ", when);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

/* ---- the header's word on the agent ---- */

static void note_connection(struct agent *a, bool connected)
{
    struct state_fleet_agent *f = &a->st->header->fleet;
    atomic_store_explicit(&f->since_wall_ms, clock_wall_ms(), memory_order_relaxed);
    atomic_store_explicit(&f->connected, connected ? 1u : 0u, memory_order_release);
}

static void note_agent(struct agent *a, bool running)
{
    struct state_fleet_agent *f = &a->st->header->fleet;
    uint64_t words[STATE_HOST_ID_MAX / 8] = {0};
    memcpy(words, a->host, strnlen(a->host, STATE_HOST_ID_MAX - 1));
    for (size_t i = 0; i < STATE_HOST_ID_MAX / 8; i++)
        atomic_store_explicit(&f->host_id[i], words[i], memory_order_relaxed);
    atomic_store_explicit(&f->alive_wall_ms, clock_wall_ms(), memory_order_relaxed);
    atomic_store_explicit(&f->pid, running ? (uint32_t)getpid() : 0u, memory_order_release);
}

/* ---- Redis I/O ---- */

static struct timeval timeout_tv(void)
{
    return (struct timeval){IO_TIMEOUT_MS / 1000, (IO_TIMEOUT_MS % 1000) * 1000};
}

/* Runs a command (argv) on c; returns the reply (freeReplyObject it) or NULL
 * when the connection failed or Redis answered an error (logged). */
static redisReply *command(redisContext *c, int argc, const char **argv)
{
    redisReply *r = redisCommandArgv(c, argc, argv, NULL);
    if (!r) {
        say("redis: %s", c->errstr[0] ? c->errstr : "connection lost");
        return NULL;
    }
    if (r->type == REDIS_REPLY_ERROR) {
        say("redis: %s: %s", argv[0], r->str);
        freeReplyObject(r);
        return NULL;
    }
    return r;
}

/* Connects to the URL's server, authenticates and selects the database.
 * Returns NULL after a message in err. */
static redisContext *dial(const struct fleet_url *u, char *err, size_t errlen)
{
    redisContext *c = redisConnectWithTimeout(u->host, u->port, timeout_tv());
    if (!c || c->err) {
        snprintf(err, errlen, "cannot connect to %s:%d: %s", u->host, u->port,
                 c ? c->errstr : "out of memory");
        redisFree(c);
        return NULL;
    }
    redisSetTimeout(c, timeout_tv());
    redisEnableKeepAlive(c);
    char db[16];
    snprintf(db, sizeof db, "%d", u->db);
    const char *auth[] = {"AUTH", u->user[0] ? u->user : u->password, u->password};
    const char *select[] = {"SELECT", db};
    redisReply *r = NULL;
    if (u->password[0] && !(r = command(c, u->user[0] ? 3 : 2, auth))) {
        snprintf(err, errlen, "%s:%d refused the credentials", u->host, u->port);
        redisFree(c);
        return NULL;
    }
    freeReplyObject(r);
    r = NULL;
    if (u->db && !(r = command(c, 2, select))) {
        snprintf(err, errlen, "%s:%d: cannot select database %d", u->host, u->port, u->db);
        redisFree(c);
        return NULL;
    }
    freeReplyObject(r);
    return c;
}

/* Checks what the URL asks for against what this build can do. */
static bool usable_url(const char *text, struct fleet_url *u)
{
    char err[256];
    if (!fleet_parse_url(text, u, err, sizeof err)) {
        cli_error("redis URL: %s", err);
        return false;
    }
    if (u->tls) {
        cli_error("redis URL: rediss:// needs hiredis with TLS; this fusebox was built with "
                  "hiredis %d.%d.%d, which has none (use redis:// through a TLS tunnel such as "
                  "stunnel)",
                  HIREDIS_MAJOR, HIREDIS_MINOR, HIREDIS_PATCH);
        return false;
    }
    return true;
}

static void channel_name(const char *ns, char out[FLEET_ID_MAX + 16])
{
    snprintf(out, FLEET_ID_MAX + 16, "%s:events", ns);
}

/* ---- this host → Redis ---- */

/* Writes this host's view of the breaker in slot (open for ms, or not open
 * when ms is 0) and publishes msg when not NULL. False when Redis failed. */
static bool write_own(struct agent *a, uint32_t slot, const char *name, uint64_t ms,
                      const char *reason, const char *msg)
{
    char key[512], hash[512], ms_text[24], keep[24], value[256], channel[FLEET_ID_MAX + 16];
    snprintf(key, sizeof key, "%s:open:%s:%s", a->ns, name, a->host);
    snprintf(hash, sizeof hash, "%s:breaker:%s", a->ns, name);
    snprintf(ms_text, sizeof ms_text, "%llu", (unsigned long long)ms);
    snprintf(keep, sizeof keep, "%u", HASH_KEEP_MS);
    snprintf(value, sizeof value, "%llu %llu %s", (unsigned long long)ms,
             (unsigned long long)clock_wall_ms(), reason);
    channel_name(a->ns, channel);
    const char *argv[] = {"EVAL",  write_script, "2",   key,     hash,           a->host,
                          ms_text, reason,       value, channel, msg ? msg : "", keep};
    redisReply *r = command(a->cmd, 12, argv);
    if (!r)
        return false;
    freeReplyObject(r);
    a->published[slot] = ms > 0;
    return true;
}

/* Publishes the breaker in slot as it is now, with reason; false when Redis
 * failed. Only an opening after failures (state open) counts for others:
 * forced and fleet openings are published for the record, as not open. */
static bool publish_slot(struct agent *a, uint32_t slot, const char *reason, bool announce)
{
    char name[STATE_NAME_MAX];
    if (!state_slot_name(&a->st->slots[slot], name))
        return true;
    struct breaker_view v = breaker_view(&a->st->slots[slot].breaker);
    int64_t left = breaker_retry_in_ms(&v, clock_now_ms());
    uint64_t ms = v.state == BREAKER_OPEN && left > 0 ? (uint64_t)left : 0;
    struct fleet_message m = {.kind = FLEET_STATE, .state = v.state, .ms = ms};
    snprintf(m.host, sizeof m.host, "%s", a->host);
    snprintf(m.breaker, sizeof m.breaker, "%s", name);
    snprintf(m.reason, sizeof m.reason, "%s", reason);
    char msg[FLEET_MESSAGE_MAX];
    if (announce && fleet_encode(&m, msg, sizeof msg) < 0)
        return true; /* a name no message may carry (fleet_valid_breaker): keep it local */
    if (!ms && !a->published[slot] && !announce)
        return true;
    return write_own(a, slot, name, ms, reason, announce ? msg : NULL);
}

/* Publishes the transitions appended since the last call. False when Redis
 * failed (the events are then covered by the reconcile after reconnecting). */
static bool publish_events(struct agent *a)
{
    uint64_t head = state_events_appended(a->st);
    if (head > STATE_EVENTS && a->next_event < head - STATE_EVENTS)
        a->next_event = head - STATE_EVENTS; /* lost ones: the reconcile covers them */
    for (; a->next_event < head; a->next_event++) {
        struct event_record ev;
        if (!state_read_event(a->st, a->next_event, &ev)) {
            if (a->next_event + 1 == head)
                break; /* the newest, still being written */
            continue;
        }
        if (ev.tr.cause == CAUSE_FLEET)
            continue; /* ours from the fleet: telling the fleet would echo it */
        char why[FLEET_REASON_MAX];
        breaker_describe(&ev.tr, why, sizeof why);
        if (!publish_slot(a, ev.slot, why, true))
            return false;
    }
    return true;
}

/* ---- Redis → this host ---- */

static struct shared *shared_named(struct agent *a, const char *name)
{
    for (size_t i = 0; i < a->shared_count; i++)
        if (strcmp(a->shared[i].rule->name, name) == 0)
            return &a->shared[i];
    return NULL;
}

/* True when a breaker of the agent's rules has that name. */
static bool in_rules(const struct agent *a, const char *name)
{
    for (size_t i = 0; a->rules && i < a->rules->breaker_count; i++)
        if (strcmp(a->rules->breakers[i].name, name) == 0)
            return true;
    return false;
}

/* The end of another host's opening that lasts ms more, at now: at most the
 * longest this breaker opens for here (its backoff max or its reset_timeout,
 * whichever is longer), whatever the other host says. */
static uint64_t fleet_until(const struct shared *s, uint64_t now, uint64_t ms)
{
    uint64_t cap = breaker_open_cap_ms(&s->rule->config);
    return now + (ms < cap ? ms : cap);
}

/* Applies the fleet view of one shared breaker at now: fleet_hosts_open for
 * display, and a fleet opening when the quorum is reached. */
static void apply(struct agent *a, struct shared *s, uint64_t now)
{
    struct breaker_slot *b = &s->slot->breaker;
    fleet_view_expire(&s->view, now);
    uint32_t hosts;
    uint64_t until;
    bool open = fleet_decide(&s->view, now, s->rule->fleet.quorum,
                             breaker_view(b).state == BREAKER_OPEN, &hosts, &until);
    atomic_store_explicit(&b->fleet_hosts_open, hosts, memory_order_relaxed);
    struct breaker_transition tr;
    if (open && breaker_fleet_open(b, until, hosts, &tr)) {
        uint64_t wall = clock_wall_ms();
        breaker_date(b, &tr, wall);
        state_append_event(a->st, s->slot, &tr, wall);
        say("%s: fleet_open for %.1fs (%u of quorum %u hosts have it open)", s->rule->name,
            (double)(until - now) / 1000.0, hosts, s->rule->fleet.quorum);
    }
}

static void apply_all(struct agent *a)
{
    uint64_t now = clock_now_ms();
    for (size_t i = 0; i < a->shared_count; i++)
        apply(a, &a->shared[i], now);
}

/* fusebox open NAME --fleet, as received: forced open here. Only a breaker
 * of the agent's rules may claim a slot for it, so that what anyone can
 * publish never fills the slot table; another name must have one already. */
static void force_open(struct agent *a, const struct fleet_message *m)
{
    bool ruled = in_rules(a, m->breaker);
    struct state_slot *slot = state_find_slot(a->st, m->breaker, ruled);
    if (!slot) {
        say("%s: %s", m->breaker,
            ruled ? "no free slot to open it"
                  : "in no rule of this agent and not in the state file: not opened");
        return;
    }
    struct breaker_transition tr;
    uint64_t wall = clock_wall_ms();
    breaker_force(&slot->breaker, BREAKER_FORCED_OPEN, m->ms ? clock_now_ms() + m->ms : 0, &tr);
    breaker_date(&slot->breaker, &tr, wall);
    state_append_event(a->st, slot, &tr, wall);
    say("%s: forced open on the fleet's request%s", m->breaker, m->ms ? " (for a while)" : "");
}

static void receive(struct agent *a, const char *text, size_t len)
{
    struct fleet_message m;
    if (!fleet_decode(text, len, &m)) {
        char quoted[REFUSAL_QUOTED_SIZE];
        refusal_quote(quoted, sizeof quoted, text);
        say("ignored a message that is not fusebox's: %s", quoted);
        return;
    }
    if (m.kind == FLEET_FORCE_OPEN) {
        force_open(a, &m);
        return;
    }
    struct shared *s = shared_named(a, m.breaker);
    if (!s || strcmp(m.host, a->host) == 0)
        return;
    bool open = m.state == BREAKER_OPEN && m.ms > 0;
    if (!fleet_view_set(&s->view, m.host, open ? fleet_until(s, clock_now_ms(), m.ms) : 0))
        say("%s: more than %u hosts have it open; %s not counted", m.breaker, FLEET_MAX_HOSTS,
            m.host);
    apply(a, s, clock_now_ms());
}

/* Handles every reply already read from the subscription (those that came
 * with the SUBSCRIBE reply too); false when the connection is gone. */
static bool take_subscription_replies(struct agent *a)
{
    void *reply;
    while (redisGetReplyFromReader(a->sub, &reply) == REDIS_OK && reply) {
        redisReply *r = reply;
        if (r->type == REDIS_REPLY_ARRAY && r->elements == 3 &&
            r->element[0]->type == REDIS_REPLY_STRING &&
            strcmp(r->element[0]->str, "message") == 0 && r->element[2]->type == REDIS_REPLY_STRING)
            receive(a, r->element[2]->str, r->element[2]->len);
        freeReplyObject(r);
    }
    return a->sub->err == 0;
}

/* Reads what the subscription has; false when the connection is gone. */
static bool read_subscription(struct agent *a)
{
    if (redisBufferRead(a->sub) != REDIS_OK) {
        say("redis: subscription: %s", a->sub->errstr[0] ? a->sub->errstr : "connection lost");
        return false;
    }
    return take_subscription_replies(a);
}

/* Reloads the others' openings of one shared breaker from Redis. */
static bool reload(struct agent *a, struct shared *s)
{
    char hash[512], prefix[512];
    snprintf(hash, sizeof hash, "%s:breaker:%s", a->ns, s->rule->name);
    snprintf(prefix, sizeof prefix, "%s:open:%s:", a->ns, s->rule->name);
    const char *argv[] = {"EVAL", read_script, "1", hash, prefix};
    redisReply *r = command(a->cmd, 5, argv);
    if (!r)
        return false;
    uint64_t now = clock_now_ms();
    s->view.count = 0;
    for (size_t i = 0; r->type == REDIS_REPLY_ARRAY && i + 3 <= r->elements; i += 3) {
        const redisReply *h = r->element[i], *t = r->element[i + 1];
        if (h->type != REDIS_REPLY_STRING || t->type != REDIS_REPLY_STRING ||
            strcmp(h->str, a->host) == 0 || !fleet_valid_id(h->str))
            continue;
        long long ms = atoll(t->str);
        if (ms > 0) /* a TTL */
            fleet_view_set(&s->view, h->str, fleet_until(s, now, (uint64_t)ms));
    }
    freeReplyObject(r);
    return true;
}

/* Rewrites this host's openings (announcing them too when announce: after
 * a reconnect, so the others need not wait for their own resync) and reloads
 * the others'. False when Redis failed. */
static bool reconcile(struct agent *a, bool announce)
{
    for (uint32_t i = 0; i < STATE_SLOTS; i++) {
        if (atomic_load_explicit(&a->st->slots[i].key, memory_order_relaxed) <= STATE_KEY_BUSY)
            continue;
        struct breaker_view v = breaker_view(&a->st->slots[i].breaker);
        bool open = v.state == BREAKER_OPEN;
        if ((open || a->published[i]) && !publish_slot(a, i, "resync", announce && open))
            return false;
    }
    for (size_t i = 0; i < a->shared_count; i++)
        if (!reload(a, &a->shared[i]))
            return false;
    apply_all(a);
    return true;
}

/* ---- connection life ---- */

static void disconnect(struct agent *a, const char *why)
{
    redisFree(a->cmd);
    redisFree(a->sub);
    a->cmd = a->sub = NULL;
    if (a->connected) {
        say("lost redis (%s); local breakers go on alone, retrying", why);
        note_connection(a, false);
    }
    a->connected = false;
    uint32_t wait = fleet_backoff_ms(a->attempt++, (uint32_t)random());
    a->retry_at = clock_now_ms() + wait;
}

static void try_connect(struct agent *a)
{
    char err[512], channel[FLEET_ID_MAX + 16];
    channel_name(a->ns, channel);
    if (!(a->cmd = dial(&a->url, err, sizeof err)) || !(a->sub = dial(&a->url, err, sizeof err))) {
        if (a->attempt == 0 || a->attempt % 10 == 0)
            say("%s (attempt %u)", err, a->attempt + 1);
        disconnect(a, err);
        return;
    }
    redisReply *r = command(a->sub, 2, (const char *[]){"SUBSCRIBE", channel});
    if (!r) {
        disconnect(a, "subscribe failed");
        return;
    }
    freeReplyObject(r);
    if (!take_subscription_replies(a)) { /* read with the reply: poll() would not wake for them */
        disconnect(a, "subscription lost");
        return;
    }
    a->next_event = state_events_appended(a->st); /* what came before: the reconcile says it */
    if (!reconcile(a, true)) {
        disconnect(a, "resync failed");
        return;
    }
    say("connected to redis %s:%d/%d as host '%s' (namespace '%s', %zu shared breaker%s)",
        a->url.host, a->url.port, a->url.db, a->host, a->ns, a->shared_count,
        a->shared_count == 1 ? "" : "s");
    a->connected = true;
    a->attempt = 0;
    a->reconcile_at = clock_now_ms() + RECONCILE_MS;
    note_connection(a, true);
}

/* One turn of the loop: connect when due, publish, resync, wait for messages. */
static void turn(struct agent *a)
{
    uint64_t now = clock_now_ms();
    if (!a->connected && now >= a->retry_at)
        try_connect(a);
    if (a->connected && !publish_events(a))
        disconnect(a, "publish failed");
    if (a->connected && now >= a->reconcile_at) {
        if (!reconcile(a, false))
            disconnect(a, "resync failed");
        a->reconcile_at = now + RECONCILE_MS;
    }
    if (!a->connected)
        apply_all(a); /* what was learnt before still expires on time */
    if (now >= a->alive_at) {
        atomic_store_explicit(&a->st->header->fleet.alive_wall_ms, clock_wall_ms(),
                              memory_order_relaxed);
        a->alive_at = now + ALIVE_EVERY_MS;
    }
    struct pollfd p = {.fd = a->connected ? a->sub->fd : -1, .events = POLLIN};
    if (poll(&p, 1, TICK_MS) > 0 && a->connected && !read_subscription(a))
        disconnect(a, "subscription lost");
}

/* ---- setup ---- */

/* Takes the lock file next to the state file; returns its fd, or -1 after a
 * message (another agent holds it, or it cannot be made). */
static int take_lock(const char *state_path)
{
    char path[PATH_MAX + 16];
    snprintf(path, sizeof path, "%s.sync.lock", state_path);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
        cli_error("sync: lock file %s: %s", path, strerror(errno));
        return -1;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        char pid[32] = "";
        ssize_t n = pread(fd, pid, sizeof pid - 1, 0);
        pid[n > 0 ? n : 0] = '\0';
        pid[strcspn(pid, "\n")] = '\0';
        cli_error("sync: another agent%s%s%s already serves %s (lock %s)", *pid ? " (pid " : "",
                  pid, *pid ? ")" : "", state_path, path);
        close(fd);
        return -1;
    }
    char pid[32];
    int n = snprintf(pid, sizeof pid, "%d\n", (int)getpid());
    if (ftruncate(fd, 0) != 0 || pwrite(fd, pid, (size_t)n, 0) != n)
        cli_error("sync: cannot write the pid into %s (going on)", path);
    return fd;
}

/* Finds the shared breakers of the rules and claims their slots. */
static bool load_shared(struct agent *a)
{
    a->shared = calloc(a->rules ? a->rules->breaker_count + 1 : 1, sizeof *a->shared);
    if (!a->shared)
        return false;
    for (size_t i = 0; a->rules && i < a->rules->breaker_count; i++) {
        const struct rule_breaker *rb = &a->rules->breakers[i];
        if (!rb->fleet.share)
            continue;
        struct state_slot *slot = state_find_slot(a->st, rb->name, true);
        if (!slot) {
            cli_error("sync: %s has no free slot for '%s'", a->state_path, rb->name);
            continue;
        }
        atomic_store_explicit(&slot->fleet_quorum, rb->fleet.quorum, memory_order_relaxed);
        a->shared[a->shared_count++] = (struct shared){.rule = rb, .slot = slot};
    }
    return true;
}

static bool load_rules(struct agent *a, const char *spec)
{
    if (!spec || !*spec) {
        say("no rules (-r or FUSEBOX_RULES): publishing this host's transitions only");
        return true;
    }
    char *errors = NULL;
    a->rules = rules_load(spec, &errors);
    if (!a->rules) {
        fputs(errors ? errors : "fusebox: sync: out of memory\n", stderr);
        free(errors);
        return false;
    }
    return true;
}

static bool pick_host(struct agent *a, const char *option)
{
    if (option)
        snprintf(a->host, sizeof a->host, "%s", option);
    else if (gethostname(a->host, sizeof a->host) != 0)
        a->host[0] = '\0';
    a->host[sizeof a->host - 1] = '\0';
    if (!fleet_valid_id(a->host)) {
        cli_error("sync: host id '%s': 1 to %u characters from A-Z a-z 0-9 _ . : - (--host-id)",
                  a->host, FLEET_ID_MAX - 1);
        return false;
    }
    return true;
}

static int run_agent(struct agent *a, int lock)
{
    struct sigaction sa = {.sa_handler = on_stop};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    srandom((unsigned)(getpid() ^ clock_now_ms()));
    note_agent(a, true);
    note_connection(a, false);
    say("agent pid %d for %s, host '%s'", (int)getpid(), a->state_path, a->host);
    while (!stopping)
        turn(a);
    say("stopping");
    redisFree(a->cmd);
    redisFree(a->sub);
    note_connection(a, false);
    note_agent(a, false);
    close(lock);
    return EXIT_OK;
}

int cmd_sync(int argc, char **argv)
{
    const char *state_option = NULL, *url = NULL, *ns = NULL, *host = NULL, *rules = NULL;
    const struct cli_option opts[] = {{"redis", 'R', NULL, &url},
                                      {"namespace", 'N', NULL, &ns},
                                      {"host-id", 'H', NULL, &host},
                                      {"rules", 'r', NULL, &rules},
                                      {0}};
    int done = cli_parse_options(argc, argv, sync_usage, opts, &state_option);
    if (done >= 0)
        return done;
    if (optind != argc) {
        cli_error("sync: unexpected argument '%s'", argv[optind]);
        return EXIT_USAGE;
    }
    static struct agent a;
    a.url_text = url ? url : getenv("FUSEBOX_REDIS");
    a.ns = ns ? ns : FLEET_DEFAULT_NAMESPACE;
    if (!a.url_text || !*a.url_text) {
        cli_error("sync: give --redis URL (or set FUSEBOX_REDIS)");
        return EXIT_USAGE;
    }
    if (!fleet_valid_id(a.ns)) {
        cli_error("sync: namespace '%s': 1 to %u characters from A-Z a-z 0-9 _ . : -", a.ns,
                  FLEET_ID_MAX - 1);
        return EXIT_USAGE;
    }
    if (!usable_url(a.url_text, &a.url) || !pick_host(&a, host))
        return EXIT_BAD_INPUT;
    char path[PATH_MAX];
    if (!cli_open_state(state_option, true, path, &a.st) || !a.st)
        return EXIT_BAD_INPUT;
    a.state_path = path;
    int lock = take_lock(path);
    if (lock < 0 || !load_rules(&a, rules ? rules : getenv("FUSEBOX_RULES")) || !load_shared(&a))
        return EXIT_BAD_INPUT;
    return run_agent(&a, lock);
}

int cli_fleet_force_open(const char *url_text, const char *ns, const char *name, uint64_t for_ms,
                         long long *receivers)
{
    struct fleet_url u;
    if (!url_text || !*url_text) {
        cli_error("open --fleet: give --redis URL (or set FUSEBOX_REDIS)");
        return EXIT_USAGE;
    }
    if (!fleet_valid_id(ns)) {
        cli_error("open --fleet: namespace '%s' is not valid", ns);
        return EXIT_USAGE;
    }
    if (!usable_url(url_text, &u))
        return EXIT_BAD_INPUT;
    struct fleet_message m = {.kind = FLEET_FORCE_OPEN, .host = "-", .ms = for_ms};
    snprintf(m.breaker, sizeof m.breaker, "%s", name);
    char msg[FLEET_MESSAGE_MAX], channel[FLEET_ID_MAX + 16], err[512];
    if (fleet_encode(&m, msg, sizeof msg) < 0) {
        cli_error("open --fleet: '%s' cannot be sent to the fleet", name);
        return EXIT_BAD_INPUT;
    }
    channel_name(ns, channel);
    redisContext *c = dial(&u, err, sizeof err);
    if (!c) {
        cli_error("open --fleet: %s", err);
        return EXIT_BAD_INPUT;
    }
    redisReply *r = command(c, 3, (const char *[]){"PUBLISH", channel, msg});
    int status = r && r->type == REDIS_REPLY_INTEGER ? EXIT_OK : EXIT_BAD_INPUT;
    if (status == EXIT_OK)
        *receivers = r->integer;
    freeReplyObject(r);
    redisFree(c);
    return status;
}
