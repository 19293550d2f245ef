/* The per-handle records of the libcurl hooks: a chained hash table keyed
 * by the easy handle's address, under one mutex. A record is created by
 * the first curl_easy_setopt the shim cares about and dropped by
 * curl_easy_cleanup, so the table holds one record per live handle that
 * set a URL. Nothing is allocated before a program uses libcurl. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "curl_internal.h"

#define BUCKET_BITS 12
#define BUCKETS (1u << BUCKET_BITS)

static struct curl_record *buckets[BUCKETS];
static pthread_mutex_t table_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t fork_handlers_once = PTHREAD_ONCE_INIT;
static _Atomic size_t record_count;

bool curl_records_empty(void)
{
    return atomic_load_explicit(&record_count, memory_order_relaxed) == 0;
}

static void lock_before_fork(void)
{
    pthread_mutex_lock(&table_lock);
}

static void unlock_after_fork(void)
{
    pthread_mutex_unlock(&table_lock);
}

/* A fork while another thread holds the lock must not leave the child with
 * a lock nobody will release. */
static void register_fork_handlers(void)
{
    pthread_atfork(lock_before_fork, unlock_after_fork, unlock_after_fork);
}

void curl_records_lock(void)
{
    pthread_once(&fork_handlers_once, register_fork_handlers);
    pthread_mutex_lock(&table_lock);
}

void curl_records_unlock(void)
{
    pthread_mutex_unlock(&table_lock);
}

static struct curl_record **bucket_of(const void *handle)
{
    uint64_t h = (uint64_t)(uintptr_t)handle * 0x9e3779b97f4a7c15ull;
    return &buckets[h >> (64 - BUCKET_BITS)];
}

struct curl_record *curl_records_find(const void *handle)
{
    for (struct curl_record *r = *bucket_of(handle); r; r = r->next)
        if (r->handle == handle)
            return r;
    return NULL;
}

struct curl_record *curl_records_add(const void *handle)
{
    struct curl_record *r = curl_records_find(handle);
    if (r)
        return r;
    r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    struct curl_record **head = bucket_of(handle);
    r->handle = handle;
    r->next = *head;
    *head = r;
    atomic_fetch_add_explicit(&record_count, 1, memory_order_relaxed);
    return r;
}

bool curl_records_remove(const void *handle, struct curl_record *out)
{
    for (struct curl_record **link = bucket_of(handle); *link; link = &(*link)->next) {
        struct curl_record *r = *link;
        if (r->handle == handle) {
            *link = r->next;
            memcpy(out, r, sizeof *r);
            free(r);
            atomic_fetch_sub_explicit(&record_count, 1, memory_order_relaxed);
            return true;
        }
    }
    return false;
}

size_t curl_records_in_multi(const void *multi, CURL **out, size_t max)
{
    size_t n = 0;
    curl_records_lock();
    for (size_t b = 0; b < BUCKETS && n < max; b++)
        for (struct curl_record *r = buckets[b]; r && n < max; r = r->next)
            if (r->multi.multi == multi && (r->multi.active || r->multi.rejected))
                out[n++] = (CURL *)r->handle;
    curl_records_unlock();
    return n;
}
