/* The proxy variables of the environment as libcurl reads them for a
 * transfer (no_proxy, <scheme>_proxy, all_proxy, each also in upper case).
 * This runs for every transfer, so each thread keeps what it read last:
 * the environ array it read (its address and a copy of its entry
 * pointers), the scheme and the values found. While environ holds the same
 * entries, that is the answer, at the cost of comparing the pointers; any
 * setenv, putenv, unsetenv or clearenv, or a new environ array, changes
 * them, and the environment is read again in one pass (where an entry that
 * cannot be one of the names costs a test of its first byte). The values
 * point into the entries, so a putenv string whose value the program
 * rewrites in place is read as it is now; one whose name it rewrites in
 * place is seen at the next change of the entries (docs/how-it-works.md,
 * limits of the libcurl hooks). 2 KB of TLS a thread. */
#include <stdatomic.h>
#include <string.h>

#include "curl_internal.h"
#include "progname.h"

/* Environments of more entries than this are read in full every time. */
#define SNAPSHOT_MAX 256

/* Per thread: the environment read last. */
struct environment_memo {
    char **seen;  /* environ then; NULL: nothing kept */
    size_t count; /* its entries, in snapshot */
    char scheme[sizeof((struct curl_target *)0)->scheme];
    struct curl_proxy_environment env;
    char *snapshot[SNAPSHOT_MAX];
};
static __thread struct environment_memo memo __attribute__((tls_model("initial-exec")));

/* The value of environment entry e when its name is name (n bytes, lower
 * case; upper: compared in upper case) then suffix; else NULL. */
static const char *proxy_value(const char *e, const char *name, size_t n, const char *suffix,
                               bool upper)
{
    for (size_t i = 0; i < n; i++) {
        char want =
            upper && name[i] >= 'a' && name[i] <= 'z' ? (char)(name[i] - ('a' - 'A')) : name[i];
        if (e[i] != want)
            return NULL;
    }
    for (size_t i = 0; i < 6; i++)
        if (e[n + i] != suffix[i])
            return NULL;
    return e[n + 6] == '=' ? e + n + 7 : NULL;
}

/* Sets *lower (*upper) to the value of entry e when e is the variable
 * name (n bytes, lower case) + "_proxy" in lower (upper) case and *lower
 * (*upper) is not set yet. */
static void take(const char *e, const char *name, size_t n, const char **lower, const char **upper)
{
    if (!*lower)
        *lower = proxy_value(e, name, n, "_proxy", false);
    if (!*upper)
        *upper = proxy_value(e, name, n, "_PROXY", true);
}

/* True when the memo holds environ e (its entries unchanged) read for
 * scheme. Reads e no further than its terminating NULL. */
static bool memo_holds(char **e, const char *scheme)
{
    if (e != memo.seen || !e)
        return false;
    for (size_t i = 0; memo.scheme[i] == scheme[i]; i++) /* memo.scheme ends in its array */
        if (!scheme[i])
            goto same_scheme;
    return false;
same_scheme:;
    size_t count = memo.count;
    /* an entry equal to its copy is not the NULL: e[i + 1] may be read */
#pragma GCC unroll 8
    for (size_t i = 0; i < count; i++)
        if (e[i] != memo.snapshot[i])
            return false;
    return e[count] == NULL;
}

/* Reads the variables for scheme from environ e into the memo in one pass,
 * and keeps e and its entries there too (when it has room). */
static void read_environment(char **e, const char *scheme)
{
    size_t n = 0;
    while (n < sizeof memo.scheme - 1 && scheme[n])
        n++;
    struct curl_proxy_environment *env = &memo.env;
    *env = (struct curl_proxy_environment){NULL, NULL, NULL, NULL, NULL, NULL};
    /* the first two bytes of <scheme>_proxy, folded as below */
    char own0 = (char)(scheme[0] | 0x20), own1 = (char)((n > 1 ? scheme[1] : '_') | 0x20);
    /* the bytes the names can start with (either case), by their 6 low bits */
#define START_BIT(c) (1ull << ((c)&63) | 1ull << (((c) ^ 0x20) & 63))
    uint64_t starts = START_BIT('n') | START_BIT('a') | (n ? START_BIT(scheme[0]) : 0);
#undef START_BIT
    size_t count = 0;
    for (; e && e[count]; count++) {
        const char *entry = e[count];
        if (count < SNAPSHOT_MAX)
            memo.snapshot[count] = e[count];
        if (!(starts & (1ull << (entry[0] & 63))))
            continue;
        /* the first two bytes in either case: an entry has two at least ('=' or NUL) */
        char first = (char)(entry[0] | 0x20), second = (char)(entry[1] | 0x20);
        if (first == 'n' && second == 'o')
            take(entry, "no", 2, &env->no_lower, &env->no_upper);
        else if (first == 'a' && second == 'l')
            take(entry, "all", 3, &env->all_lower, &env->all_upper);
        if (n && first == own0 && second == own1)
            take(entry, scheme, n, &env->scheme_lower, &env->scheme_upper);
    }
    memo.seen = count <= SNAPSHOT_MAX ? e : NULL;
    memo.count = count;
    memcpy(memo.scheme, scheme, n);
    memo.scheme[n] = '\0';
}

const struct curl_proxy_environment *curl_proxy_environment_read(const char *scheme)
{
    static _Atomic(void *) environ_cache; /* environ, found on the first transfer */
    char ***at = libc_data(&environ_cache, "environ");
    char **e = at ? *at : NULL;
    if (!memo_holds(e, scheme))
        read_environment(e, scheme);
    return &memo.env;
}

const char *curl_proxy_environment_proxy(const struct curl_proxy_environment *env,
                                         const char *scheme)
{
    const char *v = env->scheme_lower;
    bool http = scheme[0] == 'h' && scheme[1] == 't' && scheme[2] == 't' && scheme[3] == 'p' &&
                scheme[4] == '\0';
    if (!v && !http)
        v = env->scheme_upper;
    if (!v)
        v = env->all_lower;
    return v ? v : env->all_upper;
}
