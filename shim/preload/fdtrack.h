/* fdtrack.h — what this process knows of its socket descriptors: whether an
 * fd is an AF_INET/AF_INET6 stream socket (learnt at socket(), so connect()
 * needs no syscall to ask), whether it is non-blocking (learnt at socket()
 * and kept up by fcntl(F_SETFL) and ioctl(FIONBIO), so that a refusal needs
 * no syscall either), and the non-blocking connect still pending on it
 * (breaker, ticket, start time) until its outcome is known, and whether the
 * request tracker (request.c) watches its reads and writes.
 *
 * A flat table indexed by fd (fds below FDTRACK_MAX; others are simply not
 * tracked), one atomic word per fd: taking a pending connect is one atomic
 * exchange, so of two threads that race (close and getsockopt) exactly one
 * records the outcome. */
#ifndef FUSEBOX_FDTRACK_H
#define FUSEBOX_FDTRACK_H

#include <stdbool.h>
#include <stdint.h>

#include "runtime.h"

#define FDTRACK_MAX 65536

enum fd_kind { FD_UNKNOWN = 0, FD_INET_STREAM = 1, FD_OTHER = 2 };

/* Returns what socket() told us of fd (FD_UNKNOWN when untracked). */
enum fd_kind fdtrack_kind(int fd);

/* Notes the kind of a new socket fd, dropping anything known of an earlier
 * fd with the same number (which the caller has already taken). */
void fdtrack_set_kind(int fd, enum fd_kind kind);

/* What fdtrack is to know of a socket that socket(domain, type, ...) makes:
 * its kind, and for an AF_INET/AF_INET6 stream socket its O_NONBLOCK.
 * Taken before the socket is made, so that one value lives across the
 * call. */
uint64_t fdtrack_socket_facts(int domain, int type);

/* Notes the new socket fd, of facts (fdtrack_socket_facts), dropping
 * anything known of an earlier fd with the same number (which the caller
 * has already settled). */
void fdtrack_new_socket(int fd, uint64_t facts);

enum fd_blocking { FD_FLAGS_UNKNOWN = 0, FD_BLOCKING = 1, FD_NONBLOCKING = 2 };

/* Whether fd is non-blocking, as far as this process knows (one load):
 * known only for a stream socket socket() made whose open file has never
 * been shared with another fd or process since (dup, dup2, dup3,
 * fcntl(F_DUPFD), fork), as the program set it through libc since.
 * FD_FLAGS_UNKNOWN: ask the kernel. */
enum fd_blocking fdtrack_blocking(int fd);

/* The program made fd non-blocking or blocking (fcntl(F_SETFL),
 * ioctl(FIONBIO) succeeded): noted when fd's flags are known. */
void fdtrack_set_nonblocking(int fd, bool nonblocking);

/* newfd is now a copy of oldfd (dup, dup2, dup3, fcntl(F_DUPFD)): it takes
 * oldfd's kind, and neither fd's O_NONBLOCK is known any more (a change
 * through one would not be seen through the other). */
void fdtrack_copy(int oldfd, int newfd);

/* The process forked: every fd's open file is shared with the other
 * process, so no fd's O_NONBLOCK is known any more. */
void fdtrack_forget_flags_all(void);

/* Marks fd's connect as pending (its watched bit and O_NONBLOCK stay);
 * false when fd is beyond the table. */
bool fdtrack_set_pending(int fd, const struct guarded_call *p);

/* True, once, when fd is a stream socket whose socket() offered the rules
 * a look (runtime_look_when_due) and that no connect has taken since: its
 * first connect needs no look of its own, a later one (a socket connected
 * again) does. */
bool fdtrack_take_looked(int fd);

/* True when fd has a pending connect (one load). */
bool fdtrack_is_pending(int fd);

#define FDTRACK_IO_PENDING 4u         /* a pending connect */
#define FDTRACK_IO_WATCHED (1u << 26) /* a connection the request tracker watches */

/* What a read or write on fd has to do (one load): FDTRACK_IO_PENDING and
 * FDTRACK_IO_WATCHED, or 0 when nothing. */
unsigned fdtrack_has_io_work(int fd);

/* Marks fd as watched by the request tracker, or not (on false). */
void fdtrack_watch(int fd, bool on);

/* Takes fd's pending connect, if any, leaving its kind, watched bit and
 * O_NONBLOCK; returns false when there was none. Exactly one taker wins a
 * race. */
bool fdtrack_take_pending(int fd, struct guarded_call *out);

/* Ends fd's pending connect, which this thread marked pending and whose
 * call it holds, as fdtrack_take_pending does, without unpacking it;
 * returns false when another thread took it first. */
bool fdtrack_end_pending(int fd);

/* Returns the highest fd ever given a kind or a pending connect (-1: none):
 * past it there is nothing to forget. */
int fdtrack_highest_known(void);

/* Takes every pending connect, calling fn (when not NULL) for each: the
 * exit sweep reports them, a fork child drops them (they are the parent's). */
void fdtrack_take_all(void (*fn)(int fd, const struct guarded_call *p));

#endif
