/* getaddrinfo() and the gethostbyname family: they pass through unchanged.
 * When the name matches a host-name rule, the addresses it resolved to are
 * remembered (names.h), so that a later connect() to one of them finds the
 * breaker by name; a failed lookup of such a name counts as class dns. */
#include <errno.h>
#include <netdb.h>
#include <string.h>

#include "export.h"
#include "hooks.h"
#include "keep_errno.h"
#include "libc.h"
#include "names.h"
#include "rounds.h"
#include "runtime.h"

/* Fills c with the host-name candidates of name; false when no rule names
 * it (or there are no rules). */
static bool ruled_name(struct runtime **rt, const char *name, struct name_candidates *c)
{
    return name && *name && (*rt = runtime_get()) && runtime_has_names(*rt) &&
           runtime_name_candidates(*rt, name, c) > 0;
}

/* Remembers an address a ruled name resolved to, for connect() to find the
 * name by, and adds it to the lookup's addresses (a round, rounds.h). */
static void remember(const struct sockaddr *sa, socklen_t len, const struct name_candidates *c,
                     struct rounds_lookup *lookup)
{
    struct destination d;
    if (destination_of(sa, len, &d)) {
        names_record(d.family, d.addr, c);
        rounds_collect(lookup, &d);
    }
}

/* True when the lookup of a ruled name must fail at once (fail_dns, open). */
static bool lookup_rejected(struct runtime *rt, const struct name_candidates *c, uint16_t port)
{
    int b = runtime_match_candidates(rt, c, port);
    return b >= 0 && runtime_rejects_lookup(rt, (uint32_t)b);
}

/* A ruled name failed to resolve: count class dns against the breaker its
 * candidates give for port (0: port-less patterns only). Not while a
 * guarded libcurl transfer runs: its resolver thread's failure is the
 * transfer's, which counts it once. */
static void dns_failed(struct runtime *rt, const struct name_candidates *c, uint16_t port)
{
    if (atomic_load_explicit(&runtime_guarded_transfers, memory_order_relaxed))
        return;
    int b = runtime_match_candidates(rt, c, port);
    if (b >= 0)
        runtime_note(rt, (uint32_t)b, CLASS_DNS);
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
    struct runtime *rt;
    struct name_candidates c;
    bool ruled = (!hints || !(hints->ai_flags & AI_NUMERICHOST)) && ruled_name(&rt, node, &c);
    if (ruled && lookup_rejected(rt, &c, numeric_port(service))) {
        errno = ECONNREFUSED;
        return EAI_SYSTEM;
    }
    int rc = libc_getaddrinfo(node, service, hints, res);
    KEEP_ERRNO();
    if (ruled && rc == 0) {
        struct rounds_lookup lookup = {0};
        for (const struct addrinfo *ai = *res; ai; ai = ai->ai_next)
            remember(ai->ai_addr, ai->ai_addrlen, &c, &lookup);
        rounds_resolved(node, &lookup);
    } else if (ruled &&
               (rc == EAI_NONAME || rc == EAI_AGAIN || rc == EAI_FAIL || rc == EAI_NODATA)) {
        dns_failed(rt, &c, numeric_port(service));
    }
    return rc;
}

/* Remembers the addresses of name's hostent, or counts its failure. */
static void resolved(struct runtime *rt, const char *name, const struct name_candidates *c,
                     const struct hostent *he, int herr)
{
    KEEP_ERRNO();
    if (he && (he->h_addrtype == AF_INET || he->h_addrtype == AF_INET6)) {
        struct rounds_lookup lookup = {0};
        for (char **a = he->h_addr_list; *a; a++) {
            struct sockaddr_storage ss = {.ss_family = (sa_family_t)he->h_addrtype};
            struct sockaddr_in *in = (struct sockaddr_in *)&ss;
            struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
            if (he->h_addrtype == AF_INET)
                memcpy(&in->sin_addr, *a, 4);
            else
                memcpy(&in6->sin6_addr, *a, 16);
            remember((struct sockaddr *)&ss, sizeof ss, c, &lookup);
        }
        rounds_resolved(name, &lookup);
    } else if (!he && (herr == HOST_NOT_FOUND || herr == TRY_AGAIN || herr == NO_RECOVERY)) {
        dns_failed(rt, c, 0);
    }
}

/* Starts a gethostbyname-family lookup of name: sets *ruled (and *rt, *c
 * when it is ruled); returns true when the lookup must fail at once (its
 * breaker has fail_dns and is open). */
static bool hostent_rejected(const char *name, struct runtime **rt, struct name_candidates *c,
                             bool *ruled)
{
    *ruled = ruled_name(rt, name, c);
    return *ruled && lookup_rejected(*rt, c, 0);
}

/* gethostbyname (af < 0) or gethostbyname2 (af), with fail_dns and noting. */
static struct hostent *guarded_hostent(const char *name, int af)
{
    struct runtime *rt;
    struct name_candidates c;
    bool ruled;
    if (hostent_rejected(name, &rt, &c, &ruled)) {
        h_errno = TRY_AGAIN;
        return NULL;
    }
    struct hostent *he = af < 0 ? libc_gethostbyname(name) : libc_gethostbyname2(name, af);
    if (ruled)
        resolved(rt, name, &c, he, h_errno);
    return he;
}

EXPORT struct hostent *gethostbyname(const char *name)
{
    return guarded_hostent(name, -1);
}

EXPORT struct hostent *gethostbyname2(const char *name, int af)
{
    return guarded_hostent(name, af);
}

/* gethostbyname_r (af < 0) or gethostbyname2_r (af), likewise; a rejected
 * lookup fails the way glibc reports a temporary failure. */
static int guarded_hostent_r(const char *name, int af, struct hostent *ret, char *buf, size_t len,
                             struct hostent **result, int *h_errnop)
{
    struct runtime *rt;
    struct name_candidates c;
    bool ruled;
    if (hostent_rejected(name, &rt, &c, &ruled)) {
        *result = NULL;
        if (h_errnop)
            *h_errnop = TRY_AGAIN;
        return EAGAIN;
    }
    int rc = af < 0 ? libc_gethostbyname_r(name, ret, buf, len, result, h_errnop)
                    : libc_gethostbyname2_r(name, af, ret, buf, len, result, h_errnop);
    if (ruled && rc != ERANGE)
        resolved(rt, name, &c, result ? *result : NULL, h_errnop ? *h_errnop : 0);
    return rc;
}

EXPORT int gethostbyname_r(const char *name, struct hostent *ret, char *buf, size_t len,
                           struct hostent **result, int *h_errnop)
{
    return guarded_hostent_r(name, -1, ret, buf, len, result, h_errnop);
}

EXPORT int gethostbyname2_r(const char *name, int af, struct hostent *ret, char *buf, size_t len,
                            struct hostent **result, int *h_errnop)
{
    return guarded_hostent_r(name, af, ret, buf, len, result, h_errnop);
}
