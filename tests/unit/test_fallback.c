/* test_fallback.c — fallback addresses: parsing, fitting them to a socket's
 * family, and the CURLOPT_CONNECT_TO entry. */
#include <arpa/inet.h>
#include <string.h>

#include "fallback.h"
#include "unit.h"

static struct fallback_address parsed(const char *text)
{
    struct fallback_address a;
    char why[256];
    if (!CHECK_CTX(fallback_address_parse(text, &a, why, sizeof why), "%s: %s", text, why))
        memset(&a, 0, sizeof a);
    return a;
}

static void literals_with_ports_parse(void)
{
    struct fallback_address a = parsed("127.0.0.1:8081");
    CHECK_INT(a.family, AF_INET);
    CHECK_INT(a.port, 8081);
    CHECK_STR(a.host, "127.0.0.1");
    a = parsed("[::1]:443");
    CHECK_INT(a.family, AF_INET6);
    CHECK_STR(a.host, "[::1]");
    a = parsed("[FD00::0001]:1");
    CHECK_STR(a.host, "[fd00::1]");
    a = parsed("[::ffff:10.1.2.3]:65535");
    CHECK_INT(a.family, AF_INET);
    CHECK_STR(a.host, "10.1.2.3");
}

static void everything_else_is_refused(void)
{
    static const char *const bad[] = {
        "localhost:80",  "cache.example:8081", "*.example:80", "*:80",
        "10.0.0.0/8:80", "127.0.0.1",          "::1",          "[::1]",
        "127.0.0.1:0",   "127.0.0.1:70000",    "[::1:80",      ""};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        struct fallback_address a;
        char why[256] = "";
        CHECK_CTX(!fallback_address_parse(bad[i], &a, why, sizeof why), "%s accepted", bad[i]);
        CHECK_CTX(why[0] != '\0', "%s: no reason", bad[i]);
    }
}

static void addresses_fit_sockets(void)
{
    struct sockaddr_storage ss;
    socklen_t len = 0;
    struct fallback_address v4 = parsed("127.0.0.2:81"), v6 = parsed("[::1]:82");
    CHECK(fallback_sockaddr(&v4, AF_INET, false, &ss, &len));
    CHECK_INT(len, sizeof(struct sockaddr_in));
    const struct sockaddr_in *in = (const struct sockaddr_in *)&ss;
    CHECK_INT(in->sin_family, AF_INET);
    CHECK_INT(ntohs(in->sin_port), 81);
    CHECK_INT(ntohl(in->sin_addr.s_addr), 0x7f000002);
    CHECK(!fallback_sockaddr(&v6, AF_INET, false, &ss, &len));
    CHECK(fallback_sockaddr(&v6, AF_INET6, true, &ss, &len));
    CHECK_INT(len, sizeof(struct sockaddr_in6));
    const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)&ss;
    CHECK(IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr));
    CHECK_INT(ntohs(in6->sin6_port), 82);
    /* An IPv6 socket reaches IPv4 as v4-mapped, unless it is IPv6-only. */
    CHECK(fallback_sockaddr(&v4, AF_INET6, false, &ss, &len));
    CHECK(IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr));
    CHECK(memcmp(in6->sin6_addr.s6_addr + 12, "\x7f\0\0\x02", 4) == 0);
    CHECK(!fallback_sockaddr(&v4, AF_INET6, true, &ss, &len));
    CHECK(!fallback_sockaddr(&v4, AF_UNIX, false, &ss, &len));
}

static void connect_to_entries(void)
{
    char buf[128];
    struct fallback_address v4 = parsed("127.0.0.1:8081"), v6 = parsed("[::1]:8082");
    CHECK(fallback_connect_to_entry(buf, sizeof buf, "api.example", 443, &v4));
    CHECK_STR(buf, "api.example:443:127.0.0.1:8081");
    CHECK(fallback_connect_to_entry(buf, sizeof buf, "[fd00::5]", 80, &v6));
    CHECK_STR(buf, "[fd00::5]:80:[::1]:8082");
    CHECK(!fallback_connect_to_entry(buf, 10, "api.example", 443, &v4));
}

int main(void)
{
    RUN(literals_with_ports_parse);
    RUN(everything_else_is_refused);
    RUN(addresses_fit_sockets);
    RUN(connect_to_entries);
    return unit_done();
}
