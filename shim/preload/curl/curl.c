/* libcurl's easy interface: curl_easy_perform runs one transfer as one
 * breaker call, and the duphandle / reset / cleanup hooks (with setopt's in
 * curl_setopt.c) keep the per-handle records (URL, error buffer, …) that it
 * needs, since libcurl cannot be asked for them. A program without rules
 * pays one check per call; a program without libcurl never gets here. */
#include <errno.h>
#include <string.h>

#include "export.h"
#include "curl_internal.h"
#include "keep_errno.h"
#include "runtime.h"

__thread unsigned curl_inside_libcurl;

const struct curl_options *curl_options_of(const void *handle)
{
    const struct curl_record *r = curl_records_empty() ? NULL : curl_records_find(handle);
    return r ? &r->options : NULL;
}

EXPORT CURLcode curl_easy_perform(CURL *handle)
{
    real_curl_easy_perform_fn perform = curl_real(curl_easy_perform);
    if (!perform)
        return CURLE_FAILED_INIT;
    struct runtime *rt;
    const struct curl_options *o = NULL;
    struct curl_guard g;
    enum curl_verdict verdict = CURL_UNGUARDED;
    if (!curl_inside_libcurl && (rt = runtime_get()) && (o = curl_options_of(handle)))
        verdict = curl_guard_begin(rt, o, &g);
    if (verdict == CURL_REJECTED) {
        curl_guard_explain(&g, o->errorbuffer);
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
        curl_fallback_end(handle, &g, o);
    }
    return rc;
}

EXPORT CURL *curl_easy_duphandle(CURL *handle)
{
    real_curl_easy_duphandle_fn duplicate = curl_real(curl_easy_duphandle);
    CURL *copy = duplicate ? duplicate(handle) : NULL;
    const struct curl_record *from;
    if (!copy || curl_records_empty() || !(from = curl_records_find(handle)))
        return copy;
    KEEP_ERRNO();
    struct curl_record *to = curl_records_find(copy);
    if (!to)
        to = curl_records_add(copy);
    if (to)
        to->options = from->options;
    real_curl_easy_setopt_fn set = curl_real(curl_easy_setopt);
    if (from->multi.rejected && set) {
        set(copy, CURLOPT_OPENSOCKETFUNCTION, from->options.opensocket);
        set(copy, CURLOPT_FRESH_CONNECT, from->options.fresh_connect);
    }
    if (from->multi.guard.connect_to && set) /* the copy must not keep the shim's entry */
        set(copy, CURLOPT_CONNECT_TO, from->options.connect_to);
    return copy;
}

EXPORT void curl_easy_reset(CURL *handle)
{
    real_curl_easy_reset_fn reset = curl_real(curl_easy_reset);
    if (reset)
        reset(handle);
    if (curl_records_empty())
        return;
    struct curl_record *r = curl_records_find(handle);
    if (r)
        curl_options_clear(&r->options);
}

EXPORT void curl_easy_cleanup(CURL *handle)
{
    real_curl_easy_cleanup_fn cleanup = curl_real(curl_easy_cleanup);
    struct curl_record *r = curl_records_empty() ? NULL : curl_records_find(handle);
    if (r) {
        KEEP_ERRNO();
        curl_multi_forget(&r->multi, handle);
        curl_records_drop(r);
    }
    if (!cleanup)
        return;
    curl_inside_libcurl++;
    cleanup(handle);
    curl_inside_libcurl--;
}
