#include "fallback.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "pattern.h"
#include "refusal.h"

bool fallback_address_parse(const char *text, struct fallback_address *out, char *why,
                            size_t why_size)
{
    struct host_pattern p;
    char reason[128];
    memset(out, 0, sizeof *out);
    if (!host_pattern_parse(text, &p, reason, sizeof reason))
        return refuse(why, why_size, "%s", reason);
    bool literal = p.kind == PATTERN_ADDRESS && strchr(text, '/') == NULL;
    enum pattern_kind kind = p.kind;
    host_pattern_clear(&p);
    if (!literal)
        return refuse(why, why_size,
                      "%s; a fallback must be an IP address literal with a port, such as "
                      "127.0.0.1:8081 or [::1]:8081 (a connect hook cannot resolve names)",
                      kind == PATTERN_EXACT     ? "a host name"
                      : kind == PATTERN_ADDRESS ? "a CIDR"
                                                : "a wildcard");
    if (p.port == 0)
        return refuse(why, why_size, "missing port: write A.B.C.D:PORT or [V6]:PORT");
    out->family = p.family;
    out->port = p.port;
    memcpy(out->addr, p.addr, sizeof out->addr);
    char plain[INET6_ADDRSTRLEN];
    inet_ntop(p.family, p.addr, plain, sizeof plain);
    snprintf(out->host, sizeof out->host, p.family == AF_INET6 ? "[%s]" : "%s", plain);
    return true;
}

bool fallback_sockaddr(const struct fallback_address *a, int socket_family, bool v6only,
                       struct sockaddr_storage *ss, socklen_t *len)
{
    memset(ss, 0, sizeof *ss);
    if (socket_family == AF_INET && a->family == AF_INET) {
        struct sockaddr_in *in = (struct sockaddr_in *)ss;
        in->sin_family = AF_INET;
        in->sin_port = htons(a->port);
        memcpy(&in->sin_addr, a->addr, 4);
        *len = sizeof *in;
        return true;
    }
    if (socket_family != AF_INET6 || (a->family == AF_INET && v6only))
        return false;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons(a->port);
    if (a->family == AF_INET6) {
        memcpy(&in6->sin6_addr, a->addr, 16);
    } else {
        in6->sin6_addr.s6_addr[10] = 0xff;
        in6->sin6_addr.s6_addr[11] = 0xff;
        memcpy(in6->sin6_addr.s6_addr + 12, a->addr, 4);
    }
    *len = sizeof *in6;
    return true;
}

bool fallback_connect_to_entry(char *buf, size_t size, const char *host, uint16_t port,
                               const struct fallback_address *a)
{
    /* a->host may lie at the end of a damaged image, unterminated */
    int n = snprintf(buf, size, "%s:%u:%.*s:%u", host, (unsigned)port, (int)sizeof a->host, a->host,
                     (unsigned)a->port);
    return n > 0 && (size_t)n < size;
}
