/* libcurl's multi interface (curl --parallel, git's http transport, event
 * loops): each easy handle added is one breaker call, decided in
 * curl_multi_add_handle and recorded from its CURLMSG_DONE message (or at
 * curl_multi_remove_handle when the program never reads it).
 *
 * An open breaker must fail only its own transfer, with code 7, through the
 * normal message: rejecting the add would make the curl tool abort every
 * transfer (code 27). So a rejected transfer is added with a refusing
 * CURLOPT_OPENSOCKETFUNCTION (and CURLOPT_FRESH_CONNECT, so that no cached
 * connection is reused), and the program's own values are put back when it
 * ends. */
#include <errno.h>
#include <string.h>

#include "export.h"
#include "curl_internal.h"
#include "keep_errno.h"
#include "runtime.h"

/* Transfers added with a verdict and not yet settled: all of them, and the
 * guarded (let through) ones, whose sockets connect() must leave alone. */
static _Atomic unsigned multi_pending, multi_guarded;

static curl_socket_t refuse_socket(void *data, curlsocktype purpose, struct curl_sockaddr *address)
{
    (void)data;
    (void)purpose;
    (void)address;
    return CURL_SOCKET_BAD;
}

/* Installs (refuse) or removes the refusing open-socket callback; when
 * removing, puts back the program's own callback and fresh-connect value. */
static void set_refusing(CURL *handle, bool refuse, const struct curl_options *own)
{
    real_curl_easy_setopt_fn set = curl_real(curl_easy_setopt);
    if (!set)
        return;
    set(handle, CURLOPT_OPENSOCKETFUNCTION, refuse ? refuse_socket : own->opensocket);
    set(handle, CURLOPT_FRESH_CONNECT, refuse ? 1L : own->fresh_connect);
}

static void count(const struct curl_multi_state *s, int delta)
{
    if (s->active || s->rejected)
        atomic_fetch_add_explicit(&multi_pending, (unsigned)delta, memory_order_relaxed);
    if (s->active)
        atomic_fetch_add_explicit(&multi_guarded, (unsigned)delta, memory_order_relaxed);
}

/* Stores s as r's multi state. */
static void keep_state(struct curl_record *r, const struct curl_multi_state *s)
{
    r->multi = *s;
    curl_records_set_pending(r, s->multi);
    count(s, 1);
}

/* Decides the transfer of handle (record r) and keeps its state (s) for
 * the multi handle. Leaves errno alone. */
static enum curl_verdict start(CURL *handle, struct runtime *rt, struct curl_record *r,
                               struct curl_multi_state *s)
{
    KEEP_ERRNO();
    enum curl_verdict verdict = curl_guard_begin(rt, &r->options, &s->guard);
    s->active = verdict == CURL_ALLOWED;
    s->rejected = verdict == CURL_REJECTED;
    if (s->rejected)
        set_refusing(handle, true, &r->options);
    if (verdict != CURL_UNGUARDED)
        keep_state(r, s);
    if (s->active)
        curl_fallback_install(handle, &s->guard);
    return verdict;
}

/* Takes handle's multi state out of its record into *s; returns the record,
 * or NULL when there is none to settle. */
static struct curl_record *take_state(CURL *handle, struct curl_multi_state *s)
{
    if (atomic_load_explicit(&multi_pending, memory_order_relaxed) == 0)
        return NULL;
    struct curl_record *r = curl_records_find(handle);
    if (!r || !(r->multi.active || r->multi.rejected))
        return NULL;
    *s = r->multi;
    count(s, -1);
    curl_multi_state_clear(&r->multi);
    curl_records_set_pending(r, NULL);
    return r;
}

void curl_multi_forget(const struct curl_multi_state *s, CURL *handle)
{
    count(s, -1);
    if (s->active)
        curl_guard_end_unread(&s->guard, handle);
    if (s->guard.connect_to) {
        struct curl_guard g = s->guard;
        curl_fallback_end(NULL, &g, NULL);
    }
}

/* curl_multi_add_handle of a handle with a record, under rules. */
__attribute__((noinline)) static CURLMcode add_recorded(real_curl_multi_add_handle_fn add,
                                                        CURLM *multi, CURL *handle)
{
    struct runtime *rt;
    struct curl_record *r;
    if (!(rt = runtime_get()) || !(r = curl_records_find(handle)))
        return add(multi, handle);
    struct curl_multi_state s;
    curl_multi_state_clear(&s);
    s.multi = multi;
    enum curl_verdict verdict = start(handle, rt, r, &s);
    CURLMcode rc = add(multi, handle);
    if (rc != CURLM_OK && verdict != CURL_UNGUARDED) {
        KEEP_ERRNO();
        if (take_state(handle, &s)) {
            if (s.rejected)
                set_refusing(handle, false, &r->options);
            if (s.active)
                curl_guard_end(&s.guard, handle, CURLE_FAILED_INIT);
            curl_fallback_end(handle, &s.guard, &r->options);
        }
    }
    return rc;
}

/* The pass-through (libcurl's own calls, handles without a record) needs
 * no frame: what it does not settle is left to add_recorded. */
