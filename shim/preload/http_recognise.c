/* Request state: bits 0..2 phase, 3..7 a count, bit 8 "the method is not
 * CONNECT", bit 9 "the method is CONNECT".
 *
 * Response state: bits 0..3 phase, 4..7 a count, 8..17 status, bit 18 "read
 * Retry-After" (429, 503), bit 19 "Retry-After is a date", bit 20 "Retry-After
 * read", 32..63 its value. */
#include "http_recognise.h"

#include <string.h>

/* ---- request line ----------------------------------------------------- */

enum { RQ_METHOD, RQ_TARGET, RQ_VERSION, RQ_CR, RQ_LF, RQ_YES, RQ_NO };

#define RQ_PHASE(s) ((s)&7u)
#define RQ_COUNT(s) (((s) >> 3) & 31u)
#define RQ_NOT_CONNECT (1u << 8)
#define RQ_CONNECT (1u << 9)
#define RQ_MAX_METHOD 20u

static uint32_t rq_set(uint32_t s, unsigned phase, unsigned count)
{
    return (s & ~0xffu) | phase | count << 3;
}

static int method_char(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || c == '-' || c == '_';
}

/* True when the n bytes at p hold a SP or a CR (a short run is looked at in
 * place: most targets are a few bytes). */
static int has_space_or_cr(const unsigned char *p, size_t n)
{
    if (n > 32)
        return memchr(p, ' ', n) || memchr(p, '\r', n);
    for (size_t i = 0; i < n; i++)
        if (p[i] == ' ' || p[i] == '\r')
            return 1;
    return 0;
}

/* A whole request line at the start of the n bytes at p, read without the
 * byte-at-a-time machine; returns its final state, or HTTP_REQUEST_START when
 * the line is not whole there or not a request line (the machine decides
 * then). */
static uint32_t whole_request_line(const unsigned char *p, size_t n)
{
    size_t m = n > 4 && memcmp(p, "GET ", 4) == 0 ? 3 : 0; /* the common method, at once */
    uint32_t s = 0;
    while (m < n && m < RQ_MAX_METHOD && method_char(p[m]))
        m++;
    const unsigned char *nl = m > 0 && m < n && p[m] == ' ' ? memchr(p + m, '\n', n - m) : NULL;
    if (!nl)
        return HTTP_REQUEST_START;
    size_t end = (size_t)(nl - p) - (nl[-1] == '\r'); /* the line without CR LF */
    const unsigned char *target = p + m + 1;
    if (end < m + 1 + 1 + 9 || memcmp(p + end - 9, " HTTP/1.", 8) != 0 || p[end - 1] < '0' ||
        p[end - 1] > '9')
        return HTTP_REQUEST_START;
    size_t target_len = (size_t)(p + end - 9 - target);
    if (has_space_or_cr(target, target_len))
        return HTTP_REQUEST_START;
    if (m == 7 && memcmp(p, "CONNECT", 7) == 0)
        s |= RQ_CONNECT;
    return rq_set(s | RQ_NOT_CONNECT * !(s & RQ_CONNECT), RQ_YES, 0);
}

/* The byte-at-a-time request line machine: http_request_feed's contract,
 * from any state. Kept out of line, so that the whole-line path pays for
 * none of its registers. */
