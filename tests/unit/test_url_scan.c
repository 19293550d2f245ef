/* Differential tests of the URL scanner (curl_url_scan.c) against libcurl's
 * own URL API, as the shim asks it (curl_target_of_url_api and
 * curl_target_of_proxy_api): for every URL of a corpus and of its one-byte
 * mutations, the scanner either gives exactly libcurl's host, scheme and
 * port, or declines. Also: it settles the common URLs, and what it
 * declines is what libcurl rewrites. Linked with libcurl (Makefile). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "curl_internal.h"
#include "unit.h"

/* URLs as programs give them, and the odd ones the scanner must decline
 * or read right. */
static const char *const corpus[] = {
    "http://127.0.0.1:8080/p1",
    "http://127.0.0.1/",
    "https://127.0.0.1",
    "HTTP://Example.COM/Path?q=1#frag",
    "HtTpS://API.example.com.:8443/v1/items?limit=10",
    "http://example.com.",
    "http://example.com:/x",
    "http://example.com:0/x",
    "http://example.com:65535/",
    "http://example.com:65536/",
    "http://example.com:080/",
    "http://example.com:00000080/",
    "http://example.com:8a/",
    "http://example.com:+80/",
    "http://example.com: 80/",
    "http://user@example.com/",
    "http://user:pass@example.com:81/",
    "http://@example.com/",
    "http://user@@example.com/",
    "http://a@b@example.com/",
    "http://us%65r:p%40ss@example.com/",
    "http://user;opt:pw@example.com/",
    "http://example.com@/",
    "http://[::1]:8080/",
    "http://[::1]/",
    "http://[0:0:0:0:0:0:0:1]/",
    "http://[fe80::1%25eth0]:80/",
    "http://[::ffff:127.0.0.1]/",
    "http://127.1/",
    "http://127.0.1/",
    "http://2130706433/",
    "http://0x7f.0.0.1/",
    "http://0177.0.0.1/",
    "http://127.000.000.001/",
    "http://127.0.0.1./",
    "http://127.0.0.256/",
    "http://1.2.3.4.5/",
    "http://1e100.net/",
    "http://123.example.com/",
    "http://b\xc3\xbc"
    "cher.example/",
    "http://xn--bcher-kva.example/",
    "http://exa%6dple.com/",
    "http://example.com/a b",
    "http://example.com/a\tb",
    "http://example.com/\x7f",
    "http://exa mple.com/",
    "http:/example.com/",
    "http:///example.com/",
    "http:example.com/",
    "http://",
    "http:///",
    "http://:80/",
    "http://?x",
    "http://example.com?x=1",
    "http://example.com#x",
    "http://example.com\\path",
    "http://ex_ample.com/",
    "http://-example-.com/",
    "http://.",
    "http://../",
    "http://..../",
    "http://example..com/",
    "http://exa*mple.com/",
    "http://exa!mple.com/",
    "example.com/path",
    "example.com:8080/path",
    "127.0.0.1:8080/",
    "ftp.example.com/file",
    "localhost:/x",
    "ftp://ftp.example.com/",
    "ws://example.com/",
    "file:///etc/hosts",
    "file://localhost/etc/hosts",
    "gopher://example.com/",
    "https://example.com:443/",
    "https://example.com:80/",
    "http://very-long-label-very-long-label-very-long-label-very-long-label.example.com/",
    "",
    ":",
    "//example.com/",
    "http://example.com/%zz",
    "http://example.com/../../etc",
};

/* Proxy strings as CURLOPT_PROXY and the *_proxy variables give them. */
static const char *const proxies[] = {
    "127.0.0.1:3128",
    "proxy.example.com",
    "proxy.example.com:8080",
    "http://proxy.example.com",
    "https://proxy.example.com",
    "HTTPS://Proxy.Example.com:8443/",
    "socks5h://127.0.0.1:1080",
    "socks4a://proxy:9050",
    "socks5://user:pw@proxy:1080",
    "user@proxy:3128",
    "proxy:",
    "proxy:0",
    "[::1]:3128",
    "http://[::1]:3128",
    "://proxy",
    "a_b://proxy",
    "averyveryverylongscheme://proxy",
    "proxy/x://y",
    "http:/proxy",
    "http:///proxy",
    "127.1:3128",
    "pro xy:3128",
    "file://proxy/",
    "FILE://proxy:3128",
    "",
};

/* The bytes each corpus URL is mutated with, at every position. */
static const char mutations[] = "@:/?#[]%.0 \t\x7f\x01AZaz_-+!\\~;=\x80\xff";

static bool same(const struct curl_target *a, const struct curl_target *b)
{
    return strcmp(a->host, b->host) == 0 && strcmp(a->scheme, b->scheme) == 0 && a->port == b->port;
}

/* Counts of one comparison run. */
struct tally {
    unsigned settled, declined, wrong;
};

/* Compares the shim's reading of text (a URL, or a proxy string: the
 * scanner, else the URL API) with the URL API's alone; counts what the
 * scanner settled and reports the first disagreements. */
static void compare(const char *text, bool proxy, struct tally *n)
{
    struct curl_target scanned, got, want;
    bool settled = proxy ? curl_url_scan_proxy(text, &scanned) : curl_url_scan(text, &scanned) > 0;
    bool ok = proxy ? curl_target_of_proxy(text, &got) : curl_target_of_url(text, &got);
    bool parsed =
        proxy ? curl_target_of_proxy_api(text, &want) : curl_target_of_url_api(text, &want);
    n->settled += settled;
    n->declined += !settled;
    if ((ok != parsed || (ok && !same(&got, &want))) && n->wrong++ < 10)
        unit_diag("# \"%s\": shim %s %s:%u (%s), libcurl %s %s:%u\n", text, ok ? got.scheme : "-",
                  ok ? got.host : "-", ok ? got.port : 0, settled ? "scanned" : "declined",
                  parsed ? want.scheme : "refuses", parsed ? want.host : "-",
                  parsed ? want.port : 0);
}

