/* curl_url_scan.h — where a libcurl transfer goes, read from a URL string
 * in place: the fast path in front of libcurl's own URL API.
 *
 * The scanner settles the common URLs ("http[s]://[user@]name-or-IPv4
 * [:port]/…") and declines everything it cannot read exactly as libcurl's
 * parser does (no scheme, other schemes, IPv6 literals, IDN, percent
 * escapes, numeric hosts that libcurl would rewrite, odd slashes, …); the
 * caller then asks the URL API. It uses libc only and allocates nothing, so
 * the fuzz harness and the unit tests build it alone. */
#ifndef FUSEBOX_CURL_URL_SCAN_H
#define FUSEBOX_CURL_URL_SCAN_H

#include <stdbool.h>
#include <stdint.h>

#define CURL_HOST_MAX 264

/* Where a transfer goes, as a breaker rule sees it. */
struct curl_target {
    char host[CURL_HOST_MAX]; /* lower case, no trailing dot, IPv6 in brackets; "" none */
    char scheme[16];          /* lower case: "http", "https", …; "" unknown */
    uint16_t port;            /* the URL's port, else the scheme's default */
};

/* Fills *t from url as curl_easy_setopt(CURLOPT_URL) takes it, when the
 * scheme is http or https: its host, scheme and port (the scheme's default
 * when the URL gives none). Returns the length of its scheme and authority
 * ("http://host:port"), or 0, leaving *t undefined, when it declines: then
 * libcurl's parser must decide. Any URL that starts with the same bytes
 * followed by '/', '?', '#' or its end, and whose rest passes
 * curl_url_rest_is_clean, gives the same *t. */
size_t curl_url_scan(const char *url, struct curl_target *t);

/* True when the rest of a URL after its authority (path, query, fragment)
 * has no byte libcurl refuses (controls, space, DEL) and is not so long
 * that the scanner leaves it to libcurl. */
bool curl_url_rest_is_clean(const char *rest);

/* Same for a proxy string as CURLOPT_PROXY takes it ("host:port",
 * "socks5h://host", …; no scheme means http): any scheme, and port 0 when
 * the string gives none (the caller picks the proxy default). */
bool curl_url_scan_proxy(const char *proxy, struct curl_target *t);

#endif
