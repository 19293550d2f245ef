/* curl_internal.h — the parts of the libcurl hooks (curl_*.c), for each
 * other only.
 *
 *   binding   the real libcurl functions, looked up with dlsym on first use
 *             (the shim never links libcurl)
 *   records   per easy handle: the options the shim needs (URL, error
 *             buffer, open-socket callback, proxy) and the guarded transfer
 *             in progress in a multi handle
 *   target    URL → (host, port), the proxy a transfer goes through
 *   proxy env the proxy variables of the environment
 *   guard     decide a transfer before it runs, classify and record it after
 *   fallback  point a transfer whose breaker is open at its fallback
 *             (CURLOPT_CONNECT_TO), and give the program its own list back
 */
#ifndef FUSEBOX_CURL_INTERNAL_H
#define FUSEBOX_CURL_INTERNAL_H

#define CURL_DISABLE_TYPECHECK 1
#include <curl/curl.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "curl_url_scan.h"
#include "runtime.h"

struct runtime;

/* ---- binding ---------------------------------------------------------- */

/* X(return type, name, parameters) of the libcurl functions the hooks call,
 * curl_easy_setopt and curl_easy_getinfo with their variadic parameters
 * (the setopt hook itself is declared apart: curl_setopt.c). */
#define CURL_REAL_SYMBOLS(X)                                                                       \
    X(CURLcode, curl_easy_perform, (CURL * handle))                                                \
    X(CURL *, curl_easy_duphandle, (CURL * handle))                                                \
    X(void, curl_easy_reset, (CURL * handle))                                                      \
    X(void, curl_easy_cleanup, (CURL * handle))                                                    \
    X(CURLMcode, curl_multi_add_handle, (CURLM * multi, CURL * handle))                            \
    X(CURLMcode, curl_multi_remove_handle, (CURLM * multi, CURL * handle))                         \
    X(CURLMsg *, curl_multi_info_read, (CURLM * multi, int *left))                                 \
    X(CURLMcode, curl_multi_cleanup, (CURLM * multi))                                              \
    X(CURLMcode, curl_multi_perform, (CURLM * multi, int *running))                                \
    X(CURLMcode, curl_multi_socket_action,                                                         \
      (CURLM * multi, curl_socket_t socket, int events, int *running))                             \
    X(CURLU *, curl_url, (void))                                                                   \
    X(void, curl_url_cleanup, (CURLU * url))                                                       \
    X(CURLUcode, curl_url_set, (CURLU * url, CURLUPart part, const char *text, unsigned flags))    \
    X(CURLUcode, curl_url_get, (CURLU * url, CURLUPart part, char **text, unsigned flags))         \
    X(void, curl_free, (void *p))                                                                  \
    X(CURLcode, curl_easy_setopt, (CURL * handle, CURLoption option, ...))                         \
    X(CURLcode, curl_easy_getinfo, (CURL * handle, CURLINFO info, ...))

#define CURL_REAL_TYPEDEF(ret, name, params) typedef ret(*real_##name##_fn) params;
CURL_REAL_SYMBOLS(CURL_REAL_TYPEDEF)
#undef CURL_REAL_TYPEDEF

struct curl_reals {
#define CURL_REAL_FIELD(ret, name, params) _Atomic(void *) name;
    CURL_REAL_SYMBOLS(CURL_REAL_FIELD)
#undef CURL_REAL_FIELD
};

extern struct curl_reals curl_reals;

/* Looks up libcurl's own function name: first the next definition after the
 * shim (dlsym RTLD_NEXT), then in a libcurl already loaded with
 * RTLD_LOCAL (dlopen RTLD_NOLOAD: never loads anything). Stores it in
 * *slot and returns it; NULL when there is none. Takes no lock. */
void *curl_bind(const char *name, _Atomic(void *) *slot);

static inline void *curl_real_of(const char *name, _Atomic(void *) *slot)
{
    void *f = atomic_load_explicit(slot, memory_order_relaxed);
    return __builtin_expect(f != 0, 1) ? f : curl_bind(name, slot);
}

/* curl_real(name): libcurl's function name, typed, or NULL when not found. */
#define curl_real(name) ((real_##name##_fn)curl_real_of(#name, &curl_reals.name))

/* Per thread: non-zero while the hooks run libcurl's own curl_easy_perform
 * or curl_easy_cleanup, whose internal calls to the multi functions come
 * back through the hooks (libcurl calls them through its PLT) and must pass
 * straight through. */
extern __thread unsigned curl_inside_libcurl __attribute__((tls_model("initial-exec")));

/* ---- target ----------------------------------------------------------- */

/* Fills *t (struct curl_target: curl_url_scan.h) from a URL as
 * curl_easy_setopt(CURLOPT_URL) takes it (a missing scheme is guessed as
 * libcurl does): by the scanner, else by libcurl's URL API. Returns false,
 * with t->host empty, when the URL has no host or port libcurl would connect
 * to (file://, a malformed URL) or libcurl's URL API is missing. Leaves
 * errno alone (as do the other curl_target_of_* but curl_target_of_curlu). */
