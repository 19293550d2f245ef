#include "fleet_sentinel.h"

#include <stdio.h>
#include <string.h>

#include "refusal.h"

#define SCHEME "redis+sentinel://"
#define TLS_SCHEME "rediss+sentinel://"

bool fleet_is_sentinel_url(const char *url)
{
    return strncmp(url, SCHEME, strlen(SCHEME)) == 0 ||
           strncmp(url, TLS_SCHEME, strlen(TLS_SCHEME)) == 0;
}

/* Parses "HOST[:PORT][,HOST[:PORT]…]" (len bytes) into out->sentinels. */
static bool parse_sentinels(const char *s, size_t len, struct fleet_sentinel_url *out, char *err,
                            size_t errlen)
{
    const char *end = s + len;
    for (;;) {
        const char *comma = memchr(s, ',', (size_t)(end - s));
        const char *stop = comma ? comma : end;
        if (out->count == FLEET_SENTINELS_MAX)
            return refuse(err, errlen, "more than %u sentinels", FLEET_SENTINELS_MAX);
        struct fleet_url *u = &out->sentinels[out->count];
        u->port = FLEET_SENTINEL_PORT;
        if (!fleet_parse_hostport(s, (size_t)(stop - s), u, err, errlen))
            return false;
        out->order[out->count] = out->count;
        out->count++;
        if (!comma)
            return true;
        s = comma + 1;
    }
}

/* Sets the user (or password when password) of every sentinel to len bytes at v. */
static bool set_sentinel_auth(struct fleet_sentinel_url *out, bool password, const char *v,
                              size_t len)
{
    for (size_t i = 0; i < out->count; i++) {
        struct fleet_url *u = &out->sentinels[i];
        if (!(password ? fleet_copy_text(u->password, sizeof u->password, v, len)
                       : fleet_copy_text(u->user, sizeof u->user, v, len)))
            return false;
    }
    return true;
}

static bool is_key(const char *k, size_t len, const char *name)
{
    return len == strlen(name) && memcmp(k, name, len) == 0;
}

/* Parses "db=N&sentinel_username=U&sentinel_password=P" (any order, any subset). */
static bool parse_query(const char *q, struct fleet_sentinel_url *out, char *err, size_t errlen)
{
    while (*q) {
        size_t n = strcspn(q, "&");
        const char *eq = memchr(q, '=', n);
        if (!eq)
            return refuse(err, errlen, "parameter '%.*s' has no '=VALUE'", (int)n, q);
        size_t klen = (size_t)(eq - q), vlen = n - klen - 1;
        long db;
        if (is_key(q, klen, "db")) {
            if (!fleet_read_number(eq + 1, vlen, 1000000, &db))
                return refuse(err, errlen, "database '%.*s' is not a number", (int)vlen, eq + 1);
            out->node.db = (int)db;
        } else if (is_key(q, klen, "sentinel_username") || is_key(q, klen, "sentinel_password")) {
            if (!set_sentinel_auth(out, is_key(q, klen, "sentinel_password"), eq + 1, vlen))
                return refuse(err, errlen, "%.*s too long", (int)klen, q);
        } else {
            return refuse(err, errlen,
                          "unknown parameter '%.*s' (db, sentinel_username, sentinel_password)",
                          (int)klen, q);
        }
        q += n + (q[n] == '&');
    }
    return true;
}

bool fleet_parse_sentinel_url(const char *url, struct fleet_sentinel_url *out, char *err,
                              size_t errlen)
{
    memset(out, 0, sizeof *out);
    const char *rest;
    if (strncmp(url, SCHEME, strlen(SCHEME)) == 0) {
        rest = url + strlen(SCHEME);
    } else if (strncmp(url, TLS_SCHEME, strlen(TLS_SCHEME)) == 0) {
        rest = url + strlen(TLS_SCHEME);
        out->node.tls = true;
    } else {
        return refuse(err, errlen, "'%s' is not a redis+sentinel:// URL", url);
    }
    const char *slash = strchr(rest, '/');
    if (!slash)
        return refuse(err, errlen, "no /MASTER after the sentinels");
    const char *at = memchr(rest, '@', (size_t)(slash - rest));
    if (at && !fleet_parse_userinfo(rest, (size_t)(at - rest), &out->node, err, errlen))
        return false;
    const char *list = at ? at + 1 : rest;
    if (!parse_sentinels(list, (size_t)(slash - list), out, err, errlen))
        return false;
    const char *name = slash + 1;
    size_t len = strcspn(name, "?");
    if (!fleet_copy_text(out->master, sizeof out->master, name, len) ||
        !fleet_valid_id(out->master))
        return refuse(err, errlen,
                      "master name '%.*s': 1 to %u characters from A-Z a-z 0-9 _ . : -", (int)len,
                      name, FLEET_ID_MAX - 1);
    return name[len] != '?' || parse_query(name + len + 1, out, err, errlen);
}

/* Reads one port (1-65535) of len bytes at s into *port. */
static bool read_port(const char *s, size_t len, int *port)
{
    long n;
    if (!fleet_read_number(s, len, 65535, &n) || n == 0)
        return false;
    *port = (int)n;
    return true;
}

void fleet_sentinel_prefer(struct fleet_sentinel_url *u, size_t i)
{
    size_t at = 0;
    while (at < u->count && u->order[at] != i)
        at++;
    if (at == u->count)
        return;
    memmove(&u->order[1], &u->order[0], at * sizeof u->order[0]);
    u->order[0] = i;
}

bool fleet_sentinel_node(const struct fleet_sentinel_url *u, const char *host, const char *port,
                         struct fleet_url *node)
{
    *node = u->node;
    return host[0] != '\0' && fleet_copy_text(node->host, sizeof node->host, host, strlen(host)) &&
           read_port(port, strlen(port), &node->port);
}

bool fleet_parse_switch(const char *text, size_t len, struct fleet_switch *out)
{
    const char *word[5], *end = text + len, *p = text;
    size_t wlen[5];
    memset(out, 0, sizeof *out);
    for (int i = 0; i < 5; i++) { /* the last word runs to the end */
        const char *stop = i < 4 ? memchr(p, ' ', (size_t)(end - p)) : end;
        if (!stop || stop == p)
            return false;
        word[i] = p;
        wlen[i] = (size_t)(stop - p);
        p = stop + (i < 4);
    }
    return fleet_copy_text(out->master, sizeof out->master, word[0], wlen[0]) &&
           fleet_copy_text(out->from.host, sizeof out->from.host, word[1], wlen[1]) &&
           read_port(word[2], wlen[2], &out->from.port) &&
           fleet_copy_text(out->to.host, sizeof out->to.host, word[3], wlen[3]) &&
           read_port(word[4], wlen[4], &out->to.port);
}

static const char *const role_names[] = {
    [FLEET_ROLE_UNKNOWN] = "unknown",
    [FLEET_ROLE_MASTER] = "master",
    [FLEET_ROLE_REPLICA] = "slave",
    [FLEET_ROLE_SENTINEL] = "sentinel",
};

enum fleet_role fleet_role_of(const char *word, size_t len)
{
    for (int r = FLEET_ROLE_MASTER; r <= FLEET_ROLE_SENTINEL; r++)
        if (is_key(word, len, role_names[r]))
            return (enum fleet_role)r;
    return FLEET_ROLE_UNKNOWN;
}

const char *fleet_role_name(enum fleet_role role)
{
    return (unsigned)role <= FLEET_ROLE_SENTINEL ? role_names[role] : role_names[0];
}
