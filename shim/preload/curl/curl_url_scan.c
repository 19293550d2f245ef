/* The in-place URL scanner (see curl_url_scan.h). It accepts a subset of
 * what libcurl accepts, on which every libcurl since 7.62 (the URL API)
 * agrees: one pass over the string, no allocation. What libcurl would
 * rewrite (IPv4 shorthands such as 127.1, percent escapes, IPv6 literals,
 * IDN) or might read otherwise across versions (two '@', three slashes) is
 * declined. tests/unit/test_url_scan.c holds it against libcurl's parser. */
#include <string.h>

#include "curl_url_scan.h"

/* libcurl refuses a URL with a control byte, a space or DEL anywhere in it;
 * longer ones than this are left to it too. */
#define SCAN_MAX 65536

static bool is_digit(unsigned char c)
{
    return (unsigned)(c - '0') < 10u;
}

static bool is_alnum(unsigned char c)
{
    return (unsigned)((c | 0x20) - 'a') < 26u || is_digit(c);
}

/* A byte of a host name the scanner settles: letter, digit, '-', '.', '_'. */
static bool is_host_byte(unsigned char c)
{
    return is_alnum(c) || c == '-' || c == '.' || c == '_';
}

/* A byte of user information: RFC 3986 unreserved, sub-delims, ':', '%'. */
static bool is_user_byte(unsigned char c)
{
    return is_alnum(c) || (c != '\0' && strchr("-._~!$&'()*+,;=:%", c) != NULL);
}

static bool is_scheme_byte(unsigned char c)
{
    return is_alnum(c) || c == '+' || c == '-' || c == '.';
}

/* True when the n bytes at s are a dotted quad exactly as libcurl prints
 * one: four decimal parts of 0-255 without leading zeros. */
static bool is_plain_ipv4(const char *s, size_t n)
{
    const char *end = s + n;
    for (int part = 0; part < 4; part++) {
        if (part > 0 && (s == end || *s++ != '.'))
            return false;
        unsigned value = 0, digits = 0;
        while (s < end && is_digit((unsigned char)*s) && digits < 4) {
            value = value * 10 + (unsigned)(*s++ - '0');
            digits++;
        }
        if (digits == 0 || digits > 3 || value > 255 || (digits > 1 && s[-(int)digits] == '0'))
            return false;
    }
    return s == end;
}

/* Copies n bytes of src into dst in lower case and terminates it. */
static void copy_lower(char *dst, const char *src, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)src[i];
        dst[i] = (char)(c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c);
    }
    dst[n] = '\0';
}

/* True when the rest of a URL from s has no byte libcurl refuses and is not
 * too long. */
static bool clean_rest(const char *s)
{
    for (size_t i = 0; s[i]; i++)
        if ((unsigned char)s[i] <= ' ' || s[i] == 0x7f || i >= SCAN_MAX)
            return false;
    return true;
}

/* Reads the authority at a ([user@]host[:port], up to the first '/', '?',
 * '#' or the end) into t->host and t->port (0: none given) and checks the
 * rest of the string; false to decline. */
static bool scan_authority(const char *a, struct curl_target *t)
{
    const char *at = NULL, *end = a;
    for (; *end && *end != '/' && *end != '?' && *end != '#'; end++)
        if (*end == '@') {
            if (at)
                return false;
            at = end;
        }
    for (const char *p = a; at && p < at; p++)
        if (!is_user_byte((unsigned char)*p))
            return false;
    const char *host = at ? at + 1 : a, *p = host;
    while (is_host_byte((unsigned char)*p))
        p++;
    size_t len = (size_t)(p - host);
    unsigned port = 0, digits = 0;
    if (*p == ':')
        for (p++; p < end && is_digit((unsigned char)*p) && digits < 6; p++, digits++)
            port = port * 10 + (unsigned)(*p - '0');
    if (p != end || digits > 5 || port > 65535 || (digits > 0 && port == 0) || len == 0)
        return false;
    if (is_digit((unsigned char)host[0]) && !is_plain_ipv4(host, len))
        return false; /* libcurl reads 127.1, 0x7f.1, 017.0.0.1, … as numbers */
    if (len > 1 && host[len - 1] == '.')
        len--;
    if (len >= sizeof t->host || !clean_rest(end))
        return false;
    copy_lower(t->host, host, len);
    t->port = (uint16_t)port;
    return true;
}

bool curl_url_scan(const char *url, struct curl_target *t)
{
    size_t n = 0;
    if ((url[0] | 0x20) == 'h' && (url[1] | 0x20) == 't' && (url[2] | 0x20) == 't' &&
        (url[3] | 0x20) == 'p')
        n = (url[4] | 0x20) == 's' ? 5 : 4;
    if (n == 0 || url[n] != ':' || url[n + 1] != '/' || url[n + 2] != '/' ||
        !scan_authority(url + n + 3, t))
        return false;
    memcpy(t->scheme, n == 5 ? "https" : "http", n + 1);
    if (t->port == 0)
        t->port = n == 5 ? 443 : 80;
    return true;
}

bool curl_url_scan_proxy(const char *proxy, struct curl_target *t)
{
    const char *sep = strstr(proxy, "://");
    size_t n = sep ? (size_t)(sep - proxy) : 0;
    if (sep && (n == 0 || n >= sizeof t->scheme))
        return false;
    for (size_t i = 0; i < n; i++)
        if (!is_scheme_byte((unsigned char)proxy[i]))
            return false;
    if (sep)
        copy_lower(t->scheme, proxy, n);
    else
        memcpy(t->scheme, "http", sizeof "http");
    /* libcurl reads a file: URL by its own rules (no host) */
    return strcmp(t->scheme, "file") != 0 && scan_authority(sep ? sep + 3 : proxy, t);
}