EXPORT CURLMcode curl_multi_add_handle(CURLM *multi, CURL *handle)
{
    real_curl_multi_add_handle_fn add = curl_real(curl_multi_add_handle);
    if (!add)
        return CURLM_INTERNAL_ERROR;
    if (curl_inside_libcurl || curl_records_empty())
        return add(multi, handle);
    return add_recorded(add, multi, handle);
}

/* Settles handle's transfer: from its result rc when its message was read,
 * else (unread) from what the handle reports; a rejected one gets its
 * program's callback back and its error message. Apart from the hooks, so
 * that their pass-through needs no frame. */
__attribute__((noinline)) static void settle(CURL *handle, bool read, CURLcode rc)
{
    struct curl_multi_state s;
    const struct curl_record *r = take_state(handle, &s);
    if (!r)
        return;
    KEEP_ERRNO();
    const struct curl_options *o = &r->options;
    if (s.rejected) {
        set_refusing(handle, false, o);
        bool failed = read ? rc == CURLE_COULDNT_CONNECT : o->errorbuffer && o->errorbuffer[0];
        if (failed)
            curl_guard_explain(&s.guard, o->errorbuffer);
    }
    if (s.active && read)
        curl_guard_end(&s.guard, handle, rc);
    else if (s.active)
        curl_guard_end_unread(&s.guard, handle);
    curl_fallback_end(handle, &s.guard, o);
}

EXPORT CURLMsg *curl_multi_info_read(CURLM *multi, int *left)
{
    real_curl_multi_info_read_fn read = curl_real(curl_multi_info_read);
    if (!read)
        return NULL;
    if (curl_inside_libcurl)
        return read(multi, left);
    CURLMsg *m = read(multi, left);
    if (m && m->msg == CURLMSG_DONE && atomic_load_explicit(&multi_pending, memory_order_relaxed))
        settle(m->easy_handle, true, m->data.result);
    return m;
}

EXPORT CURLMcode curl_multi_remove_handle(CURLM *multi, CURL *handle)
{
    real_curl_multi_remove_handle_fn remove = curl_real(curl_multi_remove_handle);
    if (!remove)
        return CURLM_INTERNAL_ERROR;
    if (!curl_inside_libcurl && atomic_load_explicit(&multi_pending, memory_order_relaxed))
        settle(handle, false, CURLE_OK);
    return remove(multi, handle);
}

/* A program may clean a multi handle up with transfers still in it (libcurl
 * then lets go of them without curl_multi_remove_handle): they are settled
 * first, so that no refusing callback or fallback stays on a handle that the
 * program goes on using. */
/* Settles every transfer still pending in multi (being cleaned up). */
__attribute__((noinline)) static void settle_all_in(CURLM *multi)
{
    CURL *left[64];
    size_t n;
    while (atomic_load_explicit(&multi_pending, memory_order_relaxed) &&
           (n = curl_records_in_multi(multi, left, sizeof left / sizeof left[0])) > 0)
        for (size_t i = 0; i < n; i++)
            settle(left[i], false, CURLE_OK);
}

EXPORT CURLMcode curl_multi_cleanup(CURLM *multi)
{
    real_curl_multi_cleanup_fn cleanup = curl_real(curl_multi_cleanup);
    if (!cleanup)
        return CURLM_INTERNAL_ERROR;
    if (!curl_inside_libcurl && atomic_load_explicit(&multi_pending, memory_order_relaxed))
        settle_all_in(multi);
    return cleanup(multi);
}

/* True when the sockets a multi call opens belong to guarded transfers. */
static bool guarding(void)
{
    return !curl_inside_libcurl && atomic_load_explicit(&multi_guarded, memory_order_relaxed);
}

/* libcurl's curl_multi_perform inside a guarded transfer (apart from the
 * hook, whose pass-through then needs no frame). */
__attribute__((noinline)) static CURLMcode perform_guarded(real_curl_multi_perform_fn perform,
                                                           CURLM *multi, int *running)
{
    runtime_transfer_depth++;
    CURLMcode rc = perform(multi, running);
    runtime_transfer_depth--;
    return rc;
}

EXPORT CURLMcode curl_multi_perform(CURLM *multi, int *running)
{
    real_curl_multi_perform_fn perform = curl_real(curl_multi_perform);
    if (!perform)
        return CURLM_INTERNAL_ERROR;
    if (!guarding())
        return perform(multi, running);
    return perform_guarded(perform, multi, running);
}

/* The same for curl_multi_socket_action. */
__attribute__((noinline)) static CURLMcode
socket_action_guarded(real_curl_multi_socket_action_fn action, CURLM *multi, curl_socket_t socket,
                      int events, int *running)
{
    runtime_transfer_depth++;
    CURLMcode rc = action(multi, socket, events, running);
    runtime_transfer_depth--;
    return rc;
}

EXPORT CURLMcode curl_multi_socket_action(CURLM *multi, curl_socket_t socket, int events,
                                          int *running)
{
    real_curl_multi_socket_action_fn action = curl_real(curl_multi_socket_action);
    if (!action)
        return CURLM_INTERNAL_ERROR;
    if (!guarding())
        return action(multi, socket, events, running);
    return socket_action_guarded(action, multi, socket, events, running);
}
