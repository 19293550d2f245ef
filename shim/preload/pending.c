/* Connects whose outcome is not known at their return, and the connect that
 * starts them: a pending non-blocking connect is settled from SO_ERROR, a
 * repeated connect, the first read or write, or the socket's end. */
#include "pending.h"

#include <errno.h>
#include <sys/socket.h>

#include "fdtrack.h"
#include "keep_errno.h"
#include "libc.h"
#include "refused.h"
#include "request.h"
#include "rounds.h"
#include "runtime.h"

static void report(int fd, const struct guarded_call *call, enum outcome_class outcome)
{
    struct runtime *rt = runtime_peek();
    if (rt)
        rounds_end(rt, fd, call, outcome);
}

/* fd's connect, decided as call, connected: its round of addresses ends, and
 * the call goes on with the connection (the request tracker records it). */
static void connected(struct runtime *rt, int fd, const struct guarded_call *call)
{
    rounds_connected(fd);
    request_connected(rt, fd, call);
}

/* Reports the outcome of fd's connect while the connection goes on: a
 * success hands the call to the request tracker. */
static void report_open(int fd, const struct guarded_call *call, enum outcome_class outcome)
{
    struct runtime *rt = runtime_peek();
    if (rt && outcome == OUTCOME_SUCCESS)
        connected(rt, fd, call);
    else
        report(fd, call, outcome);
}

/* What the kernel says of a socket whose connect was pending: success,
 * a failure class, or -1 while it is still in progress. */
static int kernel_verdict(int fd, int so_error)
{
    if (so_error != 0)
        return (int)outcome_class_of_errno(so_error);
    struct sockaddr_storage peer;
    socklen_t len = sizeof peer;
    return getpeername(fd, (struct sockaddr *)&peer, &len) == 0 ? OUTCOME_SUCCESS : -1;
}

void pending_settle_io(int fd, int err)
{
    enum outcome_class outcome = err ? outcome_class_of_errno(err) : OUTCOME_SUCCESS;
    struct guarded_call call;
    if (outcome != OUTCOME_IGNORED && fdtrack_take_pending(fd, &call))
        report_open(fd, &call, outcome);
}

void pending_settle_so_error(int fd, int *so_error)
{
    KEEP_ERRNO();
    if (refused_take(fd)) {
        *so_error = ECONNREFUSED;
        return;
    }
    bool connecting = *so_error == 0 && kernel_verdict(fd, 0) < 0;
    if (!connecting)
        pending_settle_io(fd, *so_error);
}

/* Settles a pending connect already taken from fd's entry, from what the
 * kernel says of the socket now. */
static void settle_taken(int fd, const struct guarded_call *call)
{
    KEEP_ERRNO();
    int so_error = 0;
    socklen_t len = sizeof so_error;
    if (libc_getsockopt(fd, SOL_SOCKET, SO_ERROR, &so_error, &len) != 0)
        so_error = 0;
    int verdict = kernel_verdict(fd, so_error);
    struct runtime *rt = runtime_peek();
    if (verdict < 0)
        verdict = rt && runtime_succeeded_since(rt, call->breaker, call->started_ms)
                      ? OUTCOME_IGNORED
                      : CLASS_TIMEOUT;
    report(fd, call, (enum outcome_class)verdict);
}

void pending_settle_ending(int fd)
{
    struct guarded_call call;
    if (fdtrack_is_pending(fd) && fdtrack_take_pending(fd, &call))
        settle_taken(fd, &call);
}

/* Out of line: connect() keeps a small frame for the calls that are not
 * repeats. */
__attribute__((noinline)) int pending_connect_again(int fd, const struct sockaddr *addr,
                                                    socklen_t len)
{
    if (refused_take(fd)) {
        errno = ECONNREFUSED;
        return -1;
    }
    int rc = libc_connect(fd, addr, len);
    int err = errno;
    struct guarded_call call;
    if (rc == 0 || err == EISCONN) {
        if (fdtrack_take_pending(fd, &call))
            report_open(fd, &call, OUTCOME_SUCCESS);
    } else if (err != EALREADY && err != EINPROGRESS && err != EINTR) {
        if (fdtrack_take_pending(fd, &call))
            report(fd, &call, outcome_class_of_errno(err));
    }
    errno = err;
    return rc;
}

int guarded_connect(struct runtime *rt, int fd, const struct sockaddr *addr, socklen_t len,
                    struct guarded_call *call)
{
    refused_forget(fd);
    /* Pending from before the syscall: a program that leaves connect() with
     * siglongjmp (wget's --connect-timeout) still has its attempt settled,
     * when it closes the socket. */
    bool tracked = call->ticket.verdict != VERDICT_BYPASS && fdtrack_set_pending(fd, call);
    int rc = libc_connect(fd, addr, len);
    int err = errno;
    bool completed = rc == 0 || (err != EINPROGRESS && err != EINTR);
    if (completed && (!tracked || fdtrack_end_pending(fd))) {
        if (rc == 0)
            connected(rt, fd, call);
        else
            rounds_end(rt, fd, call, outcome_class_of_errno(err));
    } else if (!completed && !tracked) {
        rounds_end(rt, fd, call, OUTCOME_IGNORED);
    }
    errno = err;
    return rc;
}

/* At exit: the connects still pending, then the failures their rounds held. */
__attribute__((destructor)) static void settle_pending_at_exit(void)
{
    fdtrack_take_all(settle_taken);
    rounds_flush(runtime_peek());
}
