/* A libcurl transfer as one breaker call: its breakers are chosen from the
 * URL's origin (and the proxy it goes through), decided before it runs, and
 * told its outcome after, from the CURLcode and the HTTP status. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "curl_internal.h"
#include "keep_errno.h"
#include "runtime.h"
#include "state.h"

/* The origin of the transfer: its URL (a CURLU when set, as libcurl
 * prefers it), with CURLOPT_PORT applied; o's own when nothing changes it,
 * else filled in *scratch. NULL when there is none. */
static const struct curl_target *origin_of(const struct curl_options *o,
                                           struct curl_target *scratch)
{
    bool port_set = o->port > 0 && o->port <= 65535;
    if (!o->curlu && !port_set)
        return o->url.host[0] ? &o->url : NULL;
    if (o->curlu) {
        if (!curl_target_of_curlu(o->curlu, scratch))
            return NULL;
    } else if (o->url.host[0]) {
        *scratch = o->url;
    } else {
        return NULL;
    }
    if (port_set)
        scratch->port = (uint16_t)o->port;
    return scratch;
}

/* True when host matches one entry of a no-proxy list as libcurl reads it:
 * "*" alone matches everything; an entry (a leading dot ignored) matches
 * the same name and its subdomains, case-insensitively. */
static bool no_proxy_for(const char *list, const char *host)
{
    size_t host_len = strlen(host);
    while (*list) {
        list += strspn(list, ", \t");
        size_t len = strcspn(list, ", \t");
        const char *entry = list;
        list += len;
        if (len == 1 && *entry == '*')
            return true;
        if (len && *entry == '.') {
            entry++;
            len--;
        }
        if (len == 0 || len > host_len || strncasecmp(host + host_len - len, entry, len) != 0)
            continue;
        if (len == host_len || host[host_len - len - 1] == '.')
            return true;
    }
    return false;
}

/* Fills *proxy with the proxy a transfer to origin goes through; false when
 * it goes direct. */
static bool proxy_of(const struct curl_options *o, const struct curl_target *origin,
                     struct curl_target *proxy)
{
    const struct curl_proxy_environment *env = curl_proxy_environment_read(origin->scheme);
    const char *exceptions = o->noproxy_set ? o->noproxy : env->no_lower;
    if (!exceptions)
        exceptions = env->no_upper;
    if (exceptions && no_proxy_for(exceptions, origin->host))
        return false;
    if (o->proxy_set) {
        *proxy = o->proxy;
        return proxy->host[0] != '\0';
    }
    const char *from_environment = curl_proxy_environment_proxy(env, origin->scheme);
    return from_environment && curl_target_of_proxy(from_environment, proxy);
}

/* Per thread: the destinations matched last (the origin, the proxy) and
 * their breakers, with the runtime that matched them. A runtime's rules and
 * matcher never change once it is built, and a transfer loop goes to few
 * hosts: the matcher is asked again only when a destination changes. */
struct matched {
    const struct runtime *rt; /* NULL: empty */
    uint32_t generation;      /* of the rules it was matched under */
    uint16_t port;
    int breaker;
    char host[CURL_HOST_MAX];
};
static __thread struct matched last_matched[2] __attribute__((tls_model("initial-exec")));

/* runtime_match_host for t, through last_matched[which]. */
__attribute__((always_inline)) static inline int
match_target(const struct runtime *rt, const struct curl_target *t, unsigned which)
{
    struct matched *m = &last_matched[which];
    uint32_t generation = runtime_generation(rt);
    if (m->rt != rt || m->generation != generation || m->port != t->port ||
        strcmp(m->host, t->host) != 0) {
        m->breaker = runtime_match_host(rt, t->host, t->port);
        m->rt = rt;
        m->generation = generation;
        m->port = t->port;
        memcpy(m->host, t->host, strlen(t->host) + 1);
    }
    return m->breaker;
}

static void note_rejection(struct curl_guard *g, const struct guarded_call *call,
                           const struct curl_target *t)
{
    g->rejected_by = (int)call->breaker;
    g->rejected_call = *call;
    snprintf(g->rejected_target, sizeof g->rejected_target, "%s:%u", t->host, (unsigned)t->port);
}

