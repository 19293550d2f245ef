/* Unit tests of the HTTP and TLS recognisers (http_recognise.c,
 * tls_recognise.c): verdicts on whole inputs, and the same verdicts however
 * the bytes are split, down to one byte per call. */
#include <stdint.h>
#include <string.h>

#include "http_recognise.h"
#include "tls_recognise.h"
#include "unit.h"

/* Feeds text to the response (or request) recogniser in pieces of `step`
 * bytes (0: all at once); returns the last verdict, with the state in
 * *state. */
static enum http_verdict in_steps(int response, const char *text, size_t len, size_t step,
                                  uint64_t *state)
{
    uint32_t request = HTTP_REQUEST_START;
    *state = HTTP_RESPONSE_START;
    enum http_verdict v = HTTP_MORE;
    for (size_t at = 0; at < len && v == HTTP_MORE;) {
        size_t n = step && len - at > step ? step : len - at;
        v = response ? http_response_feed(state, text + at, n)
                     : http_request_feed(&request, text + at, n);
        at += n;
    }
    if (!response)
        *state = request;
    return v;
}

static void request_lines(void)
{
    static const struct {
        const char *text;
        enum http_verdict verdict;
        int connect;
    } rows[] = {
        {"GET / HTTP/1.1\r\nHost: a\r\n\r\n", HTTP_YES, 0},
        {"POST /x?y=1 HTTP/1.0\n", HTTP_YES, 0},
        {"CONNECT example.com:443 HTTP/1.1\r\n", HTTP_YES, 1},
        {"CONNECTX a HTTP/1.1\r\n", HTTP_YES, 0},
        {"M-SEARCH * HTTP/1.1\r\n", HTTP_YES, 0},
        {"GET /", HTTP_MORE, 0},
        {"GET / HTTP/1.", HTTP_MORE, 0},
        {"GET / HTTP/1.1\r", HTTP_MORE, 0},
        {"get / HTTP/1.1\r\n", HTTP_NO, 0},
        {"GET  / HTTP/1.1\r\n", HTTP_NO, 0},
        {"GET / HTTP/2.0\r\n", HTTP_NO, 0},
        {"GET / HTTP/1.1x\r\n", HTTP_NO, 0},
        {"GET /a\rb HTTP/1.1\r\n", HTTP_NO, 0},
        {"GET /a\tb HTTP/1.1\r\n", HTTP_YES, 0},
        {"GET /\r\n", HTTP_NO, 0},
        {" GET / HTTP/1.1\r\n", HTTP_NO, 0},
        {"PING\r\n", HTTP_NO, 0},
        {"SET key value\r\n", HTTP_NO, 0},
        {"ABCDEFGHIJKLMNOPQRSTU / HTTP/1.1\r\n", HTTP_NO, 0},
        {"\x16\x03\x01\x00\x10\x01", HTTP_NO, 0},
        {"log line: something happened\n", HTTP_NO, 0},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        size_t len = strlen(rows[i].text);
        for (size_t step = 0; step <= 3; step++) {
            uint64_t s;
            CHECK_CTX(in_steps(0, rows[i].text, len, step, &s) == rows[i].verdict,
                      "row %zu step %zu", i, step);
            if (rows[i].verdict == HTTP_YES)
                CHECK_CTX(http_request_is_connect((uint32_t)s) == rows[i].connect, "row %zu", i);
        }
    }
}

static void request_line_state_stays_decided(void)
{
    uint32_t s = HTTP_REQUEST_START;
    CHECK_INT(http_request_feed(&s, "GET / HTTP/1.1\r\n", 16), HTTP_YES);
    CHECK_INT(http_request_feed(&s, "\x01\x02", 2), HTTP_YES);
    s = HTTP_REQUEST_START;
    CHECK_INT(http_request_feed(&s, "hello", 5), HTTP_NO);
    CHECK_INT(http_request_feed(&s, "GET / HTTP/1.1\r\n", 16), HTTP_NO);
}

struct response_row {
    const char *text;
    enum http_verdict verdict;
    unsigned status;
    uint32_t retry;
    int retry_is_date;
};

