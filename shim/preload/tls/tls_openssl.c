/* OpenSSL's session calls (libssl.so.3 or .1.1, found with dlsym on first
 * use, never linked): on a connection the request tracker watches, the
 * plaintext a session sends and receives is what it looks at (an HTTP
 * request over https is a call of its own, as over http), the ciphertext
 * the library moves meanwhile is not (request_quiet), and the handshake
 * ends the connect's held call when it fails (a protocol error or a
 * certificate check: class tls; the server's reset or end: reset). */
#include <errno.h>
#include <stddef.h>

#include "export.h"
#include "request.h"
#include "tls_internal.h"

enum {
    SSL_ERROR_SSL = 1,
    SSL_ERROR_SYSCALL = 5,
    SSL_ERROR_ZERO_RETURN = 6,
    SSL_R_UNEXPECTED_EOF_WHILE_READING = 294,
};

typedef int (*rw_fn)(SSL *s, void *buf, int num);
typedef int (*rw_ex_fn)(SSL *s, void *buf, size_t num, size_t *done);
typedef int (*session_fn)(SSL *s);

/* libssl's SSL_get_fd, SSL_get_error and libcrypto's ERR_peek_error. */
static int get_fd(const SSL *s, const void *caller)
{
    static _Atomic(void *) slot;
    int (*f)(const SSL *) = (int (*)(const SSL *))tls_real_of("SSL_get_fd", caller, &slot);
    return f ? f(s) : -1;
}

static int get_error(const SSL *s, int ret, const void *caller)
{
    static _Atomic(void *) slot;
    int (*f)(const SSL *, int) =
        (int (*)(const SSL *, int))tls_real_of("SSL_get_error", caller, &slot);
    return f ? f(s, ret) : SSL_ERROR_SSL;
}

/* True when the error OpenSSL queued last is an end of stream in the middle
 * of a record or handshake (OpenSSL 3 reports it as SSL_ERROR_SSL). */
static int unexpected_eof(const void *caller)
{
    static _Atomic(void *) slot;
    unsigned long (*f)(void) =
        (unsigned long (*)(void))tls_real_of("ERR_peek_error", caller, &slot);
    return f && (f() & 0x7fffffUL) == SSL_R_UNEXPECTED_EOF_WHILE_READING;
}

/* The watched descriptor behind s, or -1. */
static int session_fd(const SSL *s, const void *caller)
{
    return s ? tls_watched(get_fd(s, caller)) : -1;
}

/* The rc (0: ended, -1: *err) of a read or write of s that returned ret <= 0. */
static ssize_t failure(const SSL *s, int ret, int *err, const void *caller)
{
    int saved = errno;
    switch (get_error(s, ret, caller)) {
    case SSL_ERROR_ZERO_RETURN:
        return 0;
    case SSL_ERROR_SYSCALL:
        *err = saved;
        return saved ? -1 : 0;
    case SSL_ERROR_SSL:
        if (unexpected_eof(caller))
            return 0;
        *err = ECONNRESET;
        return -1;
    default: /* want read, want write, … */
        *err = EAGAIN;
        return -1;
    }
}

/* A send of num bytes at buf on s by real (with the _ex calling convention
 * when ex: 1 and *done on success). */
static int sent(SSL *s, const void *buf, size_t num, size_t *done, void *real, int ex,
                const void *caller)
{
    int fd = session_fd(s, caller);
    size_t one_done = 0;
    if (!ex)
        done = &one_done;
    if (fd < 0 || num == 0)
        return ex ? ((rw_ex_fn)real)(s, (void *)buf, num, done)
                  : ((rw_fn)real)(s, (void *)buf, (int)num);
    int began = request_session_before_send(fd, buf, num);
    if (began < 0)
        return ex ? 0 : -1; /* errno ECONNRESET: nothing sent */
    request_quiet++;
    int ret =
        ex ? ((rw_ex_fn)real)(s, (void *)buf, num, done) : ((rw_fn)real)(s, (void *)buf, (int)num);
    request_quiet--;
    int saved = errno, err = 0;
    ssize_t rc = ret > 0 ? (ssize_t)(ex ? *done : (size_t)ret) : failure(s, ret, &err, caller);
    request_session_after_send(fd, buf, num, began, rc, err);
    errno = saved;
    return ret;
}

/* A receive into buf of s by real (as for sent); peek: the bytes stay in the
 * session, so only what the library moves is kept quiet. */