enum curl_verdict curl_guard_begin(struct runtime *rt, const struct curl_options *o,
                                   struct curl_guard *g)
{
    KEEP_ERRNO();
    struct curl_target scratch, proxy;
    enum curl_verdict verdict = CURL_UNGUARDED;
    g->origin = g->via = g->rejected_by = g->fell_back = -1;
    g->connect_to = NULL;
    g->proxied = false;
    const struct curl_target *origin = origin_of(o, &scratch);
    if (origin) {
        g->proxied = proxy_of(o, origin, &proxy);
        g->origin = match_target(rt, origin, 0);
        g->via = g->proxied ? match_target(rt, &proxy, 1) : -1;
    }
    bool refused = g->origin >= 0 && !runtime_begin_host(rt, (uint32_t)g->origin, origin->host,
                                                         origin->port, &g->origin_call);
    if (refused && curl_fallback_begin(rt, o, origin, g))
        refused = false;
    if (refused) {
        note_rejection(g, &g->origin_call, origin);
        verdict = CURL_REJECTED;
    } else if (g->via >= 0 &&
               !runtime_begin_host(rt, (uint32_t)g->via, proxy.host, proxy.port, &g->via_call)) {
        if (g->origin >= 0)
            runtime_end(rt, &g->origin_call, OUTCOME_IGNORED);
        note_rejection(g, &g->via_call, &proxy);
        verdict = CURL_REJECTED;
    } else if (g->origin >= 0 || g->via >= 0 || g->connect_to) {
        atomic_fetch_add_explicit(&runtime_guarded_transfers, 1, memory_order_relaxed);
        verdict = CURL_ALLOWED;
    }
    return verdict;
}

/* A long from curl_easy_getinfo, 0 when unavailable. */
static long info_long(CURL *handle, CURLINFO info)
{
    real_curl_easy_getinfo_fn get = curl_real(curl_easy_getinfo);
    long value = 0;
    if (!get || get(handle, info, &value) != CURLE_OK)
        return 0;
    return value;
}

/* True when the transfer spoke HTTP (its status is an HTTP status). */
static bool spoke_http(CURL *handle)
{
    real_curl_easy_getinfo_fn get = curl_real(curl_easy_getinfo);
    char *scheme = NULL;
    if (!get || get(handle, CURLINFO_SCHEME, &scheme) != CURLE_OK || !scheme)
        return false;
    return (scheme[0] | 0x20) == 'h' && (scheme[1] | 0x20) == 't' && (scheme[2] | 0x20) == 't' &&
           (scheme[3] | 0x20) == 'p' &&
           (scheme[4] == '\0' || ((scheme[4] | 0x20) == 's' && scheme[5] == '\0'));
}

/* The class of a transfer that failed with rc (not one the server answered
 * with an HTTP status): what the error says of the destination, or
 * OUTCOME_IGNORED for errors on the client's side (bad URL or options,
 * write errors, certificate checks, aborted by a callback, …). */
static enum outcome_class class_of_error(CURLcode rc, long os_errno)
{
    switch (rc) {
    case CURLE_COULDNT_CONNECT: {
        enum outcome_class c = outcome_class_of_errno((int)os_errno);
        return os_errno == 0 ? CLASS_REFUSED : c;
    }
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_FTP_ACCEPT_TIMEOUT:
        return CLASS_TIMEOUT;
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
        return CLASS_DNS;
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_WEIRD_SERVER_REPLY:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_HTTP3:
    case CURLE_PROXY:
        return CLASS_RESET;
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_SSL_SHUTDOWN_FAILED:
    case CURLE_USE_SSL_FAILED:
    case CURLE_QUIC_CONNECT_ERROR:
        return CLASS_TLS;
    default:
        return OUTCOME_IGNORED;
    }
}

/* True when rc (with the proxy's CONNECT status) says the proxy itself
 * failed: it could not be resolved, reached or spoken to, or it refused
 * the tunnel. */
