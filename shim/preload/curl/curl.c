/* libcurl's easy interface: curl_easy_perform runs one transfer as one
 * breaker call, and the setopt / duphandle / reset / cleanup hooks keep the
 * per-handle records (URL, error buffer, …) that it needs, since libcurl
 * cannot be asked for them. A program without rules pays one check per
 * call; a program without libcurl never gets here. */
#include <errno.h>
#include <stdarg.h>
#include <string.h>

#include "export.h"
#include "curl_internal.h"
#include "keep_errno.h"
#include "runtime.h"

__thread unsigned curl_inside_libcurl;

bool curl_options_of(const void *handle, struct curl_options *o)
{
    if (curl_records_empty())
        return false;
    curl_records_lock();
    const struct curl_record *r = curl_records_find(handle);
    if (r)
        *o = r->options;
    curl_records_unlock();
    return r != NULL;
}

/* True for the options whose values the records keep. */
static bool noted(CURLoption option)
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

/* A value given to curl_easy_setopt, by its type. */
union option_value {
    long number;
    void *pointer;
    curl_opensocket_callback opensocket;
};

/* Stores an accepted option value in o (parsed beforehand into t for the
 * URL and the proxy). */
static void store(struct curl_options *o, CURLoption option, union option_value v,
                  const struct curl_target *t)
{
    switch (option) {
    case CURLOPT_URL:
        o->url = *t;
        break;
    case CURLOPT_CURLU:
        o->curlu = v.pointer;
        break;
    case CURLOPT_ERRORBUFFER:
        o->errorbuffer = v.pointer;
        break;
    case CURLOPT_PROXY:
        o->proxy_set = v.pointer != NULL;
        o->proxy = *t;
        break;
    case CURLOPT_NOPROXY: {
        const char *list = v.pointer;
        size_t len = list ? strlen(list) : 0;
        o->noproxy_set = list != NULL;
        if (len >= sizeof o->noproxy)
            len = 0;
        memcpy(o->noproxy, list ? list : "", len);
        o->noproxy[len] = '\0';
        break;
    }
    case CURLOPT_PORT:
        o->port = v.number;
        break;
    case CURLOPT_FRESH_CONNECT:
        o->fresh_connect = v.number;
        break;
    case CURLOPT_OPENSOCKETFUNCTION:
        o->opensocket = v.opensocket;
        break;
    case CURLOPT_CONNECT_TO:
        o->connect_to = v.pointer;
        break;
    default:
        break;
    }
}

/* Notes an option libcurl accepted in handle's record, creating the record
 * unless the call comes from inside libcurl (its own internal handles are
 * freed without curl_easy_cleanup). Only while rules are loaded. Leaves
 * errno alone. */
static void note(CURL *handle, CURLoption option, union option_value v)
{
    if (!noted(option) || !runtime_get())
        return;
    KEEP_ERRNO();
    struct curl_target t = {.host = ""};
    if (option == CURLOPT_URL)
        curl_target_of_url(v.pointer, &t);
    else if (option == CURLOPT_PROXY)
        curl_target_of_proxy(v.pointer, &t);
    curl_records_lock();
    struct curl_record *r =
        curl_inside_libcurl ? curl_records_find(handle) : curl_records_add(handle);
    if (r)
        store(&r->options, option, v, &t);
    curl_records_unlock();
}

typedef void (*any_function)(void);

EXPORT CURLcode curl_easy_setopt(CURL *handle, CURLoption option, ...)
{
    real_curl_easy_setopt_fn set = curl_real(curl_easy_setopt);
    if (!set)
        return CURLE_FAILED_INIT;
    va_list ap;
    va_start(ap, option);
    CURLcode rc;
    union option_value v = {.pointer = NULL};
    if (option < CURLOPTTYPE_OBJECTPOINT) {
        v.number = va_arg(ap, long);
        rc = set(handle, option, v.number);
    } else if (option < CURLOPTTYPE_FUNCTIONPOINT) {
        v.pointer = va_arg(ap, void *);
        rc = set(handle, option, v.pointer);
    } else if (option < CURLOPTTYPE_OFF_T) {
        any_function f = va_arg(ap, any_function);
        rc = set(handle, option, f);
        if (option == CURLOPT_OPENSOCKETFUNCTION)
            v.opensocket = (curl_opensocket_callback)f;
    } else if (option < CURLOPTTYPE_BLOB) {
        rc = set(handle, option, va_arg(ap, curl_off_t));
    } else {
        rc = set(handle, option, va_arg(ap, struct curl_blob *));
    }
    va_end(ap);
    if (rc == CURLE_OK)
        note(handle, option, v);
    return rc;
}

