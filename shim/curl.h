/* curl.h — what the rest of the shim needs to know of the libcurl hooks
 * (curl_*.c): whether a guarded transfer is running, so that the failures
 * it makes on other threads (the threaded resolver's getaddrinfo) are not
 * counted a second time. */
#ifndef FUSEBOX_CURL_H
#define FUSEBOX_CURL_H

#include <stdbool.h>

/* True while at least one libcurl transfer guarded by a breaker is in
 * progress in this process (its outcome will be recorded by the curl
 * hooks). One relaxed atomic load; never blocks. */
bool curl_guarded_transfer_running(void);

#endif
