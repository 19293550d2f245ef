/* http_recognise.h — recognising HTTP/1.x in the bytes a program writes and
 * reads, in place and a piece at a time: a request line on the way out, a
 * response head (status line, headers, Retry-After) on the way in.
 *
 * Pure: no allocation, no I/O, no clock. Each recogniser keeps all it knows
 * in one integer the caller stores (per descriptor), so bytes split over any
 * number of calls, down to one byte per call, give the same verdict as one
 * call with all of them; nothing of the program's data is kept. */
#ifndef FUSEBOX_HTTP_RECOGNISE_H
#define FUSEBOX_HTTP_RECOGNISE_H

#include <stddef.h>
#include <stdint.h>

enum http_verdict {
    HTTP_MORE, /* consistent so far: feed the next bytes */
    HTTP_YES,  /* recognised */
    HTTP_NO,   /* not what was looked for (the state stays there) */
};

/* ---- request line: METHOD SP TARGET SP "HTTP/1." DIGIT [CR] LF -------- */

/* The state of a request line not yet seen: 0. */
#define HTTP_REQUEST_START 0u

/* Feeds n bytes the program writes after those already fed. Returns
 * HTTP_YES once a whole request line has been seen (the bytes after it are
 * not looked at), HTTP_NO at the first byte that cannot be part of one
 * (METHOD is 1-20 of A-Z, '-', '_'; TARGET any bytes above space but DEL),
 * else HTTP_MORE. */
enum http_verdict http_request_feed(uint32_t *state, const void *bytes, size_t n);

/* True when the request line fed so far has the method CONNECT (a tunnel
 * follows a 2xx answer). */
int http_request_is_connect(uint32_t state);

/* ---- response head ---------------------------------------------------- */

/* The state of a response not yet begun: 0. */
#define HTTP_RESPONSE_START UINT64_C(0)

/* Feeds n bytes the program reads after those already fed. Returns HTTP_YES
 * when the head of the final response is complete (interim 1xx answers but
 * 101 are skipped: the next status line is read), HTTP_NO when the bytes are
 * not an HTTP/1.x response head (the status line must be "HTTP/1." DIGIT SP
 * three digits 100-599 then SP, CR or LF), else HTTP_MORE. Bytes after the
 * head are not looked at. A Retry-After header (seconds, or an IMF-fixdate
 * whole within one call) is read for the statuses 429 and 503 only. */
enum http_verdict http_response_feed(uint64_t *state, const void *bytes, size_t n);

/* The final response's status once its status line is complete, else 0
 * (while an interim 1xx is being skipped, too). */
unsigned http_response_status(uint64_t state);

/* Retry-After of a 429 or 503 head: seconds to wait (when *is_date is 0) or
 * the time to wait for, in seconds since the epoch (*is_date 1); returns 0
 * when the head had none (or none read yet). */
uint32_t http_response_retry_after(uint64_t state, int *is_date);

/* Parses an IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT") at the start of the
 * n bytes at p; returns its seconds since the epoch, or -1 when it is not one. */
int64_t http_date_parse(const char *p, size_t n);

#endif
