/* URL → where a transfer goes: read in place by the scanner
 * (curl_url_scan.c) when it can settle the URL, else parsed with libcurl's
 * own URL API, so that the shim reads a URL exactly as libcurl will. */
#include <stdlib.h>
#include <string.h>

#include "curl_internal.h"
#include "curl_url_scan.h"
#include "keep_errno.h"

/* Copies src into dst (size bytes) in lower case, dropping one trailing dot
 * of a name; false when it does not fit or is empty. */
static bool copy_lowered(char *dst, size_t size, const char *src, bool is_host)
{
    size_t len = strlen(src);
    if (is_host && len > 1 && src[len - 1] == '.')
        len--;
    if (len == 0 || len >= size)
        return false;
    for (size_t i = 0; i < len; i++)
        dst[i] = (char)(src[i] >= 'A' && src[i] <= 'Z' ? src[i] + ('a' - 'A') : src[i]);
    dst[len] = '\0';
    return true;
}

/* Reads one part of u into dst through copy_lowered; false when it is
 * missing or does not fit. */
static bool url_part(CURLU *u, CURLUPart part, unsigned flags, char *dst, size_t size, bool is_host)
{
    real_curl_url_get_fn get = curl_real(curl_url_get);
    real_curl_free_fn release = curl_real(curl_free);
    char *text = NULL;
    if (!get || !release || get(u, part, &text, flags) != CURLUE_OK || !text)
        return false;
    bool ok = copy_lowered(dst, size, text, is_host);
    release(text);
    return ok;
}

bool curl_target_of_curlu(CURLU *url, struct curl_target *t)
{
    char port[8];
    t->host[0] = t->scheme[0] = '\0';
    t->port = 0;
    if (!url || !url_part(url, CURLUPART_HOST, 0, t->host, sizeof t->host, true) ||
        !url_part(url, CURLUPART_SCHEME, 0, t->scheme, sizeof t->scheme, false) ||
        !url_part(url, CURLUPART_PORT, CURLU_DEFAULT_PORT, port, sizeof port, false)) {
        t->host[0] = '\0';
        return false;
    }
    long n = strtol(port, NULL, 10);
    if (n <= 0 || n > 65535) {
        t->host[0] = '\0';
        return false;
    }
    t->port = (uint16_t)n;
    return true;
}

/* Parses text into a new CURLU with flags; NULL when it is no URL. The
 * caller frees it with curl_real(curl_url_cleanup). */
static CURLU *parsed(const char *text, unsigned flags)
{
    real_curl_url_fn create = curl_real(curl_url);
    real_curl_url_set_fn set = curl_real(curl_url_set);
    real_curl_url_cleanup_fn cleanup = curl_real(curl_url_cleanup);
    if (!text || !create || !set || !cleanup)
        return NULL;
    CURLU *u = create();
    if (u && set(u, CURLUPART_URL, text, flags) != CURLUE_OK) {
        cleanup(u);
        u = NULL;
    }
    return u;
}

/* Per thread: the scheme and authority of the URL the scanner read last
 * ("http://host:port", at most URL_MEMO_MAX bytes; len 0: none) and what it
 * gave, so that a loop over the URLs of one host scans the host once. */
#define URL_MEMO_MAX 96
struct url_memo {
    size_t len;
    char text[URL_MEMO_MAX];
    size_t host_len; /* strlen(target.host) */
    struct curl_target target;
};
static __thread struct url_memo memo __attribute__((tls_model("initial-exec")));

/* True when url starts with the memo's scheme and authority, then ends or
 * goes on with a clean path, query or fragment. */
static bool memo_fits(const char *url)
{
    if (memo.len == 0 || strncmp(url, memo.text, memo.len) != 0)
        return false; /* memo.text holds no NUL: a shorter url differs */
    char next = url[memo.len];
    return (next == '\0' || next == '/' || next == '?' || next == '#') &&
           curl_url_rest_is_clean(url + memo.len);
}

bool curl_target_of_url(const char *url, struct curl_target *t)
{
    if (!url)
        return curl_target_of_url_api(url, t);
    if (memo_fits(url)) {
        memcpy(t->host, memo.target.host, memo.host_len + 1);
        memcpy(t->scheme, memo.target.scheme, sizeof t->scheme);
        t->port = memo.target.port;
        return true;
    }
    size_t len = curl_url_scan(url, t);
    if (len == 0)
        return curl_target_of_url_api(url, t);
    if (len < URL_MEMO_MAX) {
        memcpy(memo.text, url, len);
        memo.len = len;
        memo.host_len = strlen(t->host);
        memo.target = *t;
    }
    return true;
}

bool curl_target_of_url_api(const char *url, struct curl_target *t)
{
    KEEP_ERRNO();
    CURLU *u = parsed(url, CURLU_GUESS_SCHEME | CURLU_NON_SUPPORT_SCHEME);
    bool ok = curl_target_of_curlu(u, t);
    if (u)
        curl_real(curl_url_cleanup)(u);
    return ok;
}

/* The port of a proxy whose string gives none. */
static uint16_t default_proxy_port(const struct curl_target *t)
{
    return strcmp(t->scheme, "https") == 0 ? 443 : 1080;
}

bool curl_target_of_proxy(const char *proxy, struct curl_target *t)
{
    if (!proxy || !*proxy || !curl_url_scan_proxy(proxy, t))
        return curl_target_of_proxy_api(proxy, t);
    if (t->port == 0)
        t->port = default_proxy_port(t);
    return true;
}

bool curl_target_of_proxy_api(const char *proxy, struct curl_target *t)
{
    KEEP_ERRNO();
    t->host[0] = t->scheme[0] = '\0';
    t->port = 0;
    if (!proxy || !*proxy)
        return false;
    bool has_scheme = strstr(proxy, "://") != NULL;
    size_t len = strlen(proxy);
    char *text = malloc(len + sizeof "http://");
    if (!text)
        return false;
    strcpy(text, has_scheme ? "" : "http://");
    strcat(text, proxy);
    CURLU *u = parsed(text, CURLU_NON_SUPPORT_SCHEME);
    free(text);
    char port[8];
    bool ok = u && url_part(u, CURLUPART_HOST, 0, t->host, sizeof t->host, true) &&
              url_part(u, CURLUPART_SCHEME, 0, t->scheme, sizeof t->scheme, false);
    if (ok) {
        long n = 0;
        if (url_part(u, CURLUPART_PORT, 0, port, sizeof port, false))
            n = strtol(port, NULL, 10);
        else
            n = default_proxy_port(t);
        ok = n > 0 && n <= 65535;
        t->port = (uint16_t)n;
    }
    if (u)
        curl_real(curl_url_cleanup)(u);
    if (!ok)
        t->host[0] = '\0';
    return ok;
}
