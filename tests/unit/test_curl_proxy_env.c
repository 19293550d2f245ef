/* Unit tests of the proxy variables as the libcurl hooks read them
 * (curl_proxy_env.c: one pass over environ, kept while environ holds the
 * same entries) against what getenv gives for the same names, in the order
 * libcurl asks: for fixed environments with duplicates, near-miss names and
 * entries without '=', for many generated ones, and across setenv, putenv,
 * unsetenv, clearenv and a new environ between two reads. */
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

/* Compares the module with getenv for scheme under the environment as it
 * is; returns 1 for a disagreement (reported), else 0. */
static int compare_scheme(const char *scheme)
{
    const struct curl_proxy_environment *got = curl_proxy_environment_read(scheme);
    const char *proxy = curl_proxy_environment_proxy(got, scheme);
    const char *no = got->no_lower ? got->no_lower : got->no_upper;
    const char *want_proxy = reference_proxy(scheme);
    const char *want_no = getenv("no_proxy") ? getenv("no_proxy") : getenv("NO_PROXY");
    if (proxy == want_proxy && no == want_no)
        return 0;
    unit_diag("# scheme %s: proxy %s (want %s), no_proxy %s (want %s)\n", scheme,
              proxy ? proxy : "-", want_proxy ? want_proxy : "-", no ? no : "-",
              want_no ? want_no : "-");
    return 1;
}

/* Compares the module with getenv under environment env for every scheme,
 * each twice in a row (the second answer is the memo's); returns the
 * number of disagreements. */
static int compare_under(char **env)
{
    char **saved = environ;
    environ = env;
    int wrong = 0;
    for (size_t i = 0; i < sizeof schemes / sizeof *schemes && wrong < 5; i++)
        wrong += compare_scheme(schemes[i]) + compare_scheme(schemes[i]);
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
 * random order (a fixed seed), some without '='. Each has strings of its
 * own, as the environment's strings are never rewritten in place (see
 * curl_proxy_env.c). */
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
    static char text[ENVIRONMENTS][ENTRIES][48];
    char *env[ENTRIES + 1];
    unsigned seed = 22;
    int wrong = 0;
    for (int round = 0; round < ENVIRONMENTS; round++) {
        int count = (int)(rand_r(&seed) % ENTRIES);
        for (int i = 0; i < count; i++) {
            const char *name = names[rand_r(&seed) % (sizeof names / sizeof *names)];
            bool no_value = rand_r(&seed) % 8 == 0;
            snprintf(text[round][i], sizeof text[round][i], "%s%s%d", name, no_value ? "" : "=v",
                     i);
            env[i] = text[round][i];
        }
        env[count] = NULL;
        wrong += compare_under(env);
    }
    CHECK_INT(wrong, 0);
}

/* The process's own environment, changed between reads the ways a
 * program changes it: each read must see the change. */
static void changes_between_reads_are_seen(void)
{
    CHECK_INT(clearenv(), 0);
    setenv("HOME", "/root", 1);
    setenv("PATH", "/bin", 1);
    CHECK_INT(compare_scheme("https") + compare_scheme("https"), 0);
    setenv("https_proxy", "http://added:1", 1);
    CHECK_INT(compare_scheme("https"), 0);
    setenv("https_proxy", "http://replaced:2", 1); /* a new string in the same slot */
    CHECK_INT(compare_scheme("https"), 0);
    static char put[] = "no_proxy=put";
    putenv(put);
    CHECK_INT(compare_scheme("https"), 0);
    static char put_again[] = "no_proxy=put-again";
    putenv(put_again);
    CHECK_INT(compare_scheme("https"), 0);
    put_again[sizeof "no_proxy=" - 1] = 'P'; /* a value rewritten in place is read as it is */
    CHECK_INT(compare_scheme("https"), 0);
    CHECK_STR(curl_proxy_environment_read("https")->no_lower, "Put-again");
    unsetenv("HOME"); /* the entries after it move down */
    CHECK_INT(compare_scheme("https"), 0);
    unsetenv("https_proxy");
    CHECK_INT(compare_scheme("https"), 0);
    setenv("ALL_PROXY", "all:3", 1);
    CHECK_INT(compare_scheme("https"), 0);
    setenv("HTTPS_PROXY", "s:4", 1);
    CHECK_INT(compare_scheme("https"), 0);
    char *own[] = {"https_proxy=own:5", "no_proxy=own", NULL};
    char **saved = environ;
    environ = own; /* a new environ array */
    CHECK_INT(compare_scheme("https"), 0);
    environ = saved;
    CHECK_INT(compare_scheme("https"), 0);
    CHECK_INT(clearenv(), 0);
    CHECK_INT(compare_scheme("https"), 0);
}

/* An environment of more entries than the memo copies is read in full every
 * time, and still as getenv reads it. */
static void large_environments_are_read_in_full(void)
{
    enum { ENTRIES = 600 };
    static char text[ENTRIES][32];
    static char *env[ENTRIES + 1];
    for (int i = 0; i < ENTRIES; i++) {
        snprintf(text[i], sizeof text[i], "VAR%d=%d", i, i);
        env[i] = text[i];
    }
    env[ENTRIES] = NULL;
    char **saved = environ;
    environ = env;
    CHECK_INT(compare_scheme("http"), 0);
    snprintf(text[ENTRIES - 1], sizeof text[ENTRIES - 1], "http_proxy=late");
    CHECK_INT(compare_scheme("http"), 0);
    CHECK_STR(curl_proxy_environment_read("http")->scheme_lower, "late");
    environ = saved;
}

int main(void)
{
    RUN(fixed_environments_read_as_getenv_reads_them);
    RUN(generated_environments_read_as_getenv_reads_them);
    RUN(changes_between_reads_are_seen);
    RUN(large_environments_are_read_in_full);
    return unit_done();
}
