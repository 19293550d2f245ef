/* Host patterns: the text of one entry of a breaker's "hosts" → a pattern. */
#include "pattern.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include "refusal.h"

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

bool pattern_is_host_char(char c)
{
    unsigned char l = ascii_lower((unsigned char)c);
    return (l >= 'a' && l <= 'z') || is_digit(c) || c == '-' || c == '_' || c == '.';
}

/* Parses len bytes of decimal digits as an unsigned number of at most max;
 * returns false when they are not that. */
static bool parse_decimal(const char *s, size_t len, unsigned max, unsigned *out)
{
    unsigned value = 0;
    if (len == 0 || len > 5)
        return false;
    for (size_t i = 0; i < len; i++) {
        if (!is_digit(s[i]))
            return false;
        value = 10 * value + (unsigned)(s[i] - '0');
    }
    *out = value;
    return value <= max;
}

static bool parse_port(const char *s, size_t len, uint16_t *port, char *why, size_t size)
{
    unsigned value;
    if (!parse_decimal(s, len, 65535, &value) || value == 0)
        return refuse(why, size, "port must be an integer from 1 to 65535");
    *port = (uint16_t)value;
    return true;
}

/* The host part of a pattern, once its port is split off. */
struct host_part {
    const char *start;
    size_t len;
    bool bracketed; /* "[...]": an IPv6 address or CIDR */
};

/* Splits text into its host part and port (0 when none): "[v6]:port",
 * "host:port" with a single colon, else all of text (a bare IPv6 has no port). */
static bool split_port(const char *text, struct host_part *host, uint16_t *port, char *why,
                       size_t size)
{
    size_t len = strlen(text);
    *port = 0;
    if (text[0] == '[') {
        const char *close = strchr(text, ']');
        if (close == NULL)
            return refuse(why, size, "missing ']'");
        *host = (struct host_part){text + 1, (size_t)(close - text - 1), true};
        if (close[1] == '\0')
            return true;
        if (close[1] != ':')
            return refuse(why, size, "only \":port\" may follow ']'");
        return parse_port(close + 2, strlen(close + 2), port, why, size);
    }
    const char *colon = strchr(text, ':');
    *host = (struct host_part){text, len, false};
    if (colon == NULL || strchr(colon + 1, ':') != NULL)
        return true;
    host->len = (size_t)(colon - text);
    return parse_port(colon + 1, strlen(colon + 1), port, why, size);
}

/* Returns true when the bits of addr (bytes long) past the first prefix_len are all clear. */
static bool host_bits_clear(const uint8_t *addr, unsigned bytes, unsigned prefix_len)
{
    for (unsigned bit = prefix_len; bit < 8 * bytes; bit++)
        if (addr[bit / 8] & (0x80u >> (bit % 8)))
            return false;
    return true;
}

/* Turns an AF_INET6 ::ffff:0:0/96 (or longer) pattern into the IPv4 one it stands for. */
static void unmap_ipv4(struct host_pattern *p)
{
    static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (p->family != AF_INET6 || p->prefix_len < 96 || memcmp(p->addr, mapped, 12) != 0)
        return;
    p->family = AF_INET;
    p->prefix_len -= 96;
    memmove(p->addr, p->addr + 12, 4);
    memset(p->addr + 4, 0, 12);
}

/* Parses "address" or "address/prefix" of family (len bytes) into p. */
static bool parse_cidr(const char *s, size_t len, int family, struct host_pattern *p, char *why,
                       size_t size)
{
    const char *family_name = family == AF_INET ? "IPv4" : "IPv6";
    unsigned max_prefix = family == AF_INET ? 32 : 128, prefix_len = max_prefix;
    const char *slash = memchr(s, '/', len);
    size_t addr_len = slash != NULL ? (size_t)(slash - s) : len;
    char addr_text[INET6_ADDRSTRLEN];
    if (addr_len >= sizeof addr_text)
        return refuse(why, size, "not a valid %s address", family_name);
    memcpy(addr_text, s, addr_len);
    addr_text[addr_len] = '\0';
    if (inet_pton(family, addr_text, p->addr) != 1)
        return refuse(why, size, "not a valid %s address", family_name);
    if (slash != NULL && !parse_decimal(slash + 1, len - addr_len - 1, max_prefix, &prefix_len))
        return refuse(why, size, "prefix length must be an integer from 0 to %u", max_prefix);
    if (!host_bits_clear(p->addr, max_prefix / 8, prefix_len))
        return refuse(why, size, "host bits set beyond /%u", prefix_len);
    p->kind = PATTERN_ADDRESS;
    p->family = (uint8_t)family;
    p->prefix_len = (uint8_t)prefix_len;
    unmap_ipv4(p);
    return true;
}