bool curl_target_of_url(const char *url, struct curl_target *t);

/* curl_target_of_url and curl_target_of_proxy by libcurl's URL API alone
 * (what the scanner declines; the unit tests compare the two). */
bool curl_target_of_url_api(const char *url, struct curl_target *t);
bool curl_target_of_proxy_api(const char *proxy, struct curl_target *t);

/* Same, from a CURLU handle (CURLOPT_CURLU). */
bool curl_target_of_curlu(CURLU *url, struct curl_target *t);

/* Fills *t from a proxy string as CURLOPT_PROXY or the *_proxy environment
 * variables give it ("host:port", "http://host", "socks5h://host:1080", …;
 * default port 1080, 443 for https://). Returns false when it names no
 * proxy (empty string, unparsable). */
bool curl_target_of_proxy(const char *proxy, struct curl_target *t);

/* ---- proxy environment ------------------------------------------------ */

/* The proxy variables of the environment for a transfer of one scheme: the
 * first entry of each name, as getenv finds it; NULL when absent. */
struct curl_proxy_environment {
    const char *no_lower, *no_upper;         /* no_proxy, NO_PROXY */
    const char *scheme_lower, *scheme_upper; /* <scheme>_proxy, <SCHEME>_PROXY */
    const char *all_lower, *all_upper;       /* all_proxy, ALL_PROXY */
};

/* Reads them for scheme (lower case, as in struct curl_target): what this
 * thread read last while environ holds the same entries (compared by
 * address), else one pass over environ. Returns them in this thread's
 * memo, valid until its next call; the values point into the environment.
 * Allocates nothing, leaves errno alone. */
const struct curl_proxy_environment *curl_proxy_environment_read(const char *scheme);

/* The proxy libcurl takes from env for a transfer of scheme, or NULL:
 * <scheme>_proxy, its upper-case name (but never HTTP_PROXY), all_proxy,
 * ALL_PROXY, the first one set. */
const char *curl_proxy_environment_proxy(const struct curl_proxy_environment *env,
                                         const char *scheme);

/* ---- records ---------------------------------------------------------- */

#define CURL_NOPROXY_MAX 512

/* The options of one easy handle that the shim needs. */
struct curl_options {
    struct curl_target url;              /* CURLOPT_URL; host "" when unset */
    CURLU *curlu;                        /* CURLOPT_CURLU, owned by the program */
    long port;                           /* CURLOPT_PORT, 0 unset */
    char *errorbuffer;                   /* CURLOPT_ERRORBUFFER, owned by the program */
    curl_opensocket_callback opensocket; /* the program's CURLOPT_OPENSOCKETFUNCTION */
    bool proxy_set;                      /* CURLOPT_PROXY given ("" = no proxy) */
    struct curl_target proxy;            /* its target; host "" for no proxy */
    bool noproxy_set;                    /* CURLOPT_NOPROXY given */
    char noproxy[CURL_NOPROXY_MAX];      /* its value (too long: kept as empty) */
    long fresh_connect;                  /* CURLOPT_FRESH_CONNECT */
    struct curl_slist *connect_to;       /* CURLOPT_CONNECT_TO, owned by the program */
};

/* A transfer as the breakers see it: the breaker of its origin and of the
 * proxy it goes through (-1: none), and the calls they let through. */
struct curl_guard {
    bool proxied; /* the transfer goes through a proxy */
    int origin, via;
    struct guarded_call origin_call, via_call;
    int rejected_by;                         /* the breaker that refused it, or -1 */
    struct guarded_call rejected_call;       /* what that breaker was asked */
    char rejected_target[CURL_HOST_MAX + 8]; /* "host:port" of that breaker's side */
    /* Sent to a fallback: the open breaker of the URL's origin (then origin
     * and origin_call are the fallback address's own breaker, -1 for none),
     * and the CONNECT_TO entry (malloc'd) put in front of the program's
     * list; -1 and NULL otherwise. */
    int fell_back;
    struct curl_slist *connect_to;
};

/* The guarded transfer of a handle added to a multi handle. */
struct curl_multi_state {
    bool active;       /* let through and not yet recorded */
    bool rejected;     /* failed on purpose: the refusing open-socket callback is installed */
    const void *multi; /* the multi handle it was added to */
    struct curl_guard guard;
};

struct curl_record {
    struct curl_options options;
    struct curl_multi_state multi;
    _Atomic(uintptr_t) *key;           /* its slot in the table (curl_records.c only) */
    _Atomic(const void *) *pending_in; /* its slot's pending word (curl_records.c only) */
};

/* The records take no lock: only the thread that uses a handle may look up,
 * change or drop its record (libcurl's own rule for handles), and a record
 * stays where it is until it is dropped. */

/* Per thread: the record found or made last, tried first by
 * curl_records_find (a transfer looks its handle up a few times in a row).
 * A hint only: taken when its slot still holds the handle. */
