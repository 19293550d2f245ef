/* fuzz_url_scan.c — libFuzzer harness over the URL scanner
 * (shim/preload/curl/curl_url_scan.c), differential against libcurl's URL
 * API: each input, cut at its first NUL, is read as a URL and as a proxy
 * string; whenever the scanner settles one, libcurl's parser must give the
 * same host, scheme and port, else the harness aborts. Built and run by
 * `make fuzz` (clang, ASan, UBSan; links libcurl, which the shim never
 * does); tests/fuzz/url_corpus holds the seeds. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "curl_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool same(const struct curl_target *a, const struct curl_target *b)
{
    return strcmp(a->host, b->host) == 0 && strcmp(a->scheme, b->scheme) == 0 && a->port == b->port;
}

/* Aborts when the shim's reading of text (scanner first) differs from the
 * URL API's alone. */
static void check(const char *text, bool proxy)
{
    struct curl_target got, want;
    bool ok = proxy ? curl_target_of_proxy(text, &got) : curl_target_of_url(text, &got);
    bool parsed =
        proxy ? curl_target_of_proxy_api(text, &want) : curl_target_of_url_api(text, &want);
    if (ok != parsed || (ok && !same(&got, &want))) {
        fprintf(stderr, "%s \"%s\": shim %d %s %s:%u, libcurl %d %s %s:%u\n",
                proxy ? "proxy" : "url", text, ok, got.scheme, got.host, got.port, parsed,
                want.scheme, want.host, want.port);
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    check(text, false);
    check(text, true);
    free(text);
    return 0;
}