static const struct response_row response_rows[] = {
    {"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi", HTTP_YES, 200, 0, 0},
    {"HTTP/1.0 404\n\n", HTTP_YES, 404, 0, 0},
    {"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 7\r\n\r\n", HTTP_YES, 503, 7, 0},
    {"HTTP/1.1 429 Too Many\r\nX: 1\r\nretry-after:120 \r\n\r\n", HTTP_YES, 429, 120, 0},
    {"HTTP/1.1 503 x\r\nRetry-After: Wed, 21 Oct 2015 07:28:00 GMT\r\n\r\n", HTTP_YES, 503,
     1445412480u, 1},
    {"HTTP/1.1 503 x\r\nRetry-After: soon\r\n\r\n", HTTP_YES, 503, 0, 0},
    {"HTTP/1.1 500 x\r\nRetry-After: 9\r\n\r\n", HTTP_YES, 500, 0, 0},
    {"HTTP/1.1 200 OK\r\nRetry-After: 9\r\n\r\n", HTTP_YES, 200, 0, 0},
    {"HTTP/1.1 503 x\r\nRetry-Afterward: 9\r\n\r\n", HTTP_YES, 503, 0, 0},
    {"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\n\r\n", HTTP_YES, 201, 0, 0},
    {"HTTP/1.1 103 Early\r\nLink: x\r\n\r\nHTTP/1.1 502 Bad\r\n\r\n", HTTP_YES, 502, 0, 0},
    {"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n", HTTP_YES, 101, 0, 0},
    {"HTTP/1.1 200 OK\r\nA: b\r\n", HTTP_MORE, 200, 0, 0},
    /* the bytes ending in an empty line, or in a line end that is not one */
    {"HTTP/1.1 204 No Content\r\nA: b\r\n\r\n", HTTP_YES, 204, 0, 0},
    {"HTTP/1.1 204 No Content\n\n", HTTP_YES, 204, 0, 0},
    {"HTTP/1.1 200 \r\n\r\n", HTTP_YES, 200, 0, 0},
    {"HTTP/1.1 200\n\n", HTTP_YES, 200, 0, 0},
    {"HTTP/1.1 200 OK\r\n", HTTP_MORE, 200, 0, 0},
    {"HTTP/1.1 200 OK\r\nA: \r\r\n", HTTP_MORE, 200, 0, 0},
    {"HTTP/1.1 200 OK\r\n\r\nbody\n\n", HTTP_YES, 200, 0, 0},
    {"HTTP/1.1 100 Continue\r\n\r\n", HTTP_MORE, 0, 0, 0},
    {"HTTP/1.1 20", HTTP_MORE, 0, 0, 0},
    {"HTTP/1.1 099 x\r\n\r\n", HTTP_NO, 0, 0, 0},
    {"HTTP/1.1 53x 0\r\n\r\n", HTTP_NO, 0, 0, 0},
    {"HTTP/1.1 600 x\r\n\r\n", HTTP_NO, 0, 0, 0},
    {"HTTP/1.1 2000 x\r\n\r\n", HTTP_NO, 0, 0, 0},
    {"HTTP/2 200\r\n\r\n", HTTP_NO, 0, 0, 0},
    {"SSH-2.0-OpenSSH\r\n", HTTP_NO, 0, 0, 0},
    {"\x16\x03\x03\x00\x50\x02", HTTP_NO, 0, 0, 0},
    {"+OK\r\n", HTTP_NO, 0, 0, 0},
};

static void response_heads(void)
{
    for (size_t i = 0; i < sizeof response_rows / sizeof response_rows[0]; i++) {
        const struct response_row *r = &response_rows[i];
        size_t len = strlen(r->text);
        for (size_t step = 0; step <= len; step++) {
            uint64_t s;
            int is_date;
            if (!CHECK_CTX(in_steps(1, r->text, len, step, &s) == r->verdict, "row %zu step %zu", i,
                           step))
                break;
            CHECK_CTX(http_response_status(s) == r->status, "row %zu step %zu", i, step);
            /* A date split over two calls is not read; a whole one is. */
            if (!r->retry_is_date || step == 0 || step == len) {
                CHECK_CTX(http_response_retry_after(s, &is_date) == r->retry, "row %zu step %zu", i,
                          step);
                CHECK_CTX(!r->retry || is_date == r->retry_is_date, "row %zu", i);
            }
        }
    }
}