/* Returns true when the last label of name (len bytes, no trailing dot) is all digits. */
static bool last_label_is_numeric(const char *name, size_t len)
{
    size_t i = len;
    while (i > 0 && is_digit(name[i - 1]))
        i--;
    return i < len && (i == 0 || name[i - 1] == '.');
}

/* Checks that s (*len bytes, one trailing dot allowed) is a host name, and
 * takes the trailing dot off *len. Returns false with the reason in why when
 * it is not one. */
static bool check_host_name(const char *s, size_t *name_len, char *why, size_t size)
{
    size_t len = *name_len;
    if (len > 0 && s[len - 1] == '.')
        len--;
    *name_len = len;
    if (len == 0)
        return refuse(why, size, "empty host name");
    if (len > HOST_NAME_MAX_LEN)
        return refuse(why, size, "host name longer than %d characters", HOST_NAME_MAX_LEN);
    size_t label_len = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i == len || s[i] == '.') {
            if (label_len == 0)
                return refuse(why, size, "empty label in host name");
            if (label_len > HOST_LABEL_MAX_LEN)
                return refuse(why, size, "label longer than %d characters", HOST_LABEL_MAX_LEN);
            label_len = 0;
        } else if (!pattern_is_host_char(s[i])) {
            char c[REFUSAL_QUOTED_SIZE];
            refusal_quote(c, sizeof c, (char[]){s[i], '\0'});
            return refuse(why, size, "invalid character %s in host name", c);
        } else {
            label_len++;
        }
    }
    if (last_label_is_numeric(s, len))
        return refuse(why, size,
                      "not an IPv4 address, and a host name cannot end in a numeric label");
    return true;
}

/* Parses a host name (kind EXACT) or wildcard suffix (kind WILDCARD) into p->name. */
static bool parse_name(const char *s, size_t len, enum pattern_kind kind, struct host_pattern *p,
                       char *why, size_t size)
{
    if (!check_host_name(s, &len, why, size))
        return false;
    p->name = malloc(len + 1);
    if (p->name == NULL)
        return refuse(why, size, "out of memory");
    for (size_t i = 0; i < len; i++)
        p->name[i] = (char)ascii_lower((unsigned char)s[i]);
    p->name[len] = '\0';
    p->kind = kind;
    return true;
}

/* Returns true when s (len bytes) has a '/', or digits and dots only: meant as IPv4. */
static bool looks_like_ipv4(const char *s, size_t len)
{
    bool digits = false;
    if (memchr(s, '/', len) != NULL)
        return true;
    for (size_t i = 0; i < len; i++) {
        if (!is_digit(s[i]) && s[i] != '.')
            return false;
        digits = digits || is_digit(s[i]);
    }
    return digits;
}

/* Parses the host part of a pattern into p. */
static bool parse_host_part(struct host_part h, struct host_pattern *p, char *why, size_t size)
{
    if (h.bracketed || memchr(h.start, ':', h.len) != NULL)
        return parse_cidr(h.start, h.len, AF_INET6, p, why, size);
    if (h.len == 1 && h.start[0] == '*') {
        p->kind = PATTERN_ANY;
        return true;
    }
    if (h.len >= 2 && h.start[0] == '*' && h.start[1] == '.')
        return parse_name(h.start + 2, h.len - 2, PATTERN_WILDCARD, p, why, size);
    if (looks_like_ipv4(h.start, h.len))
        return parse_cidr(h.start, h.len, AF_INET, p, why, size);
    return parse_name(h.start, h.len, PATTERN_EXACT, p, why, size);
}

bool host_pattern_parse(const char *text, struct host_pattern *p, char *why, size_t why_size)
{
    struct host_part host = {NULL, 0, false};
    memset(p, 0, sizeof *p);
    if (!split_port(text, &host, &p->port, why, why_size) ||
        !parse_host_part(host, p, why, why_size))
        return false;
    p->text = strdup(text);
    if (p->text == NULL) {
        host_pattern_clear(p);
        return refuse(why, why_size, "out of memory");
    }
    return true;
}

void host_pattern_clear(struct host_pattern *p)
{
    free(p->name);
    free(p->text);
    p->name = p->text = NULL;
}
