#include "outcome.h"

#include <errno.h>
#include <string.h>

/* Names in place, not pointers: a table of pointers is a relocation each,
 * which every process loading the shim pays at start. */
static const char class_names[CLASS_COUNT + 1][sizeof "unreachable"] = {
    [OUTCOME_SUCCESS] = "success", [CLASS_REFUSED] = "refused",
    [CLASS_TIMEOUT] = "timeout",   [CLASS_UNREACHABLE] = "unreachable",
    [CLASS_RESET] = "reset",       [CLASS_DNS] = "dns",
    [CLASS_TLS] = "tls",           [CLASS_HTTP_5XX] = "http_5xx",
    [CLASS_HTTP_429] = "http_429", [CLASS_HTTP_4XX] = "http_4xx",
    [CLASS_SLOW] = "slow",         [OUTCOME_IGNORED] = "ignored",
};

const char *outcome_class_name(enum outcome_class c)
{
    return (unsigned)c <= OUTCOME_IGNORED ? class_names[c] : "?";
}

int outcome_class_parse(const char *s)
{
    for (int c = OUTCOME_SUCCESS + 1; c < CLASS_COUNT; c++)
        if (strcmp(s, class_names[c]) == 0)
            return c;
    return -1;
}

enum outcome_class outcome_class_of_errno(int err)
{
    switch (err) {
    case ECONNREFUSED:
        return CLASS_REFUSED;
    case ETIMEDOUT:
        return CLASS_TIMEOUT;
    case ENETUNREACH:
    case EHOSTUNREACH:
    case ENETDOWN:
    case EHOSTDOWN:
        return CLASS_UNREACHABLE;
    case ECONNRESET:
    case ECONNABORTED:
    case EPIPE:
        return CLASS_RESET;
    default:
        return OUTCOME_IGNORED;
    }
}

enum outcome_class outcome_class_of_http_status(long status)
{
    if (status >= 500 && status <= 599)
        return CLASS_HTTP_5XX;
    if (status == 429)
        return CLASS_HTTP_429;
    if (status >= 400 && status <= 499)
        return CLASS_HTTP_4XX;
    return OUTCOME_SUCCESS;
}