static void response_bytes_after_the_head_are_not_read(void)
{
    uint64_t s = HTTP_RESPONSE_START;
    const char *head = "HTTP/1.1 204 No Content\r\n\r\n";
    CHECK_INT(http_response_feed(&s, head, strlen(head)), HTTP_YES);
    CHECK_INT(http_response_feed(&s, "garbage", 7), HTTP_YES);
    CHECK_INT(http_response_status(s), 204);
}

static void dates(void)
{
    CHECK_INT(http_date_parse("Thu, 01 Jan 1970 00:00:00 GMT", 29), 0);
    CHECK_INT(http_date_parse("Sun, 06 Nov 1994 08:49:37 GMT", 29), 784111777);
    CHECK_INT(http_date_parse("Tue, 29 Feb 2028 23:59:59 GMT", 29), 1835481599);
    CHECK_INT(http_date_parse("Sun, 06 Nov 1994 08:49:37 GM", 28), -1);
    CHECK_INT(http_date_parse("Sun, 06 Xyz 1994 08:49:37 GMT", 29), -1);
    CHECK_INT(http_date_parse("Sun, 06 Nov 1994 24:49:37 GMT", 29), -1);
    CHECK_INT(http_date_parse("Sunday, 06-Nov-94 08:49:37 GMT", 30), -1);
    CHECK_INT(http_date_parse("Sun, 0x Nov 1994 08:49:37 GMT", 29), -1);
}

static void client_hellos(void)
{
    static const struct {
        const char *bytes;
        size_t len;
        enum http_verdict verdict;
    } rows[] = {
        {"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 11, HTTP_YES},
        {"\x16\x03\x03\x00\x04\x01", 6, HTTP_YES},
        {"\x16\x03\x01\x02", 4, HTTP_MORE},
        {"\x16\x03\x01\x00\x03\x01", 6, HTTP_NO}, /* too short a record */
        {"\x16\x03\x01\x48\x01\x01", 6, HTTP_NO}, /* too long */
        {"\x16\x03\x05\x00\x10\x01", 6, HTTP_NO}, /* no such version */
        {"\x16\x03\x01\x00\x10\x02", 6, HTTP_NO}, /* a ServerHello */
        {"\x17\x03\x03\x00\x10\x01", 6, HTTP_NO}, /* application data */
        {"GET / HTTP/1.1\r\n", 16, HTTP_NO},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        for (size_t step = 1; step <= rows[i].len; step++) {
            uint32_t s = TLS_HELLO_START;
            enum http_verdict v = HTTP_MORE;
            for (size_t at = 0; at < rows[i].len && v == HTTP_MORE; at += step) {
                size_t n = rows[i].len - at < step ? rows[i].len - at : step;
                v = tls_hello_feed(&s, rows[i].bytes + at, n);
            }
            CHECK_CTX(v == rows[i].verdict, "row %zu step %zu", i, step);
        }
    }
}

static void client_records(void)
{
    /* TLS 1.3 second flight: ChangeCipherSpec, then Finished as app data. */
    const char ccs_fin[] = "\x14\x03\x03\x00\x01\x01"
                           "\x17\x03\x03\x00\x02"
                           "xy";
    CHECK_INT(tls_client_records(ccs_fin, sizeof ccs_fin - 1), TLS_CLIENT_APP_DATA);
    /* TLS 1.2 second flight: key exchange, CCS, Finished: handshake only. */
    const char kex[] = "\x16\x03\x03\x00\x02"
                       "ab"
                       "\x14\x03\x03\x00\x01\x01"
                       "\x16\x03\x03\x00\x01z";
    CHECK_INT(tls_client_records(kex, sizeof kex - 1), TLS_CLIENT_NOTHING);
    CHECK_INT(tls_client_records("\x15\x03\x03\x00\x02\x02\x30", 7), TLS_CLIENT_ALERT);
    CHECK_INT(tls_client_records("\x17\x03", 2), TLS_CLIENT_NOTHING);
    CHECK_INT(tls_client_records("GET / HTTP/1.1\r\n", 16), TLS_CLIENT_NOTHING);
    /* A record longer than the write: the next header is not in it. */
    CHECK_INT(tls_client_records("\x16\x03\x03\x01\x00", 5), TLS_CLIENT_NOTHING);
}

int main(void)
{
    RUN(request_lines);
    RUN(request_line_state_stays_decided);
    RUN(response_heads);
    RUN(response_bytes_after_the_head_are_not_read);
    RUN(dates);
    RUN(client_hellos);
    RUN(client_records);
    return unit_done();
}
