/* Which sessions the TLS hooks show the request tracker, and how a failed
 * handshake is classed. */
#include <errno.h>

#include "fdtrack.h"
#include "request.h"
#include "runtime.h"
#include "tls_internal.h"

int tls_watched(int fd)
{
    return fd >= 0 && !runtime_transfer_depth && !request_quiet && fdtrack_has_io_work(fd) ? fd
                                                                                           : -1;
}

enum outcome_class tls_handshake_class(int library_error, int err)
{
    if (library_error)
        return CLASS_TLS;
    enum outcome_class c = err ? outcome_class_of_errno(err) : CLASS_RESET;
    return c == OUTCOME_IGNORED ? CLASS_RESET : c;
}
