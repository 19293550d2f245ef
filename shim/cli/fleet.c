#include "fleet.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "refusal.h"

#define MESSAGE_VERSION "fusebox1"
#define FORCE_OPEN_WORD "force_open"

/* Copies len bytes of s into out (size bytes) as a string; false when too long. */
static bool copy_part(char *out, size_t size, const char *s, size_t len)
{
    if (len >= size)
        return false;
    memcpy(out, s, len);
    out[len] = '\0';
    return true;
}

/* Reads a decimal integer from len bytes at s, from 0 to max. */
static bool read_number(const char *s, size_t len, long max, long *out)
{
    long n = 0;
    if (len == 0 || len > 10)
        return false;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        n = n * 10 + (s[i] - '0');
    }
    if (n > max)
        return false;
    *out = n;
    return true;
}

/* Parses "[user]:password@" at the start of userinfo (len bytes). */
static bool parse_userinfo(const char *s, size_t len, struct fleet_url *out, char *err,
                           size_t errlen)
{
    const char *colon = memchr(s, ':', len);
    size_t user_len = colon ? (size_t)(colon - s) : len;
    if (!copy_part(out->user, sizeof out->user, s, user_len))
        return refuse(err, errlen, "user name too long");
    if (!colon) { /* "redis://secret@host": a password alone, as redis-cli reads it */
        strcpy(out->password, out->user);
        out->user[0] = '\0';
        return true;
    }
    if (!copy_part(out->password, sizeof out->password, colon + 1, len - user_len - 1))
        return refuse(err, errlen, "password too long");
    return true;
}

/* Parses "host[:port]" or "[v6][:port]" (len bytes). */
static bool parse_hostport(const char *s, size_t len, struct fleet_url *out, char *err,
                           size_t errlen)
{
    const char *host = s, *port = NULL;
    size_t host_len = len;
    if (len > 0 && s[0] == '[') {
        const char *close = memchr(s, ']', len);
        if (!close)
            return refuse(err, errlen, "unclosed '[' in the host");
        host = s + 1;
        host_len = (size_t)(close - s) - 1;
        if (close + 1 < s + len) {
            if (close[1] != ':')
                return refuse(err, errlen, "expected ':PORT' after ']'");
            port = close + 2;
        }
    } else {
        const char *colon = memchr(s, ':', len);
        if (colon) {
            host_len = (size_t)(colon - s);
            port = colon + 1;
        }
    }
    if (host_len == 0)
        return refuse(err, errlen, "no host");
    if (!copy_part(out->host, sizeof out->host, host, host_len))
        return refuse(err, errlen, "host too long");
    long n;
    if (port && !read_number(port, (size_t)(s + len - port), 65535, &n))
        return refuse(err, errlen, "port '%.*s' is not 1-65535", (int)(s + len - port), port);
    if (port && n == 0)
        return refuse(err, errlen, "port 0 is not 1-65535");
    if (port)
        out->port = (int)n;
    return true;
}

bool fleet_parse_url(const char *url, struct fleet_url *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    out->port = 6379;
    const char *rest;
    if (strncmp(url, "redis://", 8) == 0) {
        rest = url + 8;
    } else if (strncmp(url, "rediss://", 9) == 0) {
        rest = url + 9;
        out->tls = true;
    } else {
        return refuse(err, errlen, "'%s' is not a redis:// or rediss:// URL", url);
    }
    const char *slash = strchr(rest, '/');
    size_t authority = slash ? (size_t)(slash - rest) : strlen(rest);
    const char *at = memchr(rest, '@', authority);
    if (at && !parse_userinfo(rest, (size_t)(at - rest), out, err, errlen))
        return false;
    const char *hp = at ? at + 1 : rest;
    if (!parse_hostport(hp, (size_t)(rest + authority - hp), out, err, errlen))
        return false;
    long db = 0;
    if (slash && slash[1] != '\0' && !read_number(slash + 1, strlen(slash + 1), 1000000, &db))
        return refuse(err, errlen, "database '%s' is not a number", slash + 1);
    out->db = (int)db;
    return true;
}

/* True when s has 1 to size-1 characters, each a letter, a digit or one of
 * extra. */
static bool is_made_of(const char *s, size_t size, const char *extra)
{
    size_t len = strlen(s);
    if (len == 0 || len >= size)
        return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              strchr(extra, *s)))
            return false;
    return true;
}

bool fleet_valid_id(const char *s)
{
    return is_made_of(s, FLEET_ID_MAX, "_.:-");
}

bool fleet_valid_breaker(const char *s)
{
    return is_made_of(s, STATE_NAME_MAX, "_.:-/[]");
}

/* True when the reason text has no control character (nor a newline). */
static bool is_plain_text(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return false;
    return true;
}