EXPORT CURLcode curl_easy_perform(CURL *handle)
{
    real_curl_easy_perform_fn perform = curl_real(curl_easy_perform);
    if (!perform)
        return CURLE_FAILED_INIT;
    struct runtime *rt;
    struct curl_options o;
    struct curl_guard g;
    enum curl_verdict verdict = CURL_UNGUARDED;
    if (!curl_inside_libcurl && (rt = runtime_get()) && curl_options_of(handle, &o))
        verdict = curl_guard_begin(rt, &o, &g);
    if (verdict == CURL_REJECTED) {
        curl_guard_explain(&g, o.errorbuffer);
        return CURLE_COULDNT_CONNECT;
    }
    bool guarded = verdict == CURL_ALLOWED;
    if (guarded)
        curl_fallback_install(handle, &g);
    curl_inside_libcurl++;
    runtime_transfer_depth += guarded;
    CURLcode rc = perform(handle);
    runtime_transfer_depth -= guarded;
    curl_inside_libcurl--;
    if (guarded) {
        curl_guard_end(&g, handle, rc);
        curl_fallback_end(handle, &g, &o);
    }
    return rc;
}

EXPORT CURL *curl_easy_duphandle(CURL *handle)
{
    real_curl_easy_duphandle_fn duplicate = curl_real(curl_easy_duphandle);
    CURL *copy = duplicate ? duplicate(handle) : NULL;
    if (!copy || curl_records_empty())
        return copy;
    KEEP_ERRNO();
    bool refusing = false, falling_back = false;
    curl_opensocket_callback own = NULL;
    struct curl_slist *own_connect_to = NULL;
    long fresh_connect = 0;
    curl_records_lock();
    const struct curl_record *from = curl_records_find(handle);
    struct curl_record *to = from ? curl_records_add(copy) : NULL;
    if (to) {
        to->options = from->options;
        memset(&to->multi, 0, sizeof to->multi);
    }
    if (from) {
        refusing = from->multi.rejected;
        own = from->options.opensocket;
        fresh_connect = from->options.fresh_connect;
        falling_back = from->multi.guard.connect_to != NULL;
        own_connect_to = from->options.connect_to;
    }
    curl_records_unlock();
    real_curl_easy_setopt_fn set = curl_real(curl_easy_setopt);
    if (refusing && set) {
        set(copy, CURLOPT_OPENSOCKETFUNCTION, own);
        set(copy, CURLOPT_FRESH_CONNECT, fresh_connect);
    }
    if (falling_back && set) /* the copy must not keep the shim's entry, freed at the end */
        set(copy, CURLOPT_CONNECT_TO, own_connect_to);
    return copy;
}

EXPORT void curl_easy_reset(CURL *handle)
{
    real_curl_easy_reset_fn reset = curl_real(curl_easy_reset);
    if (reset)
        reset(handle);
    if (curl_records_empty())
        return;
    KEEP_ERRNO();
    curl_records_lock();
    struct curl_record *r = curl_records_find(handle);
    if (r)
        memset(&r->options, 0, sizeof r->options);
    curl_records_unlock();
}

EXPORT void curl_easy_cleanup(CURL *handle)
{
    real_curl_easy_cleanup_fn cleanup = curl_real(curl_easy_cleanup);
    if (!curl_records_empty()) {
        KEEP_ERRNO();
        struct curl_record gone;
        curl_records_lock();
        bool had = curl_records_remove(handle, &gone);
        curl_records_unlock();
        if (had)
            curl_multi_forget(&gone.multi, handle);
    }
    if (!cleanup)
        return;
    curl_inside_libcurl++;
    cleanup(handle);
    curl_inside_libcurl--;
}
