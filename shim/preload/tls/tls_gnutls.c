/* GnuTLS's session calls (libgnutls.so.30, found with dlsym on first use,
 * never linked), as tls_openssl.c does for OpenSSL: the plaintext of a
 * watched connection is what the request tracker looks at; a failed
 * handshake is class tls (reset when the server ended the connection). */
#include <errno.h>
#include <stddef.h>
#include <sys/types.h>

#include "export.h"
#include "request.h"
#include "tls_internal.h"

enum {
    GNUTLS_E_WARNING_ALERT_RECEIVED = -16,
    GNUTLS_E_AGAIN = -28,
    GNUTLS_E_REHANDSHAKE = -37,
    GNUTLS_E_INTERRUPTED = -52,
    GNUTLS_E_PUSH_ERROR = -53,
    GNUTLS_E_PULL_ERROR = -54,
    GNUTLS_E_PREMATURE_TERMINATION = -110,
};

typedef ssize_t (*record_fn)(gnutls_session_t s, void *data, size_t len);
typedef int (*session_fn)(gnutls_session_t s);

/* The watched descriptor behind s (gnutls_transport_get_int), or -1. */
static int session_fd(gnutls_session_t s, const void *caller)
{
    static _Atomic(void *) slot;
    int (*f)(gnutls_session_t) =
        (int (*)(gnutls_session_t))tls_real_of("gnutls_transport_get_int", caller, &slot);
    return s && f ? tls_watched(f(s)) : -1;
}

/* True for the codes that say "call again": no news of the connection. */
static int again(ssize_t code)
{
    return code == GNUTLS_E_AGAIN || code == GNUTLS_E_INTERRUPTED ||
           code == GNUTLS_E_WARNING_ALERT_RECEIVED || code == GNUTLS_E_REHANDSHAKE;
}

/* The rc (0: ended, -1: *err) of a record call that returned code < 0;
 * saved is the errno it left. */
static ssize_t failure(ssize_t code, int saved, int *err)
{
    if (code == GNUTLS_E_PREMATURE_TERMINATION)
        return 0;
    *err = again(code)                                                             ? EAGAIN
           : (code == GNUTLS_E_PUSH_ERROR || code == GNUTLS_E_PULL_ERROR) && saved ? saved
                                                                                   : ECONNRESET;
    return -1;
}

EXPORT ssize_t gnutls_record_send(gnutls_session_t s, const void *data, size_t len)
{
    record_fn real = TLS_REAL(record_fn, gnutls_record_send);
    if (!real)
        return GNUTLS_E_PUSH_ERROR;
    int fd = len ? session_fd(s, __builtin_return_address(0)) : -1;
    if (fd < 0)
        return real(s, (void *)data, len);
    int began = request_session_before_send(fd, data, len);
    if (began < 0)
        return GNUTLS_E_PUSH_ERROR; /* errno ECONNRESET: nothing sent */
    request_quiet++;
    ssize_t code = real(s, (void *)data, len);
    request_quiet--;
    int saved = errno, err = 0;
    request_session_after_send(fd, data, len, began, code >= 0 ? code : failure(code, saved, &err),
                               err);
    errno = saved;
    return code;
}

EXPORT ssize_t gnutls_record_recv(gnutls_session_t s, void *data, size_t len)
{
    record_fn real = TLS_REAL(record_fn, gnutls_record_recv);
    if (!real)
        return GNUTLS_E_PULL_ERROR;
    int fd = session_fd(s, __builtin_return_address(0));
    if (fd < 0)
        return real(s, data, len);
    request_quiet++;
    ssize_t code = real(s, data, len);
    request_quiet--;
    int saved = errno, err = 0;
    request_session_after_recv(fd, data, code >= 0 ? code : failure(code, saved, &err), err);
    errno = saved;
    return code;
}

EXPORT int gnutls_handshake(gnutls_session_t s)
{
    session_fn real = TLS_REAL(session_fn, gnutls_handshake);
    if (!real)
        return GNUTLS_E_PUSH_ERROR;
    int fd = session_fd(s, __builtin_return_address(0));
    if (fd < 0)
        return real(s);
    request_handshake_begins(fd);
    request_quiet++;
    int code = real(s);
    request_quiet--;
    int saved = errno;
    if (code == 0)
        request_handshake_ends(fd, OUTCOME_SUCCESS);
    else if (!again(code))
        request_handshake_ends(fd, code == GNUTLS_E_PREMATURE_TERMINATION
                                       ? CLASS_RESET
                                       : tls_handshake_class(code != GNUTLS_E_PUSH_ERROR &&
                                                                 code != GNUTLS_E_PULL_ERROR,
                                                             saved));
    errno = saved;
    return code;
}

EXPORT int gnutls_bye(gnutls_session_t s, int how)
{
    int (*real)(gnutls_session_t, int) = TLS_REAL(int (*)(gnutls_session_t, int), gnutls_bye);
    if (!real)
        return GNUTLS_E_PUSH_ERROR;
    if (session_fd(s, __builtin_return_address(0)) < 0)
        return real(s, how);
    request_quiet++;
    int code = real(s, how);
    request_quiet--;
    return code;
}