extern __thread struct curl_record *curl_records_hint __attribute__((tls_model("initial-exec")));

/* curl_records_find past the hint: the table itself. */
struct curl_record *curl_records_lookup(const void *handle);

/* Returns handle's record or NULL. */
static inline struct curl_record *curl_records_find(const void *handle)
{
    struct curl_record *r = curl_records_hint;
    if (r && atomic_load_explicit(r->key, memory_order_relaxed) == (uintptr_t)handle)
        return r;
    return curl_records_lookup(handle);
}

/* Returns a new record for handle, which has none (the caller looked),
 * with cleared options and multi state; NULL (with a warning, once) when
 * out of memory or room. Leaves errno alone. */
struct curl_record *curl_records_add(const void *handle);

/* Drops r, the record of a handle being cleaned up; its memory goes to a
 * later handle. */
void curl_records_drop(struct curl_record *r);

/* Notes the multi handle that r's transfer is pending in (NULL: none), for
 * curl_records_in_multi. */
void curl_records_set_pending(struct curl_record *r, const void *multi);

/* Writes to out up to max handles whose transfer is pending in multi;
 * returns how many. */
size_t curl_records_in_multi(const void *multi, CURL **out, size_t max);

/* True when there is no record at all (one relaxed load): the hooks of a
 * program that set no URL under rules skip the table. */
bool curl_records_empty(void);

/* Sets o to no option given (as a new or reset handle has). */
void curl_options_clear(struct curl_options *o);

/* Sets s to no transfer in a multi handle. */
void curl_multi_state_clear(struct curl_multi_state *s);

/* ---- guard ------------------------------------------------------------ */

enum curl_verdict {
    CURL_UNGUARDED, /* no breaker covers it: run it, record nothing */
    CURL_ALLOWED,   /* run it, then call curl_guard_end or curl_guard_end_unread */
    CURL_REJECTED,  /* a breaker is open: fail it with CURLE_COULDNT_CONNECT */
};

/* Finds the breakers of a transfer of a handle with options o (the origin
 * of its URL, and the proxy it goes through) and asks them; fills *g. A
 * transfer counts in runtime_guarded_transfers from an allowed verdict
 * until it is ended. Leaves errno alone. */
enum curl_verdict curl_guard_begin(struct runtime *rt, const struct curl_options *o,
                                   struct curl_guard *g);

/* Records the transfer g let through, from its result rc and what handle
 * reports (HTTP status, CONNECT status, errno). Leaves errno alone. */
void curl_guard_end(const struct curl_guard *g, CURL *handle, CURLcode rc);

/* Records a transfer whose result is unknown (removed from its multi handle
 * before its message was read, or cleaned up while in one): by its HTTP
 * status when it got one, else as nothing. Leaves errno alone. */
void curl_guard_end_unread(const struct curl_guard *g, CURL *handle);

/* Writes "circuit open: breaker 'NAME' (host:port), retry in Ns" (or, for a
 * breaker forced open, "forced open until closed" or "forced open, Ns left")
 * into errorbuffer (CURL_ERROR_SIZE bytes) for a transfer g rejected; does
 * nothing when errorbuffer is NULL. Leaves errno alone. */
void curl_guard_explain(const struct curl_guard *g, char *errorbuffer);

/* ---- fallback --------------------------------------------------------- */

/* For a transfer to origin that breaker g->origin has just rejected: when
 * that breaker has a fallback and the transfer goes direct, picks its first
 * address whose own breaker (if any) lets the call through, and fills g to
 * send the transfer there (fell_back, connect_to; origin and origin_call
 * become the address's own breaker and call), counting a fallback. Returns
 * false, with g unchanged, when there is none. Leaves errno alone. */
bool curl_fallback_begin(struct runtime *rt, const struct curl_options *o,
                         const struct curl_target *origin, struct curl_guard *g);

/* Puts g's CONNECT_TO list (its entry, then the program's list) on handle,
 * when g goes to a fallback. Leaves errno alone. */
void curl_fallback_install(CURL *handle, const struct curl_guard *g);

/* Ends g's fallback: gives handle (unless NULL) the program's own
 * CONNECT_TO list from o back and frees g's entry. Does nothing when g went
 * to no fallback. Leaves errno alone. */
void curl_fallback_end(CURL *handle, struct curl_guard *g, const struct curl_options *o);

/* ---- easy handles ----------------------------------------------------- */

/* Returns handle's recorded options (valid until the handle is cleaned up
 * or reset), or NULL when it has no record. */
const struct curl_options *curl_options_of(const void *handle);

/* ---- multi handles ---------------------------------------------------- */

/* Settles the multi transfer state of a handle being cleaned up (its record
 * already removed): an unrecorded transfer is recorded as unread, and the
 * counts of multi transfers drop. Leaves errno alone. */
void curl_multi_forget(const struct curl_multi_state *s, CURL *handle);

#endif
