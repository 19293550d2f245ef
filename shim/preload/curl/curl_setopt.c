/* curl_easy_setopt: hands every option to libcurl and keeps, in the
 * handle's record, the few the other hooks need (URL, error buffer, proxy,
 * …), since libcurl cannot be asked for them later.
 *
 * A curl transfer makes some 80 setopt calls, nearly all of options the
 * shim does not keep, so the hook forwards those at the cost of a few
 * instructions: it reads the option's value as a named uintptr_t instead
 * of through a va_list. On the ABIs fusebox builds for (x86-64 System V,
 * and likewise AArch64, RISC-V, POWER ELFv2, s390x), an unnamed integer or
 * pointer argument of a variadic call travels exactly where a named one of
 * the same size would, and every setopt value (long, pointer, function
 * pointer, curl_off_t) is one such word; libcurl gets the same bits back.
 * So this file must not see curl.h's variadic declaration of the hook. */
#define CURL_DISABLE_TYPECHECK 1
#define curl_easy_setopt curl_easy_setopt_as_curl_h_declares_it
#include <curl/curl.h>
#undef curl_easy_setopt

#include <stdarg.h>
#include <string.h>

#include "curl_internal.h"
#include "export.h"
#include "runtime.h"

_Static_assert(sizeof(long) == sizeof(uintptr_t) && sizeof(void *) == sizeof(uintptr_t) &&
                   sizeof(curl_off_t) == sizeof(uintptr_t) &&
                   sizeof(curl_opensocket_callback) == sizeof(uintptr_t),
               "every curl_easy_setopt value must be one machine word");

/* True for the options whose values the records keep. */
__attribute__((always_inline)) static inline bool noted(CURLoption option)
{
    switch (option) {
    case CURLOPT_URL:
    case CURLOPT_CURLU:
    case CURLOPT_ERRORBUFFER:
    case CURLOPT_PROXY:
    case CURLOPT_NOPROXY:
    case CURLOPT_PORT:
    case CURLOPT_FRESH_CONNECT:
    case CURLOPT_OPENSOCKETFUNCTION:
    case CURLOPT_CONNECT_TO:
        return true;
    default:
        return false;
    }
}

/* A filter in front of noted(), one bit test: bit (option % 64) is set for
 * every option noted() takes, and for about one in nine of the others. */
#define NOTED_BIT(option) (1ull << ((option)&63))
static const uint64_t maybe_noted =
    NOTED_BIT(CURLOPT_URL) | NOTED_BIT(CURLOPT_CURLU) | NOTED_BIT(CURLOPT_ERRORBUFFER) |
    NOTED_BIT(CURLOPT_PROXY) | NOTED_BIT(CURLOPT_NOPROXY) | NOTED_BIT(CURLOPT_PORT) |
    NOTED_BIT(CURLOPT_FRESH_CONNECT) | NOTED_BIT(CURLOPT_OPENSOCKETFUNCTION) |
    NOTED_BIT(CURLOPT_CONNECT_TO);

/* Stores an accepted option value v in o. Leaves errno alone. */
static void store(struct curl_options *o, CURLoption option, uintptr_t v)
{
    switch (option) {
    case CURLOPT_URL:
        curl_target_of_url((const char *)v, &o->url);
        break;
    case CURLOPT_CURLU:
        o->curlu = (CURLU *)v;
        break;
    case CURLOPT_ERRORBUFFER:
        o->errorbuffer = (char *)v;
        break;
    case CURLOPT_PROXY:
        o->proxy_set = v != 0;
        if (!v || !curl_target_of_proxy((const char *)v, &o->proxy))
            o->proxy.host[0] = '\0';
        break;
    case CURLOPT_NOPROXY: {
        const char *list = (const char *)v;
        size_t len = list ? strlen(list) : 0;
        o->noproxy_set = list != NULL;
        if (len >= sizeof o->noproxy)
            len = 0;
        memcpy(o->noproxy, list ? list : "", len);
        o->noproxy[len] = '\0';
        break;
    }
    case CURLOPT_PORT:
        o->port = (long)v;
        break;
    case CURLOPT_FRESH_CONNECT:
        o->fresh_connect = (long)v;
        break;
    case CURLOPT_OPENSOCKETFUNCTION:
        o->opensocket = (curl_opensocket_callback)v;
        break;
    case CURLOPT_CONNECT_TO:
        o->connect_to = (struct curl_slist *)v;
        break;
    default:
        break;
    }
}

/* Notes an option libcurl accepted in handle's record, creating the record
 * (only while rules are loaded) unless the call comes from inside libcurl:
 * its own internal handles are freed without curl_easy_cleanup. Leaves
 * errno alone. */
static void note(CURL *handle, CURLoption option, uintptr_t v)
{
    struct curl_record *r = curl_records_empty() ? NULL : curl_records_find(handle);
    if (!r && !curl_inside_libcurl)
        r = runtime_get() ? curl_records_add(handle) : NULL;
    if (r)
        store(&r->options, option, v);
}

/* Sets an option the records keep, and notes it when libcurl accepts it.
 * Apart from the hook, so that the hook's path for the other options needs
 * no frame. */
__attribute__((noinline)) static CURLcode set_and_note(CURL *handle, CURLoption option,
                                                       uintptr_t value)
{
    real_curl_easy_setopt_fn set = curl_real(curl_easy_setopt);
    if (!set)
        return CURLE_FAILED_INIT;
    CURLcode rc = set(handle, option, value);
    if (rc == CURLE_OK)
        note(handle, option, value);
    return rc;
}

static CURLcode bind_and_set(CURL *handle, CURLoption option, ...);

/* Where the hook forwards the options the records do not keep: libcurl's
 * function once bound, bind_and_set until then (so the hook tests nothing
 * else). */
static _Atomic(real_curl_easy_setopt_fn) forward = bind_and_set;

/* Binds libcurl's function and sets the option (one the records do not
 * keep) with it. */
static CURLcode bind_and_set(CURL *handle, CURLoption option, ...)
{
    va_list ap;
    va_start(ap, option);
    uintptr_t value = va_arg(ap, uintptr_t);
    va_end(ap);
    real_curl_easy_setopt_fn set = curl_real(curl_easy_setopt);
    if (!set)
        return CURLE_FAILED_INIT;
    atomic_store_explicit(&forward, set, memory_order_relaxed);
    return set(handle, option, value);
}

CURLcode curl_easy_setopt(CURL *handle, CURLoption option, uintptr_t value);

/* The path of an option the records do not keep is a bit test and a jump. */
EXPORT CURLcode curl_easy_setopt(CURL *handle, CURLoption option, uintptr_t value)
{
    if (!((maybe_noted >> (option & 63)) & 1) || !noted(option))
        return atomic_load_explicit(&forward, memory_order_relaxed)(handle, option, value);
    return set_and_note(handle, option, value);
}