static int received(SSL *s, void *buf, size_t num, size_t *done, void *real, int ex, int peek,
                    const void *caller)
{
    int fd = session_fd(s, caller);
    size_t one_done = 0;
    if (!ex)
        done = &one_done;
    if (fd < 0)
        return ex ? ((rw_ex_fn)real)(s, buf, num, done) : ((rw_fn)real)(s, buf, (int)num);
    request_quiet++;
    int ret = ex ? ((rw_ex_fn)real)(s, buf, num, done) : ((rw_fn)real)(s, buf, (int)num);
    request_quiet--;
    int saved = errno, err = 0;
    if (!peek) {
        ssize_t rc = ret > 0 ? (ssize_t)(ex ? *done : (size_t)ret) : failure(s, ret, &err, caller);
        request_session_after_recv(fd, buf, rc, err);
    }
    errno = saved;
    return ret;
}

/* A handshake step of s by real: begun, ended by success, or failed. */
static int handshake(SSL *s, session_fn real, const void *caller)
{
    int fd = session_fd(s, caller);
    if (fd < 0)
        return real(s);
    request_handshake_begins(fd);
    request_quiet++;
    int ret = real(s);
    request_quiet--;
    int saved = errno;
    if (ret == 1) {
        request_handshake_ends(fd, OUTCOME_SUCCESS);
    } else {
        int e = get_error(s, ret, caller);
        if (e == SSL_ERROR_SSL || e == SSL_ERROR_SYSCALL || e == SSL_ERROR_ZERO_RETURN)
            request_handshake_ends(
                fd, tls_handshake_class(e == SSL_ERROR_SSL && !unexpected_eof(caller), saved));
    }
    errno = saved;
    return ret;
}

/* A call of s whose socket I/O must stay quiet (shutdown's alert). */
static int quietly(SSL *s, session_fn real, const void *caller)
{
    if (session_fd(s, caller) < 0)
        return real(s);
    request_quiet++;
    int ret = real(s);
    request_quiet--;
    return ret;
}

#define CALLER __builtin_return_address(0)
#define REAL(name) TLS_REAL(void *, name)

EXPORT int SSL_write(SSL *s, const void *buf, int num)
{
    void *real = REAL(SSL_write);
    if (!real || num <= 0)
        return real ? ((rw_fn)real)(s, (void *)buf, num) : -1;
    return sent(s, buf, (size_t)num, NULL, real, 0, CALLER);
}

EXPORT int SSL_write_ex(SSL *s, const void *buf, size_t num, size_t *written)
{
    void *real = REAL(SSL_write_ex);
    return real ? sent(s, buf, num, written, real, 1, CALLER) : 0;
}

EXPORT int SSL_read(SSL *s, void *buf, int num)
{
    void *real = REAL(SSL_read);
    if (!real || num <= 0)
        return real ? ((rw_fn)real)(s, buf, num) : -1;
    return received(s, buf, (size_t)num, NULL, real, 0, 0, CALLER);
}

EXPORT int SSL_read_ex(SSL *s, void *buf, size_t num, size_t *readbytes)
{
    void *real = REAL(SSL_read_ex);
    return real ? received(s, buf, num, readbytes, real, 1, 0, CALLER) : 0;
}

EXPORT int SSL_peek(SSL *s, void *buf, int num)
{
    void *real = REAL(SSL_peek);
    if (!real || num <= 0)
        return real ? ((rw_fn)real)(s, buf, num) : -1;
    return received(s, buf, (size_t)num, NULL, real, 0, 1, CALLER);
}

EXPORT int SSL_peek_ex(SSL *s, void *buf, size_t num, size_t *readbytes)
{
    void *real = REAL(SSL_peek_ex);
    return real ? received(s, buf, num, readbytes, real, 1, 1, CALLER) : 0;
}

EXPORT int SSL_do_handshake(SSL *s)
{
    session_fn real = (session_fn)REAL(SSL_do_handshake);
    return real ? handshake(s, real, CALLER) : -1;
}

EXPORT int SSL_connect(SSL *s)
{
    session_fn real = (session_fn)REAL(SSL_connect);
    return real ? handshake(s, real, CALLER) : -1;
}

EXPORT int SSL_shutdown(SSL *s)
{
    session_fn real = (session_fn)REAL(SSL_shutdown);
    return real ? quietly(s, real, CALLER) : -1;
}
