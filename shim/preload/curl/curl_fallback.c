/* A libcurl transfer whose breaker is open goes to the breaker's fallback:
 * an entry "HOST:PORT:FALLBACK:PORT" is put in front of the program's own
 * CURLOPT_CONNECT_TO list, so the transfer connects to the fallback address
 * while its Host header, TLS name and cookies stay the origin's; the
 * program's list is put back when the transfer ends. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "curl_internal.h"
#include "fallback.h"
#include "keep_errno.h"
#include "runtime.h"

/* "host:port:" (at most CURL_HOST_MAX + 6) + "[v6]:port" + NUL */
#define ENTRY_SIZE (CURL_HOST_MAX + 8 + FALLBACK_HOST_SIZE + 8)

/* Returns a one-node list (node and text in one malloc'd block) sending
 * origin to a ahead of next, or NULL. */
static struct curl_slist *entry_for(const struct curl_target *origin,
                                    const struct fallback_address *a, struct curl_slist *next)
{
    struct curl_slist *node = malloc(sizeof *node + ENTRY_SIZE);
    if (!node)
        return NULL;
    node->data = (char *)(node + 1);
    node->next = next;
    if (!fallback_connect_to_entry(node->data, ENTRY_SIZE, origin->host, origin->port, a)) {
        free(node);
        return NULL;
    }
    return node;
}

bool curl_fallback_begin(struct runtime *rt, const struct curl_options *o,
                         const struct curl_target *origin, struct curl_guard *g)
{
    uint32_t count;
    const struct fallback_address *fallbacks = runtime_fallbacks(rt, (uint32_t)g->origin, &count);
    if (g->proxied || count == 0)
        return false;
    KEEP_ERRNO();
    bool found = false;
    for (uint32_t i = 0; i < count && !found; i++) {
        const struct fallback_address *a = &fallbacks[i];
        int own = runtime_match_address(rt, a->family, a->addr, a->port);
        struct guarded_call call = {.ticket = {.verdict = VERDICT_BYPASS}};
        if (own == g->origin || (own >= 0 && !runtime_begin(rt, (uint32_t)own, &call)))
            continue; /* its own breaker is open too */
        struct curl_slist *entry = entry_for(origin, a, o->connect_to);
        if (!entry) {
            if (own >= 0)
                runtime_end(rt, &call, OUTCOME_IGNORED);
            break;
        }
        runtime_fallback(rt, &g->origin_call, i + 1);
        g->fell_back = g->origin;
        g->connect_to = entry;
        g->origin = own;
        g->origin_call = call;
        found = true;
    }
    return found;
}

void curl_fallback_install(CURL *handle, const struct curl_guard *g)
{
    if (!g->connect_to)
        return;
    real_curl_easy_setopt_fn set = curl_real(curl_easy_setopt);
    if (!set)
        return;
    KEEP_ERRNO();
    set(handle, CURLOPT_CONNECT_TO, g->connect_to);
}

void curl_fallback_end(CURL *handle, struct curl_guard *g, const struct curl_options *o)
{
    if (!g->connect_to)
        return;
    KEEP_ERRNO();
    real_curl_easy_setopt_fn set = curl_real(curl_easy_setopt);
    if (handle && set)
        set(handle, CURLOPT_CONNECT_TO, o->connect_to);
    free(g->connect_to);
    g->connect_to = NULL;
}
