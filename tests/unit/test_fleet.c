/* test_fleet.c — fleet mode's pure logic (fleet.c): Redis URLs, messages,
 * the quorum decision and the reconnect backoff. */
#include <string.h>

#include "fleet.h"
#include "unit.h"

static void urls(void)
{
    struct fleet_url u;
    char err[200];
    CHECK(fleet_parse_url("redis://127.0.0.1:6380/2", &u, err, sizeof err));
    CHECK_STR(u.host, "127.0.0.1");
    CHECK_INT(u.port, 6380);
    CHECK_INT(u.db, 2);
    CHECK(!u.tls);
    CHECK_STR(u.user, "");
    CHECK(fleet_parse_url("redis://redis.internal", &u, err, sizeof err));
    CHECK_STR(u.host, "redis.internal");
    CHECK_INT(u.port, 6379);
    CHECK_INT(u.db, 0);
    CHECK(fleet_parse_url("redis://agent:s3cr:et@[::1]:7000/", &u, err, sizeof err));
    CHECK_STR(u.user, "agent");
    CHECK_STR(u.password, "s3cr:et");
    CHECK_STR(u.host, "::1");
    CHECK_INT(u.port, 7000);
    CHECK(fleet_parse_url("redis://:pw@h", &u, err, sizeof err));
    CHECK_STR(u.user, "");
    CHECK_STR(u.password, "pw");
    CHECK(fleet_parse_url("redis://pw@h", &u, err, sizeof err));
    CHECK_STR(u.user, "");
    CHECK_STR(u.password, "pw");
    CHECK(fleet_parse_url("rediss://h:6380", &u, err, sizeof err));
    CHECK(u.tls);
    CHECK(!fleet_parse_url("http://h", &u, err, sizeof err));
    CHECK_STR(err, "'http://h' is not a redis:// or rediss:// URL");
    CHECK(!fleet_parse_url("redis://h:99999", &u, err, sizeof err));
    CHECK_STR(err, "port '99999' is not 1-65535");
    CHECK(!fleet_parse_url("redis://h:0", &u, err, sizeof err));
    CHECK(!fleet_parse_url("redis://h:", &u, err, sizeof err));
    CHECK(!fleet_parse_url("redis://:6379", &u, err, sizeof err));
    CHECK_STR(err, "no host");
    CHECK(!fleet_parse_url("redis://[::1", &u, err, sizeof err));
    CHECK(!fleet_parse_url("redis://h/x", &u, err, sizeof err));
    CHECK_STR(err, "database 'x' is not a number");
}

/* valid takes size-1 characters and refuses size of them. */
static void check_longest(bool (*valid)(const char *), size_t size)
{
    char text[STATE_NAME_MAX + 1];
    memset(text, 'a', size);
    text[size] = '\0';
    CHECK(!valid(text));
    text[size - 1] = '\0';
    CHECK(valid(text));
}

static void ids(void)
{
    CHECK(fleet_valid_id("web-01.eu:a_b"));
    CHECK(!fleet_valid_id(""));
    CHECK(!fleet_valid_id("a b"));
    CHECK(!fleet_valid_id("a*"));
    check_longest(fleet_valid_id, FLEET_ID_MAX);
}

