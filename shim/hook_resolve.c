/* getaddrinfo() and the gethostbyname family: they pass through unchanged.
 * When the name matches a host-name rule, the addresses it resolved to are
 * remembered (names.h), so that a later connect() to one of them finds the
 * breaker by name; a failed lookup of such a name counts as class dns. */
#include <errno.h>
#include <netdb.h>
#include <string.h>

#include "curl.h"
#include "hooks.h"
#include "libc.h"
#include "names.h"
#include "runtime.h"

#define EXPORT __attribute__((visibility("default")))

/* Fills c with the host-name candidates of name; false when no rule names
 * it (or there are no rules). */
static bool ruled_name(struct runtime **rt, const char *name, struct name_candidates *c)
{
    if (!name || !*name || !(*rt = runtime_get()) || !(*rt)->has_names)
        return false;
    c->count = (uint32_t)match_name_candidates((*rt)->matcher, name, strlen(name), c->ids,
                                               NAMES_CANDIDATES);
    return c->count > 0;
}

static void remember(const struct sockaddr *sa, socklen_t len, const struct name_candidates *c)
{
    struct destination d;
    if (destination_of(sa, len, &d))
        names_record(d.family, d.addr, c);
}

/* A ruled name failed to resolve: count class dns against the breaker its
 * candidates give for port (0: port-less patterns only). Not while a
 * guarded libcurl transfer runs: its resolver thread's failure is the
 * transfer's, which counts it once. */
static void dns_failed(struct runtime *rt, const struct name_candidates *c, uint16_t port)
{
    if (curl_guarded_transfer_running())
        return;
    int p = match_pick_port(rt->matcher, c->ids, c->count, port);
    if (p >= 0)
        runtime_note(rt, rt->rules->patterns[p].breaker, CLASS_DNS);
}

static uint16_t numeric_port(const char *service)
{
    unsigned long port = 0;
    if (!service || !*service)
        return 0;
    for (const char *p = service; *p; p++) {
        if (*p < '0' || *p > '9' || (port = port * 10 + (unsigned long)(*p - '0')) > 65535)
            return 0;
    }
    return (uint16_t)port;
}

EXPORT int getaddrinfo(const char *node, const char *service, const struct addrinfo *hints,
                       struct addrinfo **res)
{
    int rc = libc_getaddrinfo(node, service, hints, res);
    int saved = errno;
    struct runtime *rt;
    struct name_candidates c;
    if ((!hints || !(hints->ai_flags & AI_NUMERICHOST)) && ruled_name(&rt, node, &c)) {
        if (rc == 0) {
            for (const struct addrinfo *ai = *res; ai; ai = ai->ai_next)
                remember(ai->ai_addr, ai->ai_addrlen, &c);
        } else if (rc == EAI_NONAME || rc == EAI_AGAIN || rc == EAI_FAIL || rc == EAI_NODATA) {
            dns_failed(rt, &c, numeric_port(service));
        }
    }
    errno = saved;
    return rc;
}

/* Remembers the addresses of a hostent, or counts its failure. */
static void resolved(const char *name, const struct hostent *he, int herr)
{
    int saved = errno;
    struct runtime *rt;
    struct name_candidates c;
    if (ruled_name(&rt, name, &c)) {
        if (he && (he->h_addrtype == AF_INET || he->h_addrtype == AF_INET6)) {
            for (char **a = he->h_addr_list; *a; a++) {
                struct sockaddr_storage ss = {.ss_family = (sa_family_t)he->h_addrtype};
                struct sockaddr_in *in = (struct sockaddr_in *)&ss;
                struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
                if (he->h_addrtype == AF_INET)
                    memcpy(&in->sin_addr, *a, 4);
                else
                    memcpy(&in6->sin6_addr, *a, 16);
                remember((struct sockaddr *)&ss, sizeof ss, &c);
            }
        } else if (!he && (herr == HOST_NOT_FOUND || herr == TRY_AGAIN || herr == NO_RECOVERY)) {
            dns_failed(rt, &c, 0);
        }
    }
    errno = saved;
}

EXPORT struct hostent *gethostbyname(const char *name)
{
    struct hostent *he = libc_gethostbyname(name);
    resolved(name, he, h_errno);
    return he;
}

EXPORT struct hostent *gethostbyname2(const char *name, int af)
{
    struct hostent *he = libc_gethostbyname2(name, af);
    resolved(name, he, h_errno);
    return he;
}

EXPORT int gethostbyname_r(const char *name, struct hostent *ret, char *buf, size_t len,
                           struct hostent **result, int *h_errnop)
{
    int rc = libc_gethostbyname_r(name, ret, buf, len, result, h_errnop);
    if (rc != ERANGE)
        resolved(name, result ? *result : NULL, h_errnop ? *h_errnop : 0);
    return rc;
}

EXPORT int gethostbyname2_r(const char *name, int af, struct hostent *ret, char *buf, size_t len,
                            struct hostent **result, int *h_errnop)
{
    int rc = libc_gethostbyname2_r(name, af, ret, buf, len, result, h_errnop);
    if (rc != ERANGE)
        resolved(name, result ? *result : NULL, h_errnop ? *h_errnop : 0);
    return rc;
}
