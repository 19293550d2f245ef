#include "sync_sentinel.h"

#include <stdio.h>
#include <string.h>

#include "sync.h"

static bool is_string(const redisReply *r)
{
    return r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS;
}

/* Runs a command on c without logging; returns the reply (freeReplyObject
 * it), or NULL with why (len bytes) saying what went wrong. */
static redisReply *quietly(redisContext *c, int argc, const char **argv, char *why, size_t len)
{
    redisReply *r = redisCommandArgv(c, argc, argv, NULL);
    if (r && r->type != REDIS_REPLY_ERROR)
        return r;
    snprintf(why, len, "%s", r ? r->str : c->errstr[0] ? c->errstr : "connection lost");
    freeReplyObject(r);
    return NULL;
}

/* Asks the sentinel su for the primary; false with the reason in why. */
static bool ask(const struct sentinel_link *s, const struct fleet_url *su, struct fleet_url *node,
                char *why, size_t len)
{
    char reason[256] = "gave no address";
    redisContext *c = dial(su, why, len);
    if (!c)
        return false;
    const char *argv[] = {"SENTINEL", "get-master-addr-by-name", s->url.master};
    redisReply *r = quietly(c, 3, argv, reason, sizeof reason);
    bool ok = r && r->type == REDIS_REPLY_ARRAY && r->elements == 2 && is_string(r->element[0]) &&
              is_string(r->element[1]) &&
              fleet_sentinel_node(&s->url, r->element[0]->str, r->element[1]->str, node);
    if (r && r->type == REDIS_REPLY_NIL)
        snprintf(reason, sizeof reason, "does not monitor it");
    if (!ok)
        snprintf(why, len, "%s:%d: %s", su->host, su->port, reason);
    freeReplyObject(r);
    redisFree(c);
    return ok;
}

bool sentinel_find_primary(struct sentinel_link *s, struct fleet_url *node, char *err,
                           size_t errlen)
{
    char whys[1024] = "", why[300];
    size_t order[FLEET_SENTINELS_MAX], used = 0;
    memcpy(order, s->url.order, sizeof order);
    for (size_t k = 0; k < s->url.count; k++) {
        const struct fleet_url *su = &s->url.sentinels[order[k]];
        if (ask(s, su, node, why, sizeof why)) {
            fleet_sentinel_prefer(&s->url, order[k]);
            snprintf(s->answered, sizeof s->answered, "%s:%d", su->host, su->port);
            return true;
        }
        int n = snprintf(whys + used, sizeof whys - used, "%s%s", used ? "; " : "", why);
        used += n > 0 && (size_t)n < sizeof whys - used ? (size_t)n : 0;
    }
    snprintf(err, errlen, "no sentinel named the primary of '%s' (%s)", s->url.master, whys);
    return false;
}

/* Takes every reply buffered on watch i; true when one was a +switch-master
 * of url.master (the last one in *sw, its sentinel in heard_from). */
static bool take_switches(struct sentinel_link *s, size_t i, struct fleet_switch *sw)
{
    void *reply;
    bool heard = false;
    while (redisGetReplyFromReader(s->watch[i], &reply) == REDIS_OK && reply) {
        const redisReply *r = reply;
        struct fleet_switch m;
        if (r->type == REDIS_REPLY_ARRAY && r->elements == 3 && is_string(r->element[0]) &&
            strcmp(r->element[0]->str, "message") == 0 && is_string(r->element[2]) &&
            fleet_parse_switch(r->element[2]->str, r->element[2]->len, &m) &&
            strcmp(m.master, s->url.master) == 0) {
            *sw = m;
            heard = true;
        }
        freeReplyObject(reply);
    }
    if (heard)
        snprintf(s->heard_from, sizeof s->heard_from, "%s:%d", s->url.sentinels[i].host,
                 s->url.sentinels[i].port);
    return heard;
}

bool sentinel_watch(struct sentinel_link *s, struct fleet_switch *sw)
{
    bool heard = false;
    for (size_t i = 0; i < s->url.count; i++) {
        if (s->watch[i])
            continue;
        char why[256] = "";
        const struct fleet_url *su = &s->url.sentinels[i];
        redisContext *c = dial(su, why, sizeof why);
        redisReply *r =
            c ? quietly(c, 2, (const char *[]){"SUBSCRIBE", FLEET_SWITCH_CHANNEL}, why, sizeof why)
              : NULL;
        if (!r) {
            if (!s->unwatched[i])
                say("sentinel %s:%d: cannot watch it for failovers (%s); trying again later",
                    su->host, su->port, why);
            s->unwatched[i] = true;
            redisFree(c);
            continue;
        }
        freeReplyObject(r);
        if (s->unwatched[i])
            say("sentinel %s:%d: watched for failovers again", su->host, su->port);
        s->watch[i] = c;
        s->unwatched[i] = false;
        heard |= take_switches(s, i, sw);
    }
    return heard;
}

size_t sentinel_fds(const struct sentinel_link *s, struct pollfd *fds)
{
    size_t n = 0;
    for (size_t i = 0; i < s->url.count; i++)
        if (s->watch[i])
            fds[n++] = (struct pollfd){.fd = s->watch[i]->fd, .events = POLLIN};
    return n;
}

/* Reads watch i (ready to read); drops it when its connection is gone. */
static bool read_watch(struct sentinel_link *s, size_t i, struct fleet_switch *sw)
{
    redisContext *c = s->watch[i];
    bool heard = redisBufferRead(c) == REDIS_OK && take_switches(s, i, sw);
    if (c->err) {
        say("sentinel %s:%d: %s; no longer watched for failovers", s->url.sentinels[i].host,
            s->url.sentinels[i].port, c->errstr[0] ? c->errstr : "connection lost");
        redisFree(c);
        s->watch[i] = NULL;
        s->unwatched[i] = true;
    }
    return heard;
}

bool sentinel_heard(struct sentinel_link *s, const struct pollfd *fds, size_t n,
                    struct fleet_switch *sw)
{
    bool heard = false;
    for (size_t k = 0; k < n; k++) {
        if (!fds[k].revents)
            continue;
        for (size_t i = 0; i < s->url.count; i++)
            if (s->watch[i] && s->watch[i]->fd == fds[k].fd)
                heard |= read_watch(s, i, sw);
    }
    return heard;
}

void sentinel_close(struct sentinel_link *s)
{
    for (size_t i = 0; i < s->url.count; i++) {
        redisFree(s->watch[i]);
        s->watch[i] = NULL;
    }
}

enum fleet_role sync_node_role(redisContext *c)
{
    redisReply *r = command(c, 1, (const char *[]){"ROLE"});
    enum fleet_role role = FLEET_ROLE_UNKNOWN;
    if (r && r->type == REDIS_REPLY_ARRAY && r->elements > 0 && is_string(r->element[0]))
        role = fleet_role_of(r->element[0]->str, r->element[0]->len);
    freeReplyObject(r);
    return role;
}