static void messages_round_trip(void)
{
    struct fleet_message m = {.kind = FLEET_STATE,
                              .state = BREAKER_OPEN,
                              .host = "host-a",
                              .breaker = "payments",
                              .ms = 30000,
                              .reason = "3 consecutive failures (http_5xx)"},
                         back;
    char buf[FLEET_MESSAGE_MAX];
    int n = fleet_encode(&m, buf, sizeof buf);
    CHECK_STR(buf, "fusebox1 open host-a payments 30000 3 consecutive failures (http_5xx)");
    CHECK_INT(n, (long long)strlen(buf));
    CHECK(fleet_decode(buf, (size_t)n, &back));
    CHECK_INT(back.kind, FLEET_STATE);
    CHECK_INT(back.state, BREAKER_OPEN);
    CHECK_STR(back.host, "host-a");
    CHECK_STR(back.breaker, "payments");
    CHECK_INT(back.ms, 30000);
    CHECK_STR(back.reason, "3 consecutive failures (http_5xx)");

    m = (struct fleet_message){.kind = FLEET_FORCE_OPEN, .host = "-", .breaker = "db", .ms = 0};
    n = fleet_encode(&m, buf, sizeof buf);
    CHECK_STR(buf, "fusebox1 force_open - db 0 ");
    CHECK(fleet_decode(buf, (size_t)n, &back));
    CHECK_INT(back.kind, FLEET_FORCE_OPEN);
    CHECK_STR(back.reason, "");

    m = (struct fleet_message){
        .kind = FLEET_STATE, .state = BREAKER_HALF_OPEN, .host = "h", .breaker = "a b"};
    CHECK_INT(fleet_encode(&m, buf, sizeof buf), -1);
    CHECK_INT(fleet_encode(&(struct fleet_message){.host = "h", .breaker = "b"}, buf, 10), -1);

    static const char *const bad[] = {
        "",
        "fusebox2 open h b 1 x",
        "fusebox1 opened h b 1 x",
        "fusebox1 open h*x b 1 x",
        "fusebox1 open h b",
        "fusebox1 open h b -1 x",
        "fusebox1 open h b 99999999999 x",
        "fusebox1 open h b 12a x",
        "fusebox1  open h b 1 x",
        "fusebox1 force_open - \033[2Jpay 0 x",
        "fusebox1 force_open - pay\"ments 0 x",
        "fusebox1 force_open - pay\x7f 0 x",
        "fusebox1 open h b 1 why\033[31m",
        "fusebox1 open h b 1 why\ttab",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (!CHECK(!fleet_decode(bad[i], strlen(bad[i]), &back)))
            unit_diag("#   accepted: \"%s\"\n", bad[i]);
    CHECK(fleet_decode("fusebox1 half_open h b 0", 24, &back));
    CHECK_INT(back.state, BREAKER_HALF_OPEN);
    CHECK(!fleet_decode("fusebox1 open h b\0 1 x", 23, &back)); /* a NUL inside */
    CHECK(!fleet_decode("fusebox1 open h b 1 x\0y", 24, &back));
    CHECK(fleet_decode("fusebox1 open h api/[::1]:443 1 x", 33, &back));
    CHECK_STR(back.breaker, "api/[::1]:443");
    m = (struct fleet_message){.kind = FLEET_FORCE_OPEN, .host = "-", .breaker = "odd\"name"};
    CHECK_INT(fleet_encode(&m, buf, sizeof buf), -1);
}

static void breaker_names(void)
{
    CHECK(fleet_valid_breaker("pay/ments:v1.2_a-b"));
    CHECK(fleet_valid_breaker("api/[2001:db8::1]:443"));
    CHECK(!fleet_valid_breaker(""));
    CHECK(!fleet_valid_breaker("a b"));
    CHECK(!fleet_valid_breaker("\033[31mred"));
    CHECK(!fleet_valid_breaker("caf\xc3\xa9"));
    check_longest(fleet_valid_breaker, STATE_NAME_MAX);
}

static void quorum(void)
{
    struct fleet_view v = {0};
    uint32_t hosts;
    uint64_t until;
    CHECK(!fleet_decide(&v, 100, 1, false, &hosts, &until));
    CHECK_INT(hosts, 0);
    CHECK(fleet_view_set(&v, "a", 1000));
    CHECK(fleet_decide(&v, 100, 1, false, &hosts, &until));
    CHECK_INT(hosts, 1);
    CHECK_INT(until, 1000);
    CHECK(!fleet_decide(&v, 100, 2, false, &hosts, &until)); /* quorum 2: one host is not enough */
    CHECK(!fleet_decide(&v, 100, 2, true, &hosts, &until));  /* nor is it with this host */
    CHECK_INT(hosts, 2);
    CHECK(fleet_view_set(&v, "b", 600));
    CHECK(fleet_decide(&v, 100, 2, false, &hosts, &until));
    CHECK_INT(hosts, 2);
    CHECK_INT(until, 600); /* from 600 on only one host has it open */
    CHECK(fleet_decide(&v, 100, 1, false, &hosts, &until));
    CHECK_INT(until, 1000);
    CHECK(fleet_view_set(&v, "b", 2000)); /* b says it again: replaced, not added */
    CHECK_INT(v.count, 2);
    CHECK(fleet_decide(&v, 1500, 1, false, &hosts, &until)); /* a's time is over */
    CHECK_INT(hosts, 1);
    CHECK_INT(until, 2000);
    fleet_view_expire(&v, 1500);
    CHECK_INT(v.count, 1);
    CHECK_STR(v.hosts[0].host, "b");
    CHECK(fleet_view_set(&v, "b", 0)); /* b closed */
    CHECK_INT(v.count, 0);
    CHECK(fleet_view_set(&v, "nobody", 0));
    CHECK_INT(v.count, 0);
    char name[16];
    for (unsigned i = 0; i < FLEET_MAX_HOSTS; i++) {
        snprintf(name, sizeof name, "h%u", i);
        CHECK(fleet_view_set(&v, name, 5000));
    }
    CHECK(!fleet_view_set(&v, "one-too-many", 5000));
    CHECK(fleet_decide(&v, 0, FLEET_MAX_HOSTS, false, &hosts, &until));
    CHECK_INT(hosts, FLEET_MAX_HOSTS);
}

static void backoff(void)
{
    CHECK_INT(fleet_backoff_ms(0, 0), FLEET_BACKOFF_FIRST_MS / 2);
    CHECK_INT(fleet_backoff_ms(0, FLEET_BACKOFF_FIRST_MS / 2), FLEET_BACKOFF_FIRST_MS);
    CHECK_INT(fleet_backoff_ms(3, 0), 400);
    CHECK_INT(fleet_backoff_ms(1000, 0), FLEET_BACKOFF_MAX_MS / 2);
    for (uint32_t r = 0; r < 100000; r += 7) {
        uint32_t d = fleet_backoff_ms(r % 40, r * 2654435761u);
        if (!CHECK(d >= FLEET_BACKOFF_FIRST_MS / 2 && d <= FLEET_BACKOFF_MAX_MS))
            break;
    }
}

int main(void)
{
    RUN(urls);
    RUN(ids);
    RUN(breaker_names);
    RUN(messages_round_trip);
    RUN(quorum);
    RUN(backoff);
    return unit_done();
}
