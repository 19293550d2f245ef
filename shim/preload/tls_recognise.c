/* ClientHello state: the number of bytes of the record header (and the
 * handshake type after it) matched so far, 0..6; 7 yes, 8 no; the length's
 * high byte in bits 8..15. */
#include "tls_recognise.h"

#define HELLO_YES 7u
#define HELLO_NO 8u
#define RECORD_HANDSHAKE 22
#define RECORD_ALERT 21
#define RECORD_APP_DATA 23
#define RECORD_MAX (16384 + 2048)

/* Whether byte c may be the byte at position i of a ClientHello's start;
 * hi is the length's high byte (for i == 4). */
static int hello_byte(unsigned i, unsigned c, unsigned hi)
{
    unsigned len = hi << 8 | c;
    switch (i) {
    case 0:
        return c == RECORD_HANDSHAKE;
    case 1:
        return c == 3;
    case 2:
        return c <= 4;
    case 3:
        return c <= RECORD_MAX >> 8;
    case 4:
        return len >= 4 && len <= RECORD_MAX;
    default:
        return c == 1;
    }
}

enum http_verdict tls_hello_feed(uint32_t *state, const void *bytes, size_t n)
{
    const unsigned char *p = bytes;
    uint32_t s = *state;
    for (size_t i = 0; i < n && (s & 0xffu) < HELLO_YES; i++) {
        unsigned at = s & 0xffu, hi = (s >> 8) & 0xffu;
        if (!hello_byte(at, p[i], hi))
            s = HELLO_NO;
        else
            s = (at == 3 ? (uint32_t)p[i] << 8 : s & 0xff00u) | (at == 5 ? HELLO_YES : at + 1);
    }
    *state = s;
    return (s & 0xffu) == HELLO_YES ? HTTP_YES : (s & 0xffu) == HELLO_NO ? HTTP_NO : HTTP_MORE;
}

enum tls_client_event tls_client_records(const void *bytes, size_t n)
{
    const unsigned char *p = bytes;
    for (size_t at = 0; at + 5 <= n;) {
        unsigned type = p[at], len = (unsigned)p[at + 3] << 8 | p[at + 4];
        if (type < 20 || type > RECORD_APP_DATA || p[at + 1] != 3 || len > RECORD_MAX)
            return TLS_CLIENT_NOTHING;
        if (type == RECORD_APP_DATA)
            return TLS_CLIENT_APP_DATA;
        if (type == RECORD_ALERT)
            return TLS_CLIENT_ALERT;
        at += 5 + (size_t)len;
    }
    return TLS_CLIENT_NOTHING;
}
