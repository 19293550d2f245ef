/* fleet_sentinel.h — the pure logic of following Redis Sentinel (fusebox sync
 * with a redis+sentinel:// URL): the URL, the order in which the sentinels
 * are asked, the +switch-master message they publish, the answer of
 * SENTINEL get-master-addr-by-name and the roles ROLE names. No I/O:
 * sync_sentinel.c asks the sentinels with hiredis; this module is what the
 * unit tests pin. */
#ifndef FUSEBOX_FLEET_SENTINEL_H
#define FUSEBOX_FLEET_SENTINEL_H

#include <stdbool.h>
#include <stddef.h>

#include "fleet.h"

#define FLEET_SENTINELS_MAX 8u    /* sentinels in one URL */
#define FLEET_SENTINEL_PORT 26379 /* a sentinel's port when the URL gives none */
#define FLEET_SWITCH_CHANNEL "+switch-master"

/* redis+sentinel://[[user]:password@]HOST[:PORT][,HOST[:PORT]…]/MASTER
 *     [?db=N&sentinel_username=U&sentinel_password=P]
 * user and password are those of the data nodes (the primary), as in
 * redis://; sentinel_username and sentinel_password those of the sentinels
 * (none by default: Sentinel asks for none unless its requirepass is set). */
struct fleet_sentinel_url {
    struct fleet_url sentinels[FLEET_SENTINELS_MAX]; /* host, port and the sentinels' user and
                                                        password; db 0 */
    size_t count;
    size_t order[FLEET_SENTINELS_MAX]; /* indexes of sentinels, in the order to ask them */
    char master[FLEET_ID_MAX];         /* the name the sentinels monitor the primary by */
    struct fleet_url node; /* user, password, db (and tls) of the data nodes; no host yet */
};

/* True when url starts with redis+sentinel:// or rediss+sentinel://. */
bool fleet_is_sentinel_url(const char *url);

/* Parses url into *out (the order: as written). Returns true, or false with
 * a one-line reason in err ("no master name after the sentinels", "unknown
 * parameter 'x'", …). rediss+sentinel:// parses with node.tls set. */
bool fleet_parse_sentinel_url(const char *url, struct fleet_sentinel_url *out, char *err,
                              size_t errlen);

/* Moves the sentinel of index i to the front of the order, the others
 * keeping theirs (a sentinel that answered is asked first next time). */
void fleet_sentinel_prefer(struct fleet_sentinel_url *u, size_t i);

/* The data node a sentinel named: u->node with host and port from the
 * answer to SENTINEL get-master-addr-by-name. False when port is not
 * 1-65535 or host is empty or too long. */
bool fleet_sentinel_node(const struct fleet_sentinel_url *u, const char *host, const char *port,
                         struct fleet_url *node);

/* A +switch-master message: "MASTER OLD_HOST OLD_PORT NEW_HOST NEW_PORT". */
struct fleet_switch {
    char master[FLEET_ID_MAX];
    struct fleet_url from, to; /* host and port only */
};

/* Parses a +switch-master message of len bytes. False for anything else. */
bool fleet_parse_switch(const char *text, size_t len, struct fleet_switch *out);

/* What ROLE says a node is. */
enum fleet_role {
    FLEET_ROLE_UNKNOWN, /* not asked yet, or ROLE refused (an ACL) */
    FLEET_ROLE_MASTER,
    FLEET_ROLE_REPLICA, /* ROLE says "slave" */
    FLEET_ROLE_SENTINEL,
};

/* The role of ROLE's first word (len bytes); FLEET_ROLE_UNKNOWN for others. */
enum fleet_role fleet_role_of(const char *word, size_t len);

/* ROLE's word for role ("master", "slave", "sentinel"), or "unknown". */
const char *fleet_role_name(enum fleet_role role);

#endif
