/* sync_sentinel.h — the fleet agent's side of Redis Sentinel, with hiredis:
 * asking the sentinels in turn which node is the primary, watching every
 * sentinel for +switch-master, and asking a node its ROLE. The pure parts
 * (the URL, the messages, the order of the sentinels) are fleet_sentinel.c. */
#ifndef FUSEBOX_SYNC_SENTINEL_H
#define FUSEBOX_SYNC_SENTINEL_H

#include <hiredis/hiredis.h>
#include <poll.h>
#include <stdbool.h>

#include "fleet_sentinel.h"

struct sentinel_link {
    struct fleet_sentinel_url url;            /* count 0: a redis:// URL, no Sentinel */
    redisContext *watch[FLEET_SENTINELS_MAX]; /* +switch-master subscription, by sentinel */
    bool unwatched[FLEET_SENTINELS_MAX];      /* its watch failed (said once) */
    char answered[300];   /* "host:port" of the sentinel that named the primary last */
    char heard_from[300]; /* "host:port" of the sentinel whose +switch-master came last */
};

/* Asks the sentinels, in url.order, for the primary of url.master, and moves
 * the first that names one to the front. Returns true with the primary in
 * *node (the data nodes' user, password and db), or false after a message
 * in err saying why each one did not. Each sentinel costs at most a connect
 * and a command timeout. */
bool sentinel_find_primary(struct sentinel_link *s, struct fleet_url *node, char *err,
                           size_t errlen);

/* Subscribes to +switch-master on every sentinel not yet watched; one that
 * cannot be reached is left for the next call (said once until it can).
 * Returns true when a message that came with a subscription's reply says
 * url.master moved (*sw). */
bool sentinel_watch(struct sentinel_link *s, struct fleet_switch *sw);

/* Writes a pollfd (POLLIN) per watched sentinel into fds (room for
 * FLEET_SENTINELS_MAX); returns how many. */
size_t sentinel_fds(const struct sentinel_link *s, struct pollfd *fds);

/* Reads the watches whose entry of fds (n of them, from sentinel_fds) is
 * ready; a watch whose connection is gone is dropped, with a message.
 * Returns true when one said url.master moved (the last such in *sw). */
bool sentinel_heard(struct sentinel_link *s, const struct pollfd *fds, size_t n,
                    struct fleet_switch *sw);

/* Closes every watch. */
void sentinel_close(struct sentinel_link *s);

/* Asks the node on c its ROLE; FLEET_ROLE_UNKNOWN when it refused (logged). */
enum fleet_role sync_node_role(redisContext *c);

#endif
