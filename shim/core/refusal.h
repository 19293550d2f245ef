/* refusal.h — writing why a parser refused its input into the caller's
 * buffer, for every parser that reports "false, with the reason in why" (the
 * rules, host patterns, fallback addresses, the state file, the fleet
 * agent's URLs and messages), and quoting the input it refused. */
#ifndef FUSEBOX_REFUSAL_H
#define FUSEBOX_REFUSAL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

/* Formats the reason into why (size bytes) and returns false. */
__attribute__((format(printf, 3, 4))) static inline bool refuse(char *why, size_t size,
                                                                const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, size, fmt, ap);
    va_end(ap);
    return false;
}

#define REFUSAL_QUOTED_SIZE 84 /* a quoted string in a message, cut short when longer */

/* Writes s to out (size bytes, at least 16) in double quotes, escaping quotes
 * and backslashes and writing bytes outside printable ASCII as \xHH; cuts it
 * short with "..." when too long. */
void refusal_quote(char *out, size_t size, const char *s);

#endif
