/* Unit tests of the proxy variables as the libcurl hooks read them
 * (curl_proxy_env.c, one pass over environ) against what getenv gives for
 * the same names, in the order libcurl asks: for fixed environments with
 * duplicates, near-miss names and entries without '=', and for many
 * generated ones. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "curl_internal.h"
#include "unit.h"

extern char **environ;

/* What libcurl (and the shim before this module) reads with getenv. */
static const char *reference_proxy(const char *scheme)
{
    char name[32];
    snprintf(name, sizeof name, "%s_proxy", scheme);
    const char *v = getenv(name);
    if (!v && strcmp(scheme, "http") != 0) {
        for (char *p = name; *p; p++)
            *p = (char)(*p >= 'a' && *p <= 'z' ? *p - ('a' - 'A') : *p);
        v = getenv(name);
    }
    if (!v)
        v = getenv("all_proxy");
    return v ? v : getenv("ALL_PROXY");
}

static const char *const schemes[] = {"http", "https", "ftp", "socks5", "x", "3com", "a", "n"};

/* Compares the module with getenv under environment env for every scheme;
 * returns the number of disagreements (reported). */
static int compare_under(char **env)
{
    char **saved = environ;
    environ = env;
    int wrong = 0;
    for (size_t i = 0; i < sizeof schemes / sizeof *schemes; i++) {
        struct curl_proxy_environment got;
        curl_proxy_environment_read(schemes[i], &got);
        const char *proxy = curl_proxy_environment_proxy(&got, schemes[i]);
        const char *no = got.no_lower ? got.no_lower : got.no_upper;
        const char *want_proxy = reference_proxy(schemes[i]);
        const char *want_no = getenv("no_proxy") ? getenv("no_proxy") : getenv("NO_PROXY");
        if (proxy != want_proxy || no != want_no) {
            if (wrong++ < 5)
                unit_diag("# scheme %s: proxy %s (want %s), no_proxy %s (want %s)\n", schemes[i],
                          proxy ? proxy : "-", want_proxy ? want_proxy : "-", no ? no : "-",
                          want_no ? want_no : "-");
        }
    }
    environ = saved;
    return wrong;
}

static void fixed_environments_read_as_getenv_reads_them(void)
{
    char *none[] = {NULL};
    char *plain[] = {"HOME=/root", "http_proxy=http://p:1", "no_proxy=localhost", NULL};
    char *upper[] = {"HTTP_PROXY=ignored-for-http",
                     "HTTPS_PROXY=s:2",
                     "NO_PROXY=.example",
                     "ALL_PROXY=a:3",
                     "FTP_PROXY=f:4",
                     "X_PROXY=x:5",
                     "3COM_PROXY=c:6",
                     NULL};
    char *both[] = {"https_proxy=lower",
                    "HTTPS_PROXY=upper",
                    "all_proxy=all",
                    "ALL_PROXY=ALL",
                    "no_proxy=",
                    "NO_PROXY=upper",
                    NULL};
    char *twice[] = {"http_proxy=first", "http_proxy=second", "no_proxy=1", "no_proxy=2", NULL};
    char *near[] = {"http_proxyx=no",
                    "http_prox=no",
                    "Http_proxy=no",
                    "hTTP_PROXY=no",
                    "http_proxy",
                    "no_proxy",
                    "n",
                    "a=",
                    "_proxy=no",
                    "all_proxy",
                    "alL_PROXY=no",
                    "NO_proxy=no",
                    "x_proxy=x",
                    "a_proxy=a",
                    "n_proxy=n",
                    "N_PROXY=N",
                    "socks5_proxy=s5",
                    "",
                    "=",
                    "nO_PROXY=no",
                    NULL};
    CHECK_INT(compare_under(none), 0);
    CHECK_INT(compare_under(plain), 0);
    CHECK_INT(compare_under(upper), 0);
    CHECK_INT(compare_under(both), 0);
    CHECK_INT(compare_under(twice), 0);
    CHECK_INT(compare_under(near), 0);
}

/* Environments of names drawn from near-misses and the real ones, in
 * random order (a fixed seed), some without '='. */
static void generated_environments_read_as_getenv_reads_them(void)
{
    static const char *const names[] = {
        "no_proxy",   "NO_PROXY",    "No_proxy",     "http_proxy",
        "HTTP_PROXY", "https_proxy", "HTTPS_PROXY",  "all_proxy",
        "ALL_PROXY",  "ftp_proxy",   "FTP_PROXY",    "x_proxy",
        "X_PROXY",    "http_prox",   "all_proxyx",   "n",
        "a",          "h",           "HOME",         "NODE_PATH",
        "AWS_REGION", "hTTPS_PROXY", "socks5_proxy", "SOCKS5_PROXY",
        "3com_proxy", "3COM_PROXY",  "a_proxy",      "A_PROXY",
        "n_proxy",    "N_PROXY",
    };
    enum { ENTRIES = 12, ENVIRONMENTS = 3000 };
    static char text[ENTRIES][48];
    char *env[ENTRIES + 1];
    unsigned seed = 22;
    int wrong = 0;
    for (int round = 0; round < ENVIRONMENTS; round++) {
        int count = (int)(rand_r(&seed) % ENTRIES);
        for (int i = 0; i < count; i++) {
            const char *name = names[rand_r(&seed) % (sizeof names / sizeof *names)];
            bool no_value = rand_r(&seed) % 8 == 0;
            snprintf(text[i], sizeof text[i], "%s%s%d", name, no_value ? "" : "=v", i);
            env[i] = text[i];
        }
        env[count] = NULL;
        wrong += compare_under(env);
    }
    CHECK_INT(wrong, 0);
}

int main(void)
{
    RUN(fixed_environments_read_as_getenv_reads_them);
    RUN(generated_environments_read_as_getenv_reads_them);
    return unit_done();
}
