/* tls_internal.h — the parts of the TLS-library hooks (tls_*.c), for each
 * other only.
 *
 *   bind      a library's real functions, looked up with dlsym on first use
 *             (the shim never links OpenSSL or GnuTLS)
 *   session   which sessions the request tracker wants (request.h takes
 *             their plaintext and handshakes), and a failed handshake's class
 *   openssl   SSL_read, SSL_write (and _ex), SSL_peek, SSL_do_handshake,
 *             SSL_connect, SSL_shutdown
 *   gnutls    gnutls_record_recv, gnutls_record_send, gnutls_handshake,
 *             gnutls_bye
 */
#ifndef FUSEBOX_TLS_INTERNAL_H
#define FUSEBOX_TLS_INTERNAL_H

#include <stdatomic.h>
#include <stddef.h>
#include <sys/types.h>

#include "outcome.h"

/* ---- the hooked functions, as the libraries declare them ---------------- */

typedef struct ssl_st SSL;
int SSL_write(SSL *s, const void *buf, int num);
int SSL_write_ex(SSL *s, const void *buf, size_t num, size_t *written);
int SSL_read(SSL *s, void *buf, int num);
int SSL_read_ex(SSL *s, void *buf, size_t num, size_t *readbytes);
int SSL_peek(SSL *s, void *buf, int num);
int SSL_peek_ex(SSL *s, void *buf, size_t num, size_t *readbytes);
int SSL_do_handshake(SSL *s);
int SSL_connect(SSL *s);
int SSL_shutdown(SSL *s);

typedef struct gnutls_session_int *gnutls_session_t;
ssize_t gnutls_record_send(gnutls_session_t s, const void *data, size_t len);
ssize_t gnutls_record_recv(gnutls_session_t s, void *data, size_t len);
int gnutls_handshake(gnutls_session_t s);
int gnutls_bye(gnutls_session_t s, int how);

/* ---- bind ------------------------------------------------------------- */

/* Looks up a TLS library's function name: the next definition after the
 * shim (RTLD_NEXT), else in an OpenSSL or GnuTLS already loaded with
 * RTLD_LOCAL (dlopen RTLD_NOLOAD: never loads anything), else in the object
 * that called the hook (caller, a return address) and what it depends on.
 * Stores it in *slot and returns it; NULL (after one warning) when there is
 * none. Takes no lock; leaves errno alone. */
void *tls_bind(const char *name, const void *caller, _Atomic(void *) *slot);

static inline void *tls_real_of(const char *name, const void *caller, _Atomic(void *) *slot)
{
    void *f = atomic_load_explicit(slot, memory_order_relaxed);
    return __builtin_expect(f != 0, 1) ? f : tls_bind(name, caller, slot);
}

/* tls_real(type, name): the library's function name as a pointer of type,
 * or NULL. For use in the hook of name only (the caller is its caller). */
#define TLS_REAL(type, name)                                                                       \
    ({                                                                                             \
        static _Atomic(void *) slot_;                                                              \
        (type) tls_real_of(#name, __builtin_return_address(0), &slot_);                            \
    })

/* ---- session ---------------------------------------------------------- */

/* The descriptor behind a session whose plaintext the tracker wants (fd, a
 * watched connection, outside a libcurl transfer), else -1. */
int tls_watched(int fd);

/* The class of a failed handshake: tls for the library's own verdict
 * (protocol error, certificate check), else what err (the socket's errno,
 * 0 for an end of stream) says, reset when it says nothing. */
enum outcome_class tls_handshake_class(int library_error, int err);

#endif