static __attribute__((noinline)) enum http_verdict request_machine(uint32_t *state,
                                                                   const unsigned char *p, size_t n)
{
    static const char version[] = "HTTP/1.";
    uint32_t s = *state;
    for (size_t i = 0; i < n && RQ_PHASE(s) < RQ_YES; i++) {
        unsigned char c = p[i];
        unsigned count = RQ_COUNT(s);
        switch (RQ_PHASE(s)) {
        case RQ_METHOD:
            if (c == ' ' && count > 0) {
                if (!(s & RQ_NOT_CONNECT) && count == 7)
                    s |= RQ_CONNECT;
                s = rq_set(s, RQ_TARGET, 0);
            } else if (method_char(c) && count < RQ_MAX_METHOD) {
                if (count >= 7 || c != (unsigned char)"CONNECT"[count])
                    s |= RQ_NOT_CONNECT;
                s = rq_set(s, RQ_METHOD, count + 1);
            } else {
                s = rq_set(s, RQ_NO, 0);
            }
            break;
        case RQ_TARGET: { /* count: 1 once the target has a byte */
            const unsigned char *space = memchr(p + i, ' ', n - i);
            size_t end = space ? (size_t)(space - p) : n;
            if (memchr(p + i, '\n', end - i) || memchr(p + i, '\r', end - i))
                return *state = rq_set(s, RQ_NO, 0), HTTP_NO;
            if (end > i)
                count = 1;
            i = end;
            if (space)
                s = count ? rq_set(s, RQ_VERSION, 0) : rq_set(s, RQ_NO, 0);
            else
                s = rq_set(s, RQ_TARGET, count);
            break;
        }
        case RQ_VERSION:
            if (count < 7 && c == (unsigned char)version[count])
                s = rq_set(s, RQ_VERSION, count + 1);
            else if (count == 7 && c >= '0' && c <= '9')
                s = rq_set(s, RQ_CR, 0);
            else
                s = rq_set(s, RQ_NO, 0);
            break;
        case RQ_CR:
            s = rq_set(s, c == '\n' ? RQ_YES : c == '\r' ? RQ_LF : RQ_NO, 0);
            break;
        case RQ_LF:
            s = rq_set(s, c == '\n' ? RQ_YES : RQ_NO, 0);
            break;
        }
    }
    *state = s;
    return RQ_PHASE(s) == RQ_YES ? HTTP_YES : RQ_PHASE(s) == RQ_NO ? HTTP_NO : HTTP_MORE;
}

enum http_verdict http_request_feed(uint32_t *state, const void *bytes, size_t n)
{
    uint32_t s;
    if (*state == HTTP_REQUEST_START && (s = whole_request_line(bytes, n)) != HTTP_REQUEST_START)
        return *state = s, HTTP_YES;
    return request_machine(state, bytes, n);
}

int http_request_is_connect(uint32_t state)
{
    return (state & RQ_CONNECT) != 0;
}

/* ---- response head ---------------------------------------------------- */

enum {
    R_VERSION,  /* count: bytes of "HTTP/1." matched */
    R_MINOR,    /* the version's digit */
    R_SP,       /* the space after it */
    R_CODE,     /* count: digits of the status read */
    R_AFTER,    /* SP, CR or LF after the status */
    R_REASON,   /* the rest of the status line */
    R_LINE,     /* at the start of a header line */
    R_LINE_CR,  /* a CR at the start of a line: the head ends at LF */
    R_HEADER,   /* the rest of a header line */
    R_RA_NAME,  /* count: bytes of "retry-after" matched */
    R_RA_COLON, /* blanks, then ':' */
    R_RA_VALUE, /* blanks, then the value */
    R_RA_DIGITS,
    R_DONE,
    R_BAD,
};

#define R_PHASE(s) ((unsigned)((s)&15u))
#define R_COUNT(s) ((unsigned)((s) >> 4) & 15u)
#define R_STATUS(s) ((unsigned)((s) >> 8) & 1023u)
#define R_WANT_RA (UINT64_C(1) << 18)
#define R_RA_DATE (UINT64_C(1) << 19)
#define R_RA_FOUND (UINT64_C(1) << 20)
#define R_RA_VALUE_OF(s) ((uint32_t)((s) >> 32))

static uint64_t r_set(uint64_t s, unsigned phase, unsigned count)
{
    return (s & ~UINT64_C(0xff)) | phase | count << 4;
}

static uint64_t r_with_status(uint64_t s, unsigned status)
{
    return (s & ~(UINT64_C(1023) << 8)) | (uint64_t)status << 8;
}

static uint64_t r_with_retry(uint64_t s, uint32_t value, int is_date)
{
    s = (s & UINT64_C(0xffffffff) & ~R_RA_DATE) | R_RA_FOUND | (uint64_t)value << 32;
    return is_date ? s | R_RA_DATE : s;
}

static int is_interim(unsigned status)
{
    return status >= 100 && status <= 199 && status != 101;
}

/* The head ends here: an interim answer starts the wait for the next. */
static uint64_t head_end(uint64_t s)
{
    return is_interim(R_STATUS(s)) ? HTTP_RESPONSE_START : r_set(s, R_DONE, 0);
}

