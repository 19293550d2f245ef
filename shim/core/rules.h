/* rules.h — the rules file: JSON text → validated breakers and host patterns.
 *
 * Reads version 1 of the format (DESIGN.md §3, rules/schema.json). Every problem is
 * reported as "SOURCE:LINE:COL: message" with the key path in the message. cJSON is
 * loaded with dlopen on first use, so nothing that links this module needs libcjson
 * to start; it knows nothing of sockets or shared memory.
 *
 * Calls that libfusebox.so interposes: read and close, on the rules file it
 * opened itself, which their hooks pass straight to libc (an untracked fd). */
#ifndef FUSEBOX_RULES_H
#define FUSEBOX_RULES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "breaker.h"
#include "fallback.h"
#include "pattern.h"

#define RULES_INLINE_SOURCE "FUSEBOX_RULES"         /* SOURCE of inline JSON in error lines */
#define RULES_SYSTEM_PATH "/etc/fusebox/rules.json" /* used when FUSEBOX_RULES is unset */
#define RULES_MAX_FILE_SIZE (64u << 20)
#define RULES_MAX_PROBLEMS 100 /* problems reported before giving up */
#define RULES_MAX_DEPTH 32     /* nesting of arrays and objects (version 1 needs 5) */
#define RULES_MAX_NAME_LEN 100 /* breaker name */
#define DEFAULT_MAX_HOSTS 64u
#define STATE_MAX_HOSTS 1024u /* per_host breakers of one rule at most */

#define RULES_MAX_QUORUM 1000u /* fleet.quorum */

/* Fleet mode ("fleet": {"share": true, "quorum": N}): read by fusebox sync
 * only; the shim never looks at it. */
struct rule_fleet {
    bool share;      /* other hosts' openings open it here too */
    uint32_t quorum; /* hosts that must have it open: 1..RULES_MAX_QUORUM, default 1 */
};

/* "protocol": what fusebox looks at on a breaker's TCP connections. */
enum rule_protocol {
    PROTOCOL_AUTO, /* HTTP/1.x requests and TLS handshakes it recognises, else the connection */
    PROTOCOL_TCP,  /* the connection only: its connect() */
};

struct rule_breaker {
    char *name;
    struct breaker_config config;
    enum rule_protocol protocol;
    bool per_host;      /* each host:port gets its own breaker NAME/host:port */
    uint32_t max_hosts; /* per_host: at most this many, idle ones reused */
    uint32_t line, col; /* of the breaker's object */
    /* "fallback": {"connect_to": …}: where calls go while it is open, in
     * order of preference; NULL and 0 when it has none. */
    struct fallback_address *fallbacks;
    uint32_t fallback_count; /* 0..FALLBACK_MAX_ADDRESSES */
    struct rule_fleet fleet;
};

struct rules {
    struct rule_breaker *breakers; /* in file order */
    size_t breaker_count;
    struct host_pattern *patterns; /* in file order */
    size_t pattern_count;
    char *source; /* the path, or RULES_INLINE_SOURCE */
};

/* Parses text (len bytes, need not be NUL-terminated; NULL only when len is 0)
 * named source in error lines. Returns the rules (free with rules_free), or NULL
 * with *errors set to a malloc'd string of one "SOURCE:LINE:COL: message\n" line
 * per problem in text order (at most RULES_MAX_PROBLEMS, then a last line saying
 * so); problems without a place read "SOURCE: message\n". The caller frees
 * *errors. *errors is NULL only when even that string could not be allocated
 * (errno ENOMEM). */
struct rules *rules_parse(const char *text, size_t len, const char *source, char **errors);

/* Loads the rules named by spec: inline JSON (source RULES_INLINE_SOURCE) when
 * its first non-blank character is '{', else the path of a regular file of at
 * most RULES_MAX_FILE_SIZE bytes. Same contract as rules_parse; a file that
 * cannot be read yields the single line "PATH: cannot read: reason\n". */
struct rules *rules_load(const char *spec, char **errors);

/* rules_load without the line and column of breakers and patterns (left 0),
 * which only fusebox explain shows: a pass over the text less, for the shim,
 * which loads the rules in every process. */
struct rules *rules_load_unplaced(const char *spec, char **errors);

/* Loads the system rules file at path (RULES_SYSTEM_PATH but in tests): as
 * rules_load with place, else as rules_load_unplaced, but path is always a
 * file and is read only when root owns it and neither its group nor others
 * may write it (else "PATH: cannot read: not owned by root" or "…: writable
 * by group or others"), since it rules every program, setuid ones too. */
struct rules *rules_load_system(const char *path, bool place, char **errors);

/* Writes the name of a per_host rule's breaker for host (a name or address
 * literal) and port: "RULE/host:port", the host in lower case, an IPv6
 * literal in brackets. Returns false when it does not fit size bytes. */
bool rules_host_breaker_name(const char *rule, const char *host, uint16_t port, char *out,
                             size_t size);

/* Frees r and everything it owns; r may be NULL. */
void rules_free(struct rules *r);

#endif
