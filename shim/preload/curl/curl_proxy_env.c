/* The proxy variables of the environment as libcurl reads them for a
 * transfer (no_proxy, <scheme>_proxy, all_proxy, each also in upper case),
 * in one pass over environ instead of six getenv calls: this runs for every
 * transfer, so an entry that cannot be one of them costs a test of its
 * first byte. */
#include <string.h>

#include "curl_internal.h"

extern char **environ;

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

void curl_proxy_environment_read(const char *scheme, struct curl_proxy_environment *env)
{
    size_t n = 0;
    while (n < sizeof((struct curl_target *)0)->scheme - 1 && scheme[n])
        n++;
    *env = (struct curl_proxy_environment){NULL, NULL, NULL, NULL, NULL, NULL};
    /* the first two bytes of <scheme>_proxy, folded as below */
    char own0 = (char)(scheme[0] | 0x20), own1 = (char)((n > 1 ? scheme[1] : '_') | 0x20);
    /* the bytes the names can start with (either case), by their 6 low bits */
#define START_BIT(c) (1ull << ((c)&63) | 1ull << (((c) ^ 0x20) & 63))
    uint64_t starts = START_BIT('n') | START_BIT('a') | (n ? START_BIT(scheme[0]) : 0);
#undef START_BIT
    for (char *const *e = environ; e && *e; e++) {
        const char *entry = *e;
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
}

const char *curl_proxy_environment_proxy(const struct curl_proxy_environment *env,
                                         const char *scheme)
{
    const char *v = env->scheme_lower;
    if (!v && strcmp(scheme, "http") != 0)
        v = env->scheme_upper;
    if (!v)
        v = env->all_lower;
    return v ? v : env->all_upper;
}