/* Reads a Retry-After value that is not digits: a date whole before the end
 * of its line within [p, p + n); returns the state with it, or s. */
static uint64_t retry_date(uint64_t s, const unsigned char *p, size_t n)
{
    const unsigned char *nl = memchr(p, '\n', n);
    int64_t t = nl ? http_date_parse((const char *)p, (size_t)(nl - p)) : -1;
    return t >= 0 && t <= UINT32_MAX ? r_with_retry(s, (uint32_t)t, 1) : s;
}

static int is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

/* A whole final response head at the start of the n bytes at p, of a status
 * without Retry-After to read, read without the byte-at-a-time machine;
 * returns its final state, or HTTP_RESPONSE_START to leave it to the
 * machine. */
static uint64_t whole_response_head(const unsigned char *p, size_t n)
{
    if (n < 14 || memcmp(p, "HTTP/1.", 7) != 0 || !is_digit(p[7]) || p[8] != ' ' ||
        !is_digit(p[9]) || !is_digit(p[10]) || !is_digit(p[11]))
        return HTTP_RESPONSE_START;
    unsigned status = (p[9] - '0') * 100u + (p[10] - '0') * 10u + (p[11] - '0');
    if ((p[12] != ' ' && p[12] != '\r' && p[12] != '\n') || status < 200 || status > 599 ||
        status == 429 || status == 503) /* interim answers and Retry-After: the machine */
        return HTTP_RESPONSE_START;
    uint64_t done = r_set(r_with_status(0, status), R_DONE, 0);
    /* Bytes that end in an empty line hold the whole head (all of them are
     * head when it is not whole; p[11] is a digit, so the LF is past it): a
     * head read on its own, or one of an answer without a body. */
    if (p[n - 1] == '\n' && (p[n - 2] == '\n' || (p[n - 2] == '\r' && p[n - 3] == '\n')))
        return done;
    const unsigned char *end = p + n;
    for (const unsigned char *at = p + 12; (at = memchr(at, '\n', (size_t)(end - at))); at++) {
        if (at + 1 < end && at[1] == '\n')
            return done;
        if (at + 2 < end && at[1] == '\r' && at[2] == '\n')
            return done;
    }
    return HTTP_RESPONSE_START;
}

/* The byte-at-a-time response head machine: http_response_feed's contract,
 * from any state. Kept out of line, so that the whole-head path pays for
 * none of its registers. */