int fleet_encode(const struct fleet_message *m, char *buf, size_t len)
{
    const char *kind = m->kind == FLEET_FORCE_OPEN ? FORCE_OPEN_WORD : breaker_state_name(m->state);
    if ((strcmp(m->host, "-") != 0 && !fleet_valid_id(m->host)) ||
        !fleet_valid_breaker(m->breaker) || !is_plain_text(m->reason))
        return -1;
    int n = snprintf(buf, len, "%s %s %s %s %llu %s", MESSAGE_VERSION, kind, m->host, m->breaker,
                     (unsigned long long)m->ms, m->reason);
    return n > 0 && (size_t)n < len ? n : -1;
}

/* Splits the next space-separated word off *s (end at end); false at the end. */
static bool next_word(const char **s, const char *end, const char **word, size_t *wlen)
{
    const char *p = *s;
    const char *space = memchr(p, ' ', (size_t)(end - p));
    const char *stop = space ? space : end;
    if (stop == p)
        return false;
    *word = p;
    *wlen = (size_t)(stop - p);
    *s = space ? space + 1 : end;
    return true;
}

static bool decode_kind(const char *w, size_t n, struct fleet_message *m)
{
    if (n == strlen(FORCE_OPEN_WORD) && memcmp(w, FORCE_OPEN_WORD, n) == 0) {
        m->kind = FLEET_FORCE_OPEN;
        return true;
    }
    for (int st = 0; st < BREAKER_STATE_COUNT; st++) {
        const char *name = breaker_state_name((enum breaker_state)st);
        if (n == strlen(name) && memcmp(w, name, n) == 0) {
            m->kind = FLEET_STATE;
            m->state = (enum breaker_state)st;
            return true;
        }
    }
    return false;
}

bool fleet_decode(const char *text, size_t len, struct fleet_message *m)
{
    const char *s = text, *end = text + len, *w;
    size_t n;
    long ms;
    memset(m, 0, sizeof *m);
    if (!next_word(&s, end, &w, &n) || n != strlen(MESSAGE_VERSION) ||
        memcmp(w, MESSAGE_VERSION, n) != 0)
        return false;
    if (!next_word(&s, end, &w, &n) || !decode_kind(w, n, m))
        return false;
    if (!next_word(&s, end, &w, &n) || !copy_part(m->host, sizeof m->host, w, n) ||
        (strcmp(m->host, "-") != 0 && !fleet_valid_id(m->host)))
        return false;
    if (!next_word(&s, end, &w, &n) || !copy_part(m->breaker, sizeof m->breaker, w, n) ||
        memchr(m->breaker, '\0', n) != NULL || !fleet_valid_breaker(m->breaker))
        return false;
    if (!next_word(&s, end, &w, &n) || !read_number(w, n, BREAKER_MAX_FLEET_MS, &ms))
        return false;
    m->ms = (uint64_t)ms;
    size_t reason = (size_t)(end - s);
    if (reason >= sizeof m->reason)
        reason = sizeof m->reason - 1;
    memcpy(m->reason, s, reason);
    m->reason[reason] = '\0';
    return memchr(m->reason, '\0', reason) == NULL && is_plain_text(m->reason);
}

bool fleet_view_set(struct fleet_view *v, const char *host, uint64_t until_ms)
{
    for (size_t i = 0; i < v->count; i++) {
        if (strcmp(v->hosts[i].host, host) != 0)
            continue;
        if (until_ms)
            v->hosts[i].until_ms = until_ms;
        else
            v->hosts[i] = v->hosts[--v->count];
        return true;
    }
    if (!until_ms)
        return true;
    if (v->count >= FLEET_MAX_HOSTS || strlen(host) >= FLEET_ID_MAX)
        return false;
    strcpy(v->hosts[v->count].host, host);
    v->hosts[v->count++].until_ms = until_ms;
    return true;
}

void fleet_view_expire(struct fleet_view *v, uint64_t now_ms)
{
    for (size_t i = 0; i < v->count;)
        if (v->hosts[i].until_ms <= now_ms)
            v->hosts[i] = v->hosts[--v->count];
        else
            i++;
}

static int later_first(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? 1 : x > y ? -1 : 0;
}

bool fleet_decide(const struct fleet_view *v, uint64_t now_ms, uint32_t quorum, bool local_open,
                  uint32_t *hosts_open, uint64_t *until_ms)
{
    uint64_t ends[FLEET_MAX_HOSTS];
    uint32_t remote = 0;
    for (size_t i = 0; i < v->count; i++)
        if (v->hosts[i].until_ms > now_ms)
            ends[remote++] = v->hosts[i].until_ms;
    *hosts_open = remote + (local_open ? 1u : 0u);
    *until_ms = 0;
    if (quorum == 0 || remote < quorum)
        return false;
    qsort(ends, remote, sizeof ends[0], later_first);
    *until_ms = ends[quorum - 1];
    return true;
}

uint32_t fleet_backoff_ms(unsigned attempt, uint32_t random)
{
    uint32_t d = FLEET_BACKOFF_MAX_MS;
    if (attempt < 16 && (FLEET_BACKOFF_FIRST_MS << attempt) < FLEET_BACKOFF_MAX_MS)
        d = FLEET_BACKOFF_FIRST_MS << attempt;
    return d / 2 + random % (d - d / 2 + 1);
}
