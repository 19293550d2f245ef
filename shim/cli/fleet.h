/* fleet.h — the pure logic of fleet mode (fusebox sync): Redis URLs, the
 * messages agents exchange, the fleet view of one breaker and its quorum
 * decision, and the reconnect backoff. No I/O, no Redis: cli_sync.c does
 * that with hiredis; this module is what the unit tests pin.
 *
 * Open windows travel as durations ("open for 30000 ms more"), never as
 * absolute times, so hosts whose clocks disagree still agree on how long. */
#ifndef FUSEBOX_FLEET_H
#define FUSEBOX_FLEET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "breaker.h"
#include "state.h"

#define FLEET_DEFAULT_NAMESPACE "fusebox"
#define FLEET_ID_MAX 64u       /* host id or namespace, with the NUL */
#define FLEET_REASON_MAX 96u   /* reason text, with the NUL */
#define FLEET_MESSAGE_MAX 512u /* an encoded message, with the NUL */
#define FLEET_MAX_HOSTS 128u   /* remote hosts remembered per breaker */
#define FLEET_BACKOFF_FIRST_MS 100u
#define FLEET_BACKOFF_MAX_MS 5000u

/* Where Redis is: redis://[[user]:password@]host[:port][/db]. */
struct fleet_url {
    char host[256]; /* a name, an IPv4 address, or an IPv6 address (written [v6]) */
    int port;       /* default 6379 */
    int db;         /* default 0 */
    char user[128]; /* empty: AUTH with the password alone (or no AUTH) */
    char password[256];
    bool tls; /* rediss:// */
};

/* Parses url into *out. Returns true, or false with a one-line reason in err
 * ("not a redis:// URL", "port 99999 is not 1-65535", …). rediss:// parses
 * with tls set; whether TLS can be had is the caller's business. */
bool fleet_parse_url(const char *url, struct fleet_url *out, char *err, size_t errlen);

/* True when s is a usable host id or namespace: 1 to FLEET_ID_MAX-1
 * characters from A-Z a-z 0-9 _ . : - (so it can sit inside Redis keys and
 * space-separated messages). */
bool fleet_valid_id(const char *s);

/* True when s can be a breaker's name in a message: 1 to STATE_NAME_MAX-1
 * characters from those of a rule's name (A-Z a-z 0-9 _ . - : /) and the
 * brackets of an IPv6 per-host breaker (NAME/[::1]:443), so that nothing
 * read from the channel can put a space, a quote or a terminal escape into
 * a slot's name or a log line. */
bool fleet_valid_breaker(const char *s);

/* What agents publish on the channel NS:events. */
enum fleet_kind {
    FLEET_STATE,      /* host's breaker is now in state (open: for ms more) */
    FLEET_FORCE_OPEN, /* fusebox open NAME --fleet: every agent forces it open (ms; 0 = until
                         closed) */
};

struct fleet_message {
    enum fleet_kind kind;
    enum breaker_state state; /* FLEET_STATE */
    char host[FLEET_ID_MAX];  /* who says it ("-" for the fusebox command) */
    char breaker[STATE_NAME_MAX];
    uint64_t ms;                   /* open: remaining open time; force: how long (0 = for ever) */
    char reason[FLEET_REASON_MAX]; /* free text, may hold spaces; may be empty */
};

/* Encodes m as one line "fusebox1 KIND HOST BREAKER MS REASON" (KIND: a
 * state name, or "force_open") into buf. Returns the length, or -1 when it
 * does not fit or a field cannot be encoded (a host that is not "-" nor a
 * valid id, a breaker name that is not fleet_valid_breaker, a reason with a
 * control character). */
int fleet_encode(const struct fleet_message *m, char *buf, size_t len);

/* Decodes a message of len bytes. Returns false for anything else (another
 * version, unknown kind, bad host or breaker name, a number out of range, a
 * control character in the reason). */
bool fleet_decode(const char *text, size_t len, struct fleet_message *m);

/* What this host knows of one breaker on the other hosts: who has it open
 * (after failures) and until when on this host's CLOCK_MONOTONIC. */
struct fleet_view {
    size_t count;
    struct {
        char host[FLEET_ID_MAX];
        uint64_t until_ms;
    } hosts[FLEET_MAX_HOSTS];
};

/* Records that host has the breaker open until until_ms (replacing what it
 * said before); until_ms 0 forgets the host. Returns false when the view is
 * full (the host is then not recorded). */
bool fleet_view_set(struct fleet_view *v, const char *host, uint64_t until_ms);

/* Forgets every host whose time is over at now_ms. */
void fleet_view_expire(struct fleet_view *v, uint64_t now_ms);

/* The quorum decision at now_ms. *hosts_open is the number of distinct hosts
 * that have the breaker open: the remote ones whose time is not over, plus
 * this one when local_open. Returns true when the remote ones alone reach
 * quorum; *until_ms is then when they stop doing so (the quorum-th latest
 * end among them), the time a fleet opening here lasts. */
bool fleet_decide(const struct fleet_view *v, uint64_t now_ms, uint32_t quorum, bool local_open,
                  uint32_t *hosts_open, uint64_t *until_ms);

/* The wait before reconnect attempt number attempt (0 for the first retry):
 * d = FLEET_BACKOFF_FIRST_MS × 2^attempt, at most FLEET_BACKOFF_MAX_MS, then
 * jittered into [d/2, d] by random (any 32-bit value). */
uint32_t fleet_backoff_ms(unsigned attempt, uint32_t random);

#endif
