/* request.h — the calls on a ruled TCP connection after its connect: the
 * connect's call is held until the first bytes the program writes say what
 * the connection speaks. An HTTP/1.x request line makes every request a call
 * of its own (the first one takes over the connect's decision; each later
 * one is decided before its first byte goes out), ended by its response's
 * head, or by the connection's end before it. A TLS ClientHello makes the
 * handshake the end of the connect's call. Anything else ends it as a
 * successful connect, as it would have been at connect() time.
 *
 * Per descriptor (below FDTRACK_MAX), a few atomic words: a phase and the
 * recognisers' state (http_recognise.h, tls_recognise.h), never the
 * program's data; every change of phase is one compare-and-swap, so of two
 * threads that race exactly one records a call. fdtrack's watched bit tells
 * the I/O hooks in the load they already make that there is work here. */
#ifndef FUSEBOX_REQUEST_H
#define FUSEBOX_REQUEST_H

#include <stdbool.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "runtime.h"

/* fd's connect, let through with call, has connected: under "protocol":
 * "auto" the call is held for what the connection turns out to speak;
 * otherwise (or for an fd beyond the table) it is recorded as a success now.
 * Leaves errno alone. */
void request_connected(struct runtime *rt, int fd, const struct guarded_call *call);

/* Before the program sends the n buffers of iov on fd: when they begin a
 * new request on a connection whose last response is in, its breaker
 * decides. Returns -1, with errno ECONNRESET, when the request must fail
 * without a byte sent (the breaker is open); 1 when the send begins a
 * request the breaker let through; 0 otherwise, errno left alone. */
int request_before_send(int fd, const struct iovec *iov, int n);

/* After a send on fd of the n buffers of iov returned rc (errno err when
 * rc < 0); began is what request_before_send returned for it: what the
 * bytes sent say (a request, a ClientHello, another protocol, the end of a
 * TLS handshake). A request that did not go out is no call. Leaves errno
 * alone. */
void request_after_send(int fd, const struct iovec *iov, int n, ssize_t rc, int err, int began);

/* After a receive on fd into the n buffers of iov returned rc (errno err when
 * rc < 0) with flags (MSG_PEEK: the bytes are read again later, so only an
 * end of stream or an error counts): the response head, the server's first
 * TLS bytes, or the connection's end. Leaves errno alone. */
void request_after_recv(int fd, const struct iovec *iov, int n, ssize_t rc, int err, int flags);

enum request_end {
    REQUEST_GAVE_UP, /* the program closed fd, shut its reading side, dup2'd over it, exited,
                        or closed it unseen (a raw close syscall, as libuv makes: socket()
                        gives the number again) */
    REQUEST_SHARED,  /* fd was copied (dup2 from it): its end is no longer seen */
};

/* fd's connection ends for the program as how says: a request waiting for
 * its answer is a timeout when the program gave up (a reset when the
 * kernel holds one for the socket), a TLS handshake with no byte back too;
 * a connection that spoke no HTTP or TLS is a successful connect; nothing is
 * recorded for a request on a shared connection. fd is no longer watched.
 * Leaves errno alone. */
void request_end(int fd, enum request_end how);

/* The same three for the plaintext of a TLS session on fd, which a hook of
 * its library (shim/preload/tls/) sends and receives: from the first, the
 * socket-level calls leave fd's connection to these. */
int request_session_before_send(int fd, const void *buf, size_t len);
void request_session_after_send(int fd, const void *buf, size_t len, int began, ssize_t rc,
                                int err);
void request_session_after_recv(int fd, void *buf, ssize_t rc, int err);

/* Per thread: while non-zero, the socket-level calls above ignore this
 * thread's reads and writes: a TLS library's record I/O under one of its
 * session hooks (shim/preload/tls/), which show the tracker the plaintext
 * instead. */
extern __thread unsigned request_quiet __attribute__((tls_model("initial-exec")));

/* A TLS library fusebox hooks starts (or goes on with) the handshake of a
 * session on fd, whose connect's call is held: until it ends, the program
 * giving up is a timeout. Leaves errno alone. */
void request_handshake_begins(int fd);

/* That handshake ended as outcome: a success holds the connect's call for
 * the first request of the session's plaintext; a failure (tls, reset,
 * timeout) records it. Leaves errno alone. */
void request_handshake_ends(int fd, enum outcome_class outcome);

#endif
