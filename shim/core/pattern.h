/* pattern.h — host patterns: one entry of a breaker's "hosts" ("api.example",
 * "*.example:443", "10.0.0.0/8", "[::1]:8443", "*") parsed into the form the
 * matcher indexes. Pure: no I/O; allocates only a pattern's two strings. */
#ifndef FUSEBOX_PATTERN_H
#define FUSEBOX_PATTERN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HOST_NAME_MAX_LEN 253 /* without the trailing dot */
#define HOST_LABEL_MAX_LEN 63

enum pattern_kind {
    PATTERN_EXACT,    /* "api.example.com": that name */
    PATTERN_WILDCARD, /* "*.example.com": strict subdomains of the suffix */
    PATTERN_ADDRESS,  /* "10.1.2.3", "10.1.2.0/24", "::1", "[fe80::/10]": a CIDR */
    PATTERN_ANY,      /* "*": every destination, name or address */
};

struct host_pattern {
    enum pattern_kind kind;
    uint32_t breaker;   /* index into rules.breakers */
    uint16_t port;      /* 0 = any port */
    uint8_t family;     /* ADDRESS: AF_INET or AF_INET6 (a v4-mapped IPv6 pattern is AF_INET) */
    uint8_t prefix_len; /* ADDRESS: 0..32 or 0..128 */
    uint8_t addr[16];   /* ADDRESS: network address, host bits clear (4 bytes for AF_INET) */
    char *name;         /* EXACT: the name; WILDCARD: the suffix without "*."; in normal form */
    char *text;         /* the pattern as written */
    uint32_t line, col; /* where it was written (0 when not from a file) */
};

/* Host names are compared in normal form: ASCII lower case, no trailing dot. */
static inline unsigned char ascii_lower(unsigned char c)
{
    return c >= 'A' && c <= 'Z' ? (unsigned char)(c + ('a' - 'A')) : c;
}

/* True for the characters of a host name: letters, digits, '-', '_', '.'. */
bool pattern_is_host_char(char c);

/* Parses one host pattern (a NUL-terminated string) into *p, setting kind,
 * port, the address fields, name and text (both malloc'd; free with
 * host_pattern_clear) and zeroing the rest. Returns false, with the reason in
 * why (why_size bytes, e.g. "host bits set beyond /24") and *p owning nothing,
 * when text is not a valid pattern or on out of memory ("out of memory"). */
bool host_pattern_parse(const char *text, struct host_pattern *p, char *why, size_t why_size);

/* Frees what host_pattern_parse allocated in *p and sets those fields to NULL. */
void host_pattern_clear(struct host_pattern *p);

#endif