static __attribute__((noinline)) enum http_verdict
response_machine(uint64_t *state, const unsigned char *p, size_t n)
{
    static const char version[] = "HTTP/1.", retry[] = "retry-after";
    uint64_t s = *state;
    for (size_t i = 0; i < n && R_PHASE(s) < R_DONE; i++) {
        unsigned char c = p[i];
        unsigned count = R_COUNT(s);
        switch (R_PHASE(s)) {
        case R_VERSION:
            s = c == (unsigned char)version[count]
                    ? r_set(s, count == 6 ? R_MINOR : R_VERSION, count + 1)
                    : r_set(s, R_BAD, 0);
            break;
        case R_MINOR:
            s = r_set(s, c >= '0' && c <= '9' ? R_SP : R_BAD, 0);
            break;
        case R_SP:
            s = r_set(s, c == ' ' ? R_CODE : R_BAD, 0);
            break;
        case R_CODE:
            if (c < '0' || c > '9') {
                s = r_set(s, R_BAD, 0);
                break;
            }
            s = r_with_status(s, R_STATUS(s) * 10 + (c - '0'));
            s = r_set(s, count == 2 ? R_AFTER : R_CODE, count + 1);
            break;
        case R_AFTER: {
            unsigned status = R_STATUS(s);
            if ((c != ' ' && c != '\r' && c != '\n') || status < 100 || status > 599) {
                s = r_set(s, R_BAD, 0);
                break;
            }
            if (status == 429 || status == 503)
                s |= R_WANT_RA;
            s = r_set(s, c == '\n' ? R_LINE : R_REASON, 0);
            break;
        }
        case R_REASON:
        case R_HEADER: {
            const unsigned char *nl = memchr(p + i, '\n', n - i);
            if (!nl) {
                i = n;
                break;
            }
            i = (size_t)(nl - p);
            s = r_set(s, R_LINE, 0);
            break;
        }
        case R_LINE:
            if (c == '\n')
                s = head_end(s);
            else if (c == '\r')
                s = r_set(s, R_LINE_CR, 0);
            else if ((s & R_WANT_RA) && (c | 0x20) == 'r')
                s = r_set(s, R_RA_NAME, 1);
            else
                s = r_set(s, R_HEADER, 0);
            break;
        case R_LINE_CR:
            s = c == '\n' ? head_end(s) : r_set(s, R_HEADER, 0);
            break;
        case R_RA_NAME:
            if ((c | 0x20) == (unsigned char)retry[count])
                s = r_set(s, count == 10 ? R_RA_COLON : R_RA_NAME, count + 1);
            else
                s = r_set(s, c == '\n' ? R_LINE : R_HEADER, 0);
            break;
        case R_RA_COLON:
            if (c == ':')
                s = r_set(s, R_RA_VALUE, 0);
            else if (c != ' ' && c != '\t')
                s = r_set(s, c == '\n' ? R_LINE : R_HEADER, 0);
            break;
        case R_RA_VALUE:
            if (c >= '0' && c <= '9') {
                s = r_set(r_with_retry(s, c - '0', 0), R_RA_DIGITS, 0);
            } else if (c == '\n') {
                s = r_set(s, R_LINE, 0);
            } else if (c != ' ' && c != '\t') {
                s = r_set(retry_date(s, p + i, n - i), R_HEADER, 0);
                i--; /* the header's rest is skipped from here */
            }
            break;
        case R_RA_DIGITS:
            if (c >= '0' && c <= '9') {
                uint64_t v = (uint64_t)R_RA_VALUE_OF(s) * 10 + (c - '0');
                s = r_with_retry(s, v > UINT32_MAX ? UINT32_MAX : (uint32_t)v, 0);
            } else {
                s = r_set(s, c == '\n' ? R_LINE : R_HEADER, 0);
            }
            break;
        }
    }
    *state = s;
    return R_PHASE(s) == R_DONE ? HTTP_YES : R_PHASE(s) == R_BAD ? HTTP_NO : HTTP_MORE;
}

enum http_verdict http_response_feed(uint64_t *state, const void *bytes, size_t n)
{
    uint64_t s;
    if (*state == HTTP_RESPONSE_START && (s = whole_response_head(bytes, n)) != HTTP_RESPONSE_START)
        return *state = s, HTTP_YES;
    return response_machine(state, bytes, n);
}

unsigned http_response_status(uint64_t state)
{
    unsigned status = R_STATUS(state);
    unsigned phase = R_PHASE(state);
    return phase > R_AFTER && phase != R_BAD && !is_interim(status) ? status : 0;
}

uint32_t http_response_retry_after(uint64_t state, int *is_date)
{
    *is_date = (state & R_RA_DATE) != 0;
    return (state & R_RA_FOUND) ? R_RA_VALUE_OF(state) : 0;
}

/* ---- dates ------------------------------------------------------------ */

/* Reads the n decimal digits at p; -1 when one is not a digit. */
static int digits(const char *p, int n)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9')
            return -1;
        v = v * 10 + (p[i] - '0');
    }
    return v;
}

/* Days from 1970-01-01 to year-month-day (proleptic Gregorian). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

int64_t http_date_parse(const char *p, size_t n)
{
    static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
    /* "Sun, 06 Nov 1994 08:49:37 GMT" */
    if (n < 29 || p[3] != ',' || p[4] != ' ' || p[7] != ' ' || p[11] != ' ' || p[16] != ' ' ||
        p[19] != ':' || p[22] != ':' || memcmp(p + 25, " GMT", 4) != 0)
        return -1;
    int month = 0;
    while (month < 12 && memcmp(months + 3 * month, p + 8, 3) != 0)
        month++;
    int day = digits(p + 5, 2), year = digits(p + 12, 4);
    int hour = digits(p + 17, 2), minute = digits(p + 20, 2), second = digits(p + 23, 2);
    if (month == 12 || day < 1 || day > 31 || year < 1970 || hour < 0 || hour > 23 || minute < 0 ||
        minute > 59 || second < 0 || second > 60)
        return -1;
    return days_from_civil(year, month + 1, day) * 86400 + hour * 3600 + minute * 60 + second;
}
