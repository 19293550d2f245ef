/* refused.h — an open breaker refusing a non-blocking connect the way a
 * host that refuses it does. connect() returns -1 with EINPROGRESS and sends
 * nothing; the socket, never connected, is at once ready for poll, select
 * and epoll (POLLOUT|POLLHUP); the program's first SO_ERROR read gives
 * ECONNREFUSED, and so does its repeated connect or its first read or
 * write, once, as the kernel's would; from then on the socket is shut both
 * ways, as a refused one is (reads see the end of the stream, writes
 * EPIPE). A blocking socket is refused at once (-1, ECONNREFUSED).
 *
 * The refusal is kept as fd's pending connect in fdtrack, with the reject
 * ticket (which records nothing when it is settled), so that close, dup2
 * over it, socket() on its number, exit and fork drop it as they drop any
 * pending connect; a bit per fd here tells it from a real attempt.
 *
 * Whether the socket is non-blocking comes from fdtrack when it knows, else
 * from one fcntl(F_GETFL). Calls that libfusebox.so interposes: none (the
 * fcntl and shutdown it makes are libc's own, libc_*). */
#ifndef FUSEBOX_REFUSED_H
#define FUSEBOX_REFUSED_H

#include <stdbool.h>

#include "runtime.h"

/* Fails the connect on fd that an open breaker rejected (rejected: what
 * runtime_begin filled in): returns -1 with errno EINPROGRESS for a
 * non-blocking socket, ECONNREFUSED for a blocking one (or one whose
 * refusal cannot be kept: fd beyond fdtrack's table). */
int refused_connect(int fd, const struct guarded_call *rejected);

/* True, taking it (and shutting fd both ways), when fd holds a refusal the
 * program has not yet been told of; one load when fd has no pending
 * connect. Leaves errno alone. */
bool refused_take(int fd);

/* Forgets any refusal of fd: a connect of its own is starting on it. */
void refused_forget(int fd);

#endif
