/* serve_guard.h — who may use the control endpoints of fusebox serve: a
 * random token made at start, kept in a file only its user can read and sent
 * as "Authorization: Bearer TOKEN"; and a request that names the server by
 * an IP address or localhost (Host), from no other web origin (Origin), so
 * that a web page in the user's browser can neither forge a request nor
 * reach the server through a name it controls (DNS rebinding). */
#ifndef FUSEBOX_SERVE_GUARD_H
#define FUSEBOX_SERVE_GUARD_H

#include <limits.h>
#include <stdbool.h>

#define SERVE_TOKEN_BYTES 32 /* random bytes, written as twice as many hex digits */

struct serve_token {
    char text[2 * SERVE_TOKEN_BYTES + 1];
    char path[PATH_MAX];
};

/* Makes a new random token and writes it, with a newline, to path: made
 * under a temporary name with mode 0600, then renamed over path, so a
 * symlink there is replaced, never followed. Returns false after a message. */
bool serve_token_create(struct serve_token *t, const char *path);

/* Removes the token file, unless it no longer holds t's token (another
 * server replaced it). */
void serve_token_remove(const struct serve_token *t);

/* Why a control request must be refused, or NULL when it may go ahead:
 * host, origin and authorization are its headers of those names (NULL when
 * absent). Sets *status to the HTTP status to answer with (403 for a
 * foreign Host or Origin, 401 without the right token). */
const char *serve_guard_refusal(const struct serve_token *t, const char *host, const char *origin,
                                const char *authorization, unsigned *status);

#endif