/* Compares every string of a list (URLs, or proxy strings). */
static struct tally compare_list(const char *const *list, size_t count, bool proxy)
{
    struct tally n = {0, 0, 0};
    for (size_t i = 0; i < count; i++)
        compare(list[i], proxy, &n);
    return n;
}

static void corpus_agrees_with_libcurl(void)
{
    struct tally urls = compare_list(corpus, sizeof corpus / sizeof *corpus, false);
    struct tally proxy = compare_list(proxies, sizeof proxies / sizeof *proxies, true);
    CHECK_INT(urls.wrong, 0);
    CHECK_INT(proxy.wrong, 0);
    CHECK(urls.settled >= 20);
    CHECK(proxy.settled >= 8);
}

/* Every one-byte replacement and insertion of the mutation bytes at every
 * position of every corpus URL and proxy string. */
static void mutations_agree_with_libcurl(void)
{
    struct tally n = {0, 0, 0};
    char text[512];
    for (int proxy = 0; proxy < 2; proxy++) {
        const char *const *list = proxy ? proxies : corpus;
        size_t count = proxy ? sizeof proxies / sizeof *proxies : sizeof corpus / sizeof *corpus;
        for (size_t i = 0; i < count; i++) {
            size_t len = strlen(list[i]);
            if (len + 2 > sizeof text)
                continue;
            for (size_t at = 0; at <= len; at++)
                for (const char *m = mutations; *m; m++) {
                    memcpy(text, list[i], len + 1);
                    if (at < len) {
                        text[at] = *m;
                        compare(text, proxy, &n);
                    }
                    memcpy(text, list[i], at);
                    text[at] = *m;
                    memcpy(text + at + 1, list[i] + at, len - at + 1);
                    compare(text, proxy, &n);
                }
        }
    }
    CHECK_INT(n.wrong, 0);
    CHECK(n.settled > 1000);
    unit_diag("# %u settled by the scanner, %u declined\n", n.settled, n.declined);
}

/* URLs the hot paths meet must not fall back to the URL API. */
static void settles_common_urls(void)
{
    static const struct {
        const char *url, *host, *scheme;
        unsigned port;
    } rows[] = {
        {"http://127.0.0.1:8080/p1", "127.0.0.1", "http", 8080},
        {"https://api.example.com/v1?x=1", "api.example.com", "https", 443},
        {"HTTP://Example.COM./", "example.com", "http", 80},
        {"http://user:pw@svc.internal:81", "svc.internal", "http", 81},
        {"https://10.0.0.1:8443#top", "10.0.0.1", "https", 8443},
        {"http://example.com:/", "example.com", "http", 80},
    };
    for (size_t i = 0; i < sizeof rows / sizeof *rows; i++) {
        struct curl_target t;
        size_t len = curl_url_scan(rows[i].url, &t);
        if (!CHECK_CTX(len > 0, "%s", rows[i].url))
            continue;
        CHECK_INT(rows[i].url[len] == '\0' || strchr("/?#", rows[i].url[len]) != NULL, 1);
        CHECK_STR(t.host, rows[i].host);
        CHECK_STR(t.scheme, rows[i].scheme);
        CHECK_INT(t.port, rows[i].port);
    }
}

/* What libcurl rewrites or reads by its own rules is left to it. */
static void declines_what_libcurl_rewrites(void)
{
    static const char *const rows[] = {
        "http://127.1/",        "http://0x7f.0.0.1/", "http://[::1]/", "http://exa%6dple.com/",
        "http://b\xc3\xbc.de/", "example.com/",       "ftp://h/",      "http:///h/",
        "http://a@b@h/",        "http://h:0/",        "http://h/a b",  "http://127.0.0.1./",
    };
    for (size_t i = 0; i < sizeof rows / sizeof *rows; i++) {
        struct curl_target t;
        CHECK_CTX(!curl_url_scan(rows[i], &t), "%s", rows[i]);
    }
}

/* The last host read is remembered per thread: a URL that starts the same
 * way must still be read whole. */
static void remembered_host_is_read_again_where_it_must(void)
{
    static const struct {
        const char *url;
        bool ok;
        const char *host;
        unsigned port;
    } rows[] = {
        {"http://example.com/x", true, "example.com", 80},
        {"http://example.com/y?z#w", true, "example.com", 80},
        {"http://example.com", true, "example.com", 80},
        {"http://example.com/a b", false, "", 0},
        {"http://example.com:81/", true, "example.com", 81},
        {"http://example.com:81@other.example/", true, "other.example", 80},
        {"http://example.comx/", true, "example.comx", 80},
        {"http://example.com/\x01", false, "", 0},
        {"http://example.com./", true, "example.com", 80},
    };
    for (size_t i = 0; i < sizeof rows / sizeof *rows; i++) {
        struct curl_target t;
        bool ok = curl_target_of_url(rows[i].url, &t);
        if (!CHECK_CTX(ok == rows[i].ok, "%s", rows[i].url) || !ok)
            continue;
        CHECK_STR(t.host, rows[i].host);
        CHECK_INT(t.port, rows[i].port);
    }
}

int main(void)
{
    RUN(corpus_agrees_with_libcurl);
    RUN(mutations_agree_with_libcurl);
    RUN(settles_common_urls);
    RUN(declines_what_libcurl_rewrites);
    RUN(remembered_host_is_read_again_where_it_must);
    return unit_done();
}
