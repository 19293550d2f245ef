/* outcome.h — the classes a completed call falls into, and their names.
 *
 * A class names why a call ended badly (or slowly); OUTCOME_SUCCESS means the
 * call completed without any class, OUTCOME_IGNORED that it says nothing about
 * the destination (a client-side error) and counts as no call at all. Whether a
 * class counts as a failure is the breaker's policy (breaker_config.failure_mask). */
#ifndef FUSEBOX_OUTCOME_H
#define FUSEBOX_OUTCOME_H

#include <stdint.h>

enum outcome_class {
    OUTCOME_SUCCESS = 0,
    CLASS_REFUSED,
    CLASS_TIMEOUT,
    CLASS_UNREACHABLE,
    CLASS_RESET,
    CLASS_DNS,
    CLASS_TLS,
    CLASS_HTTP_5XX,
    CLASS_HTTP_429,
    CLASS_HTTP_4XX,
    CLASS_SLOW,
    CLASS_COUNT,
    OUTCOME_IGNORED = CLASS_COUNT
};

#define CLASS_BIT(c) (1u << (c))

/* The class failure_on lists when a rules file does not say. */
#define DEFAULT_FAILURE_MASK                                                                       \
    (CLASS_BIT(CLASS_REFUSED) | CLASS_BIT(CLASS_TIMEOUT) | CLASS_BIT(CLASS_UNREACHABLE) |          \
     CLASS_BIT(CLASS_RESET) | CLASS_BIT(CLASS_DNS) | CLASS_BIT(CLASS_HTTP_5XX))

/* Returns the rules-file name of a class ("refused", …), "success" for
 * OUTCOME_SUCCESS, "ignored" for OUTCOME_IGNORED, "?" for anything else. */
const char *outcome_class_name(enum outcome_class c);

/* Returns the class named by s (a rules-file name, not "success"), or -1. */
int outcome_class_parse(const char *s);

/* Returns the class of a failed connect()'s errno: refused, timeout,
 * unreachable or reset, or OUTCOME_IGNORED for errors that say nothing about
 * the destination (EACCES, EADDRNOTAVAIL, EINVAL, …). */
enum outcome_class outcome_class_of_errno(int err);

/* Returns the class of an HTTP response status: http_5xx, http_429,
 * http_4xx, else success. */
enum outcome_class outcome_class_of_http_status(long status);

#endif
