/* Unit tests of the address → names table (names.c): lookups, recency,
 * bounds, and readers that never see a half-written entry while writers run. */
#include <arpa/inet.h>
#include <pthread.h>
#include <sys/socket.h>

#include "names.h"
#include "unit.h"

static struct name_candidates cands(uint32_t first, uint32_t n)
{
    struct name_candidates c = {.count = n};
    for (uint32_t i = 0; i < n && i < NAMES_CANDIDATES; i++)
        c.ids[i] = first + i;
    return c;
}

static void records_and_finds_by_address(void)
{
    uint8_t a[4] = {10, 0, 0, 1}, b[4] = {10, 0, 0, 2}, v6[16] = {0xfd, [15] = 1};
    struct name_candidates out[4];
    CHECK_INT(names_lookup(AF_INET, a, out, 4), 0);
    struct name_candidates one = cands(7, 2), two = cands(9, 1);
    names_record(AF_INET, a, &one);
    names_record(AF_INET6, v6, &two);
    CHECK_INT(names_lookup(AF_INET, b, out, 4), 0);
    if (!CHECK_INT(names_lookup(AF_INET, a, out, 4), 1))
        return;
    CHECK_INT(out[0].count, 2);
    CHECK_INT(out[0].ids[1], 8);
    CHECK_INT(names_lookup(AF_INET6, v6, out, 4), 1);
    CHECK_INT(out[0].ids[0], 9);
}

static void newest_name_of_an_address_comes_first(void)
{
    uint8_t a[4] = {10, 0, 1, 1};
    struct name_candidates old = cands(100, 1), recent = cands(200, 1), out[4];
    names_record(AF_INET, a, &old);
    names_record(AF_INET, a, &recent);
    CHECK_INT(names_lookup(AF_INET, a, out, 4), 2);
    CHECK_INT(out[0].ids[0], 200);
    names_record(AF_INET, a, &old); /* resolved again: newest again */
    CHECK_INT(names_lookup(AF_INET, a, out, 4), 2);
    CHECK_INT(out[0].ids[0], 100);
}

static void the_table_is_bounded(void)
{
    struct name_candidates c = cands(1, 1), out[2];
    for (uint32_t i = 0; i < 100000; i++) {
        uint32_t addr = htonl(0x0b000000u + i);
        names_record(AF_INET, &addr, &c);
    }
    uint32_t last = htonl(0x0b000000u + 99999);
    CHECK_INT(names_lookup(AF_INET, &last, out, 2), 1);
}

/* Writers record addresses whose candidates encode the address; readers
 * check every entry they get back against its address. */
#define ROUNDS 200000

static void *writer(void *arg)
{
    uint32_t base = (uint32_t)(uintptr_t)arg;
    for (uint32_t i = 0; i < ROUNDS; i++) {
        uint32_t host = base + (i % 64);
        uint32_t addr = htonl(host);
        struct name_candidates c = cands(host, 1 + host % NAMES_CANDIDATES);
        names_record(AF_INET, &addr, &c);
    }
    return NULL;
}

static _Atomic long torn;

static void *reader(void *arg)
{
    uint32_t base = (uint32_t)(uintptr_t)arg;
    for (uint32_t i = 0; i < ROUNDS; i++) {
        uint32_t host = base + (i % 64);
        uint32_t addr = htonl(host);
        struct name_candidates out[4];
        size_t n = names_lookup(AF_INET, &addr, out, 4);
        for (size_t k = 0; k < n; k++)
            if (out[k].ids[0] != host || out[k].count != 1 + host % NAMES_CANDIDATES)
                torn++;
    }
    return NULL;
}

static void readers_never_see_a_torn_entry(void)
{
    pthread_t threads[4];
    pthread_create(&threads[0], NULL, writer, (void *)(uintptr_t)0x0c000000u);
    pthread_create(&threads[1], NULL, writer, (void *)(uintptr_t)0x0c000000u);
    pthread_create(&threads[2], NULL, reader, (void *)(uintptr_t)0x0c000000u);
    pthread_create(&threads[3], NULL, reader, (void *)(uintptr_t)0x0c000000u);
    for (int i = 0; i < 4; i++)
        pthread_join(threads[i], NULL);
    CHECK_INT(torn, 0);
}

int main(void)
{
    RUN(records_and_finds_by_address);
    RUN(newest_name_of_an_address_comes_first);
    RUN(the_table_is_bounded);
    RUN(readers_never_see_a_torn_entry);
    return unit_done();
}
