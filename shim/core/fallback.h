/* fallback.h — fallback destinations of a breaker: the addresses a call goes
 * to while its breaker is open ("fallback": {"connect_to": …} in the rules).
 *
 * Owns the pure part: reading an address literal with its port, fitting it
 * to a socket's family (an AF_INET6 socket reaches an IPv4 fallback through
 * a v4-mapped address), and writing the CURLOPT_CONNECT_TO entry that sends
 * a libcurl transfer there. No I/O, no allocation; it knows nothing of
 * breakers or hooks. */
#ifndef FUSEBOX_FALLBACK_H
#define FUSEBOX_FALLBACK_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define FALLBACK_MAX_ADDRESSES 16
#define FALLBACK_HOST_SIZE (INET6_ADDRSTRLEN + 2) /* "[v6]" with its NUL */

/* One fallback address: an IP literal and a port. */
struct fallback_address {
    uint8_t family;                /* AF_INET (also for a v4-mapped IPv6 literal) or AF_INET6 */
    uint16_t port;                 /* host order, 1..65535 */
    uint8_t addr[16];              /* network order; 4 bytes for AF_INET */
    char host[FALLBACK_HOST_SIZE]; /* "127.0.0.1" or "[::1]": as a URL or CONNECT_TO writes it */
};

/* Parses "A.B.C.D:PORT" or "[V6]:PORT" into *out. Returns false with the
 * reason in why (why_size bytes) for anything else: a host name (a connect
 * hook cannot resolve names), a missing port, a CIDR or a wildcard. */
bool fallback_address_parse(const char *text, struct fallback_address *out, char *why,
                            size_t why_size);

/* Writes into *ss (and *len) the socket address of a for a socket of
 * socket_family (AF_INET or AF_INET6); an AF_INET6 socket takes an IPv4
 * address as v4-mapped unless v6only. Returns false when a does not fit
 * such a socket. */
bool fallback_sockaddr(const struct fallback_address *a, int socket_family, bool v6only,
                       struct sockaddr_storage *ss, socklen_t *len);

/* Writes the CURLOPT_CONNECT_TO entry "HOST:PORT:FALLBACKHOST:FALLBACKPORT"
 * that sends transfers to host:port (host as libcurl matches it: IPv6 in
 * brackets) to a. Returns false when it does not fit in size bytes. */
bool fallback_connect_to_entry(char *buf, size_t size, const char *host, uint16_t port,
                               const struct fallback_address *a);

#endif
