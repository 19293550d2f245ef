/* sync.h — what the parts of the fleet agent (fusebox sync: cli_sync.c,
 * sync_sentinel.c) share: its log line and the two calls every Redis
 * exchange goes through. Defined in cli_sync.c. */
#ifndef FUSEBOX_SYNC_H
#define FUSEBOX_SYNC_H

#include <hiredis/hiredis.h>
#include <stddef.h>

#include "fleet.h"

/* Writes "fusebox: sync: TIME MESSAGE" on stderr. */
void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Runs a command (argv) on c; returns the reply (freeReplyObject it) or NULL
 * when the connection failed or Redis answered an error (logged). */
redisReply *command(redisContext *c, int argc, const char **argv);

/* Connects to u's host and port (1 s to connect, then 1 s per command),
 * authenticates with u's user and password and selects u's database.
 * Returns the connection, or NULL after a message in err. */
redisContext *dial(const struct fleet_url *u, char *err, size_t errlen);

#endif
