/* Unit tests of the libcurl hooks' per-handle records (curl_records.c): a
 * lock-free table keyed by handle address. Lookups, a slot's memory reused
 * for the next handle, groups that overflow into the next level, the
 * "pending in multi handle" scan, and threads that add, find and drop their
 * own handles at once (run under ThreadSanitizer by the tsan part of CI).
 * Handles here are addresses of bytes that are never dereferenced. */
#include <pthread.h>
#include <stdint.h>

#include "curl_internal.h"
#include "unit.h"

static char handles[4096];

static void finds_what_it_added_and_forgets_what_it_dropped(void)
{
    CHECK(curl_records_find(&handles[0]) == NULL);
    struct curl_record *a = curl_records_add(&handles[0]);
    struct curl_record *b = curl_records_add(&handles[1]);
    if (!CHECK(a && b && a != b))
        return;
    CHECK(curl_records_find(&handles[1]) == b);
    CHECK(curl_records_find(&handles[0]) == a);
    CHECK(!curl_records_empty());
    a->options.port = 8080;
    curl_records_drop(a);
    CHECK(curl_records_find(&handles[0]) == NULL);
    CHECK(curl_records_find(&handles[1]) == b);
    curl_records_drop(b);
    CHECK(curl_records_empty());
}

static void a_new_record_starts_cleared(void)
{
    struct curl_record *r = curl_records_add(&handles[2]);
    if (!CHECK(r))
        return;
    r->options.port = 81;
    r->options.proxy_set = true;
    r->multi.active = true;
    curl_records_drop(r);
    r = curl_records_add(&handles[2]);
    if (!CHECK(r))
        return;
    CHECK_INT(r->options.port, 0);
    CHECK(!r->options.proxy_set);
    CHECK_STR(r->options.url.host, "");
    CHECK(!r->multi.active && !r->multi.rejected && r->multi.guard.connect_to == NULL);
    curl_records_drop(r);
}

/* More live handles than one level's group can take: the table grows. */
static void many_live_handles_all_have_records(void)
{
    struct curl_record *got[4096];
    size_t n = sizeof handles;
    for (size_t i = 0; i < n; i++)
        if (!CHECK_CTX((got[i] = curl_records_add(&handles[i])) != NULL, "handle %zu", i))
            return;
    size_t wrong = 0;
    for (size_t i = 0; i < n; i++)
        wrong += curl_records_find(&handles[i]) != got[i];
    CHECK_INT(wrong, 0);
    for (size_t i = 0; i < n; i++)
        curl_records_drop(got[i]);
    CHECK(curl_records_empty());
}

static void lists_the_transfers_pending_in_a_multi_handle(void)
{
    char multi_a, multi_b;
    struct curl_record *r[4];
    for (int i = 0; i < 4; i++)
        r[i] = curl_records_add(&handles[100 + i]);
    if (!CHECK(r[0] && r[1] && r[2] && r[3]))
        return;
    curl_records_set_pending(r[0], &multi_a);
    curl_records_set_pending(r[2], &multi_a);
    curl_records_set_pending(r[3], &multi_b);
    CURL *out[4];
    size_t n = curl_records_in_multi(&multi_a, out, 4);
    if (CHECK_INT(n, 2))
        CHECK((out[0] == &handles[100] && out[1] == &handles[102]) ||
              (out[0] == &handles[102] && out[1] == &handles[100]));
    CHECK_INT(curl_records_in_multi(&multi_a, out, 1), 1);
    curl_records_set_pending(r[2], NULL);
    CHECK_INT(curl_records_in_multi(&multi_a, out, 4), 1);
    curl_records_drop(r[0]); /* dropping clears its pending word */
    CHECK_INT(curl_records_in_multi(&multi_a, out, 4), 0);
    CHECK_INT(curl_records_in_multi(&multi_b, out, 4), 1);
    for (int i = 1; i < 4; i++)
        curl_records_drop(r[i]);
}

#define THREADS 4
#define PER_THREAD 256
#define ROUNDS 200

/* One thread's work: its own handles, added, checked and dropped again and
 * again; counts what it found wrong. */
static void *churn(void *arg)
{
    char *mine = arg;
    uintptr_t wrong = 0;
    for (int round = 0; round < ROUNDS; round++) {
        struct curl_record *r[PER_THREAD];
        for (int i = 0; i < PER_THREAD; i++) {
            r[i] = curl_records_add(&mine[i]);
            if (r[i])
                r[i]->options.port = (long)(round * PER_THREAD + i);
        }
        for (int i = 0; i < PER_THREAD; i++) {
            struct curl_record *found = curl_records_find(&mine[i]);
            wrong +=
                !r[i] || found != r[i] || found->options.port != (long)(round * PER_THREAD + i);
        }
        for (int i = 0; i < PER_THREAD; i++)
            if (r[i])
                curl_records_drop(r[i]);
    }
    return (void *)wrong;
}

static void threads_keep_their_own_records_apart(void)
{
    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++)
        pthread_create(&t[i], NULL, churn, &handles[i * PER_THREAD]);
    uintptr_t wrong = 0;
    for (int i = 0; i < THREADS; i++) {
        void *w;
        pthread_join(t[i], &w);
        wrong += (uintptr_t)w;
    }
    CHECK_INT(wrong, 0);
    CHECK(curl_records_empty());
}

int main(void)
{
    RUN(finds_what_it_added_and_forgets_what_it_dropped);
    RUN(a_new_record_starts_cleared);
    RUN(many_live_handles_all_have_records);
    RUN(lists_the_transfers_pending_in_a_multi_handle);
    RUN(threads_keep_their_own_records_apart);
    return unit_done();
}
