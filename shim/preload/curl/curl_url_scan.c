/* The in-place URL scanner (see curl_url_scan.h). It accepts a subset of
 * what libcurl accepts, on which every libcurl since 7.62 (the URL API)
 * agrees: one pass over the string, no allocation. What libcurl would
 * rewrite (IPv4 shorthands such as 127.1, percent escapes, IPv6 literals,
 * IDN) or might read otherwise across versions (two '@', three slashes) is
 * declined. tests/unit/test_url_scan.c holds it against libcurl's parser. */
#include <string.h>

#include "curl_url_scan.h"

/* A rest of a URL (path, query, fragment) longer than this is left to
 * libcurl (which takes up to 8 000 000 bytes). */
#define REST_MAX 65536

/* The classes of the bytes of an authority. */
enum {
    HOST = 1, /* in a host name the scanner settles: letter, digit, '-', '.', '_' */
    USER = 2, /* in user information: RFC 3986 unreserved, sub-delims, ':', '%' */
    END = 4,  /* ends the authority: '/', '?', '#', NUL */
};

#define LETTER(c) [c] = HOST | USER, [(c) - 'a' + 'A'] = HOST | USER
#define DIGIT(c) [c] = HOST | USER
static const unsigned char byte_class[256] = {
    LETTER('a'),  LETTER('b'),         LETTER('c'),         LETTER('d'),         LETTER('e'),
    LETTER('f'),  LETTER('g'),         LETTER('h'),         LETTER('i'),         LETTER('j'),
    LETTER('k'),  LETTER('l'),         LETTER('m'),         LETTER('n'),         LETTER('o'),
    LETTER('p'),  LETTER('q'),         LETTER('r'),         LETTER('s'),         LETTER('t'),
    LETTER('u'),  LETTER('v'),         LETTER('w'),         LETTER('x'),         LETTER('y'),
    LETTER('z'),  DIGIT('0'),          DIGIT('1'),          DIGIT('2'),          DIGIT('3'),
    DIGIT('4'),   DIGIT('5'),          DIGIT('6'),          DIGIT('7'),          DIGIT('8'),
    DIGIT('9'),   ['-'] = HOST | USER, ['.'] = HOST | USER, ['_'] = HOST | USER, ['~'] = USER,
    ['!'] = USER, ['$'] = USER,        ['&'] = USER,        ['\''] = USER,       ['('] = USER,
    [')'] = USER, ['*'] = USER,        ['+'] = USER,        [','] = USER,        [';'] = USER,
    ['='] = USER, [':'] = USER,        ['%'] = USER,        ['\0'] = END,        ['/'] = END,
    ['?'] = END,  ['#'] = END,
};
#undef LETTER
#undef DIGIT

static bool is(const char *p, unsigned class)
{
    return (byte_class[(unsigned char)*p] & class) != 0;
}

static bool is_digit(char c)
{
    return (unsigned)(c - '0') < 10u;
}

static bool is_scheme_byte(char c)
{
    return (byte_class[(unsigned char)c] & HOST && c != '_') || c == '+';
}

/* True when the n bytes at s are a dotted quad exactly as libcurl prints
 * one: four decimal parts of 0-255 without leading zeros. */
static bool is_plain_ipv4(const char *s, size_t n)
{
    const char *end = s + n;
    for (int part = 0; part < 4; part++) {
        if (part > 0 && (s == end || *s++ != '.'))
            return false;
        if (s == end || !is_digit(*s))
            return false;
        unsigned value = (unsigned)(*s++ - '0');
        for (int more = 0; more < 2 && s < end && is_digit(*s) && value != 0; more++)
            value = value * 10 + (unsigned)(*s++ - '0');
        if (value > 255 || (s < end && is_digit(*s)))
            return false; /* too big, a leading zero or a fourth digit */
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

/* Reads host[:port] at h up to the end of the authority: the host name's
 * length in *len and the port (at most 5 digits) in *port, 0 when none is
 * given. Returns the end of the authority, or NULL when something else
 * stops the name or the port. */
static const char *host_and_port(const char *h, size_t *len, unsigned *port)
{
    const char *p = h;
    while (is(p, HOST))
        p++;
    *len = (size_t)(p - h);
    unsigned digits = 0;
    *port = 0;
    if (*p == ':')
        for (p++; is_digit(*p) && digits < 6; p++, digits++)
            *port = *port * 10 + (unsigned)(*p - '0');
    return is(p, END) && digits <= 5 ? p : NULL;
}

bool curl_url_rest_is_clean(const char *rest)
{
    const char *p = rest;
    while ((unsigned char)*p > ' ' && *p != 0x7f)
        p++;
    return *p == '\0' && p - rest < REST_MAX;
}

/* Reads the authority at a ([user@]host[:port], up to the first '/', '?',
 * '#' or the end) into t->host and t->port (0: none given) and checks the
 * rest of the string; returns the authority's end, or NULL to decline. */
static const char *scan_authority(const char *a, struct curl_target *t)
{
    const char *host = a, *p;
    size_t len;
    unsigned port;
    const char *end = host_and_port(host, &len, &port);
    if (!end) { /* user information up to the first '@', or something else */
        for (p = a; is(p, USER); p++)
            ;
        host = p + 1;
        if (*p != '@' || !(end = host_and_port(host, &len, &port)))
            return NULL;
    }
    if (len == 0 || port > 65535 || (port == 0 && end > host + len + 1))
        return NULL; /* no host, or port 0 */
    if (is_digit(host[0]) && !is_plain_ipv4(host, len))
        return NULL; /* libcurl reads 127.1, 0x7f.1, 017.0.0.1, … as numbers */
    if (len > 1 && host[len - 1] == '.')
        len--;
    if (len >= sizeof t->host || !curl_url_rest_is_clean(end))
        return NULL; /* libcurl refuses controls, spaces and DEL anywhere */
    copy_lower(t->host, host, len);
    t->port = (uint16_t)port;
    return end;
}

size_t curl_url_scan(const char *url, struct curl_target *t)
{
    size_t n = 0;
    if ((url[0] | 0x20) == 'h' && (url[1] | 0x20) == 't' && (url[2] | 0x20) == 't' &&
        (url[3] | 0x20) == 'p')
        n = (url[4] | 0x20) == 's' ? 5 : 4;
    const char *end = n && url[n] == ':' && url[n + 1] == '/' && url[n + 2] == '/'
                          ? scan_authority(url + n + 3, t)
                          : NULL;
    if (!end)
        return 0;
    memcpy(t->scheme, n == 5 ? "https" : "http", n + 1);
    if (t->port == 0)
        t->port = n == 5 ? 443 : 80;
    return (size_t)(end - url);
}

bool curl_url_scan_proxy(const char *proxy, struct curl_target *t)
{
    const char *sep = strstr(proxy, "://");
    size_t n = sep ? (size_t)(sep - proxy) : 0;
    if (sep && (n == 0 || n >= sizeof t->scheme))
        return false;
    for (size_t i = 0; i < n; i++)
        if (!is_scheme_byte(proxy[i]))
            return false;
    if (sep)
        copy_lower(t->scheme, proxy, n);
    else
        memcpy(t->scheme, "http", sizeof "http");
    /* libcurl reads a file: URL by its own rules (no host) */
    return strcmp(t->scheme, "file") != 0 && scan_authority(sep ? sep + 3 : proxy, t);
}