static bool proxy_failed(CURLcode rc, long connect_status)
{
    return rc == CURLE_COULDNT_RESOLVE_PROXY || rc == CURLE_COULDNT_CONNECT || rc == CURLE_PROXY ||
           connect_status >= 300;
}

/* The rest a 429 or 503 answer asked for with Retry-After (seconds or an
 * HTTP date, as libcurl parsed it), in ms; 0 when none. */
static uint32_t retry_after_ms(CURL *handle, long status)
{
    if (status != 429 && status != 503)
        return 0;
    real_curl_easy_getinfo_fn get = curl_real(curl_easy_getinfo);
    curl_off_t seconds = 0;
    if (!get || get(handle, CURLINFO_RETRY_AFTER, &seconds) != CURLE_OK || seconds <= 0)
        return 0;
    return seconds < BREAKER_MAX_RESET_MS / 1000 ? (uint32_t)seconds * 1000 : BREAKER_MAX_RESET_MS;
}

static void record(const struct curl_guard *g, enum outcome_class origin, enum outcome_class via,
                   uint32_t rest_ms)
{
    struct runtime *rt = runtime_peek();
    if (rt && g->origin >= 0)
        runtime_end_after(rt, &g->origin_call, origin, rest_ms);
    if (rt && g->via >= 0)
        runtime_end(rt, &g->via_call, via);
    atomic_fetch_sub_explicit(&runtime_guarded_transfers, 1, memory_order_relaxed);
}

void curl_guard_end(const struct curl_guard *g, CURL *handle, CURLcode rc)
{
    KEEP_ERRNO();
    long connect_status = g->proxied ? info_long(handle, CURLINFO_HTTP_CONNECTCODE) : 0;
    long status = 0;
    enum outcome_class origin, via;
    if (g->proxied && proxy_failed(rc, connect_status)) {
        origin = OUTCOME_IGNORED;
        via = connect_status >= 300 ? outcome_class_of_http_status(connect_status)
                                    : class_of_error(rc, info_long(handle, CURLINFO_OS_ERRNO));
        if (via == OUTCOME_SUCCESS)
            via = CLASS_RESET;
    } else {
        if (rc == CURLE_OK || rc == CURLE_HTTP_RETURNED_ERROR) {
            /* below 400 every status is a success: the scheme matters above */
            status = info_long(handle, CURLINFO_RESPONSE_CODE);
            if (status >= 400 && !spoke_http(handle))
                status = 0;
            origin = outcome_class_of_http_status(status);
        } else
            origin = class_of_error(rc, info_long(handle, CURLINFO_OS_ERRNO));
        via = origin == OUTCOME_IGNORED ? OUTCOME_IGNORED : OUTCOME_SUCCESS;
    }
    record(g, origin, via, retry_after_ms(handle, status));
}

void curl_guard_end_unread(const struct curl_guard *g, CURL *handle)
{
    KEEP_ERRNO();
    long status = spoke_http(handle) ? info_long(handle, CURLINFO_RESPONSE_CODE) : 0;
    enum outcome_class origin = status > 0 ? outcome_class_of_http_status(status) : OUTCOME_IGNORED;
    record(g, origin, origin == OUTCOME_IGNORED ? OUTCOME_IGNORED : OUTCOME_SUCCESS,
           retry_after_ms(handle, status));
}

void curl_guard_explain(const struct curl_guard *g, char *errorbuffer)
{
    struct runtime *rt = runtime_peek();
    if (!errorbuffer || !rt || g->rejected_by < 0)
        return;
    KEEP_ERRNO();
    bool forced;
    unsigned long long s = (runtime_retry_in_ms(rt, &g->rejected_call, &forced) + 999) / 1000;
    char name[STATE_NAME_MAX], wait[40];
    if (!forced)
        snprintf(wait, sizeof wait, "retry in %llus", s);
    else if (s)
        snprintf(wait, sizeof wait, "forced open, %llus left", s);
    else
        snprintf(wait, sizeof wait, "forced open until closed");
    snprintf(errorbuffer, CURL_ERROR_SIZE, "circuit open: breaker '%s' (%s), %s",
             runtime_breaker_name(rt, &g->rejected_call, name), g->rejected_target, wait);
}
