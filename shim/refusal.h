/* refusal.h — writing why a parser refused its input into the caller's buffer.
 *
 * Header-only, for parsers that report "false, with the reason in why" (the
 * fallback addresses, the fleet agent's URLs and messages). */
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

#endif
