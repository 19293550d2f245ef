/* unit.h — a tiny TAP harness for the C unit tests.
 *
 * A test is a `static void name(void)` that uses the CHECK macros; main()
 * runs each with RUN(name) and ends with `return unit_done();`. Each RUN
 * prints "ok N - name" or "not ok N - name" followed by one
 * "# file:line: expr" line per failed check. There is no skip: a test whose
 * input is missing fails. unit_done() prints the plan "1..N" and returns the
 * exit status: 1 if any test failed, else 0. */
#ifndef FUSEBOX_UNIT_H
#define FUSEBOX_UNIT_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

static struct {
    int run, failed;
    bool current_failed;
    char diagnostics[8192];
    size_t diagnostics_len;
} unit;

/* Appends text to the current test's diagnostics, starting each line that
 * does not start with '#' with "#   " so that the TAP stream stays valid. */
__attribute__((format(printf, 1, 2))) static inline void unit_diag(const char *fmt, ...)
{
    char text[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    for (const char *c = text; *c != '\0'; c++) {
        bool line_start =
            unit.diagnostics_len == 0 || unit.diagnostics[unit.diagnostics_len - 1] == '\n';
        const char *piece = line_start && *c != '#' ? "#   " : "";
        size_t need = strlen(piece) + 1;
        if (unit.diagnostics_len + need >= sizeof unit.diagnostics)
            return;
        memcpy(unit.diagnostics + unit.diagnostics_len, piece, need - 1);
        unit.diagnostics_len += need - 1;
        unit.diagnostics[unit.diagnostics_len++] = *c;
        unit.diagnostics[unit.diagnostics_len] = '\0';
    }
}

/* Records a check; returns ok. */
static inline bool unit_check(bool ok, const char *file, int line, const char *expr)
{
    if (!ok) {
        unit.current_failed = true;
        unit_diag("# %s:%d: %s\n", file, line, expr);
    }
    return ok;
}

static inline bool unit_check_int(long long got, long long want, const char *file, int line,
                                  const char *expr)
{
    if (!unit_check(got == want, file, line, expr))
        unit_diag("#   got %lld, want %lld\n", got, want);
    return got == want;
}

static inline bool unit_check_str(const char *got, const char *want, const char *file, int line,
                                  const char *expr)
{
    bool ok = got != NULL && want != NULL ? strcmp(got, want) == 0 : got == want;
    if (!unit_check(ok, file, line, expr))
        unit_diag("#   got  \"%s\"\n#   want \"%s\"\n", got != NULL ? got : "(null)",
                  want != NULL ? want : "(null)");
    return ok;
}

static inline void unit_run(const char *name, void (*test)(void))
{
    unit.current_failed = false;
    unit.diagnostics_len = 0;
    unit.diagnostics[0] = '\0';
    test();
    unit.run++;
    if (unit.current_failed)
        unit.failed++;
    printf("%sok %d - %s\n%s", unit.current_failed ? "not " : "", unit.run, name, unit.diagnostics);
    fflush(stdout);
}

static inline int unit_done(void)
{
    printf("1..%d\n", unit.run);
    return unit.failed != 0;
}

#define RUN(test) unit_run(#test, test)
/* Each CHECK returns whether it held, so a test can stop early: if (!CHECK(p)) return; */
#define CHECK(expr) unit_check((expr), __FILE__, __LINE__, #expr)
#define CHECK_INT(got, want)                                                                       \
    unit_check_int((long long)(got), (long long)(want), __FILE__, __LINE__, #got " == " #want)
#define CHECK_STR(got, want) unit_check_str((got), (want), __FILE__, __LINE__, #got " == " #want)
/* CHECK with context for table rows: CHECK_CTX(expr, "row %zu (%s)", i, row->text). */
#define CHECK_CTX(expr, ...)                                                                       \
    (unit_check((expr), __FILE__, __LINE__, #expr) ||                                              \
     (unit_diag("#   in "), unit_diag(__VA_ARGS__), unit_diag("\n"), false))

#endif
