/* fuzz_recognise.c — libFuzzer harness over the HTTP and TLS recognisers.
 *
 * Each input's first byte picks where the rest is cut into pieces; the rest
 * is fed to every recogniser whole and in those pieces. The verdicts (and
 * a response's status and digit Retry-After) must be the same both ways, a
 * recognised status must lie in 100-599, and nothing may read outside the
 * bytes given. Built and run by `make fuzz`; tests/fuzz/corpus-recognise
 * holds the seeds. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http_recognise.h"
#include "tls_recognise.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The length of piece i of an input cut by key (1 to 8 bytes). */
static size_t piece(uint8_t key, size_t i)
{
    return 1 + ((key >> (i % 8)) & 7u);
}

static void check(int ok)
{
    if (!ok)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    uint8_t key = data[0];
    const uint8_t *p = data + 1;
    size_t n = size - 1;
    /* Copies, so that a read past the end is seen by ASan at the exact byte. */
    uint8_t *copy = malloc(n ? n : 1);
    if (!copy)
        return 0;
    memcpy(copy, p, n);

    uint32_t req_whole = HTTP_REQUEST_START, hello_whole = TLS_HELLO_START;
    uint64_t resp_whole = HTTP_RESPONSE_START;
    enum http_verdict rq = http_request_feed(&req_whole, copy, n);
    enum http_verdict rs = http_response_feed(&resp_whole, copy, n);
    enum http_verdict th = tls_hello_feed(&hello_whole, copy, n);
    (void)tls_client_records(copy, n);

    uint32_t req = HTTP_REQUEST_START, hello = TLS_HELLO_START;
    uint64_t resp = HTTP_RESPONSE_START;
    enum http_verdict rq2 = HTTP_MORE, rs2 = HTTP_MORE, th2 = HTTP_MORE;
    for (size_t at = 0, i = 0; at < n; i++) {
        size_t len = piece(key, i);
        if (len > n - at)
            len = n - at;
        uint8_t *bit = malloc(len);
        if (!bit)
            break;
        memcpy(bit, copy + at, len);
        rq2 = http_request_feed(&req, bit, len);
        rs2 = http_response_feed(&resp, bit, len);
        th2 = tls_hello_feed(&hello, bit, len);
        (void)tls_client_records(bit, len);
        free(bit);
        at += len;
    }
    if (n > 0) {
        check(rq == rq2 && rs == rs2 && th == th2);
        check(http_request_is_connect(req) == http_request_is_connect(req_whole));
        check(http_response_status(resp) == http_response_status(resp_whole));
        int date_whole, date_split;
        uint32_t ra_whole = http_response_retry_after(resp_whole, &date_whole);
        uint32_t ra_split = http_response_retry_after(resp, &date_split);
        check(date_whole || date_split || ra_whole == ra_split);
    }
    unsigned status = http_response_status(resp_whole);
    check(status == 0 || (status >= 100 && status <= 599));
    check(rs != HTTP_YES || status >= 101);
    (void)http_date_parse((const char *)copy, n);
    free(copy);
    return 0;
}
