/* test_fleet_sentinel.c — following Redis Sentinel, the pure parts
 * (fleet_sentinel.c): the redis+sentinel:// URL, the order the sentinels are
 * asked in, the answer naming the primary, +switch-master and ROLE. */
#include <string.h>

#include "fleet_sentinel.h"
#include "unit.h"

static void sentinel_urls(void)
{
    struct fleet_sentinel_url u;
    char err[200];
    CHECK(fleet_is_sentinel_url("redis+sentinel://h/m"));
    CHECK(fleet_is_sentinel_url("rediss+sentinel://h/m"));
    CHECK(!fleet_is_sentinel_url("redis://h"));
    CHECK(fleet_parse_sentinel_url("redis+sentinel://agent:pw@10.0.0.1:26380,s2,[::1]:7/mymaster",
                                   &u, err, sizeof err));
    CHECK_INT(u.count, 3);
    CHECK_STR(u.sentinels[0].host, "10.0.0.1");
    CHECK_INT(u.sentinels[0].port, 26380);
    CHECK_STR(u.sentinels[1].host, "s2");
    CHECK_INT(u.sentinels[1].port, FLEET_SENTINEL_PORT);
    CHECK_STR(u.sentinels[2].host, "::1");
    CHECK_INT(u.sentinels[2].port, 7);
    CHECK_STR(u.master, "mymaster");
    CHECK_STR(u.node.user, "agent"); /* the userinfo is the data nodes' */
    CHECK_STR(u.node.password, "pw");
    CHECK_STR(u.node.host, "");
    CHECK_INT(u.node.db, 0);
    CHECK_STR(u.sentinels[0].password, ""); /* sentinels: no AUTH unless asked */
    CHECK(!u.node.tls);
    CHECK_INT(u.order[0], 0);
    CHECK_INT(u.order[2], 2);

    CHECK(fleet_parse_sentinel_url(
        "redis+sentinel://s1:1,s2:2/m?db=3&sentinel_password=spw&sentinel_username=sen", &u, err,
        sizeof err));
    CHECK_INT(u.node.db, 3);
    CHECK_STR(u.node.password, "");
    CHECK_STR(u.sentinels[0].user, "sen");
    CHECK_STR(u.sentinels[1].password, "spw");
    CHECK_INT(u.sentinels[1].db, 0);
    CHECK(fleet_parse_sentinel_url("rediss+sentinel://s/m", &u, err, sizeof err));
    CHECK(u.node.tls);

    static const struct {
        const char *url, *err;
    } bad[] = {
        {"redis://h/m", "'redis://h/m' is not a redis+sentinel:// URL"},
        {"redis+sentinel://s1,s2", "no /MASTER after the sentinels"},
        {"redis+sentinel://s1/", "master name '': 1 to 63 characters from A-Z a-z 0-9 _ . : -"},
        {"redis+sentinel://s1/a b",
         "master name 'a b': 1 to 63 characters from A-Z a-z 0-9 _ . : -"},
        {"redis+sentinel://s1,,s2/m", "no host"},
        {"redis+sentinel://s1:0/m", "port 0 is not 1-65535"},
        {"redis+sentinel://s1/m?db=x", "database 'x' is not a number"},
        {"redis+sentinel://s1/m?db", "parameter 'db' has no '=VALUE'"},
        {"redis+sentinel://s1/m?password=x",
         "unknown parameter 'password' (db, sentinel_username, sentinel_password)"},
        {"redis+sentinel://a,b,c,d,e,f,g,h,i/m", "more than 8 sentinels"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = '\0';
        if (!CHECK(!fleet_parse_sentinel_url(bad[i].url, &u, err, sizeof err)))
            unit_diag("#   accepted: \"%s\"\n", bad[i].url);
        CHECK_STR(err, bad[i].err);
    }
}

static void sentinel_order(void)
{
    struct fleet_sentinel_url u;
    char err[200];
    CHECK(fleet_parse_sentinel_url("redis+sentinel://a,b,c,d/m", &u, err, sizeof err));
    fleet_sentinel_prefer(&u, 2); /* c answered: asked first, the others keep their order */
    CHECK_INT(u.order[0], 2);
    CHECK_INT(u.order[1], 0);
    CHECK_INT(u.order[2], 1);
    CHECK_INT(u.order[3], 3);
    fleet_sentinel_prefer(&u, 3);
    CHECK_INT(u.order[0], 3);
    CHECK_INT(u.order[1], 2);
    CHECK_INT(u.order[3], 1);
    fleet_sentinel_prefer(&u, 3);
    CHECK_INT(u.order[0], 3);
    CHECK_INT(u.order[1], 2);
    fleet_sentinel_prefer(&u, 9); /* no such sentinel: nothing moves */
    CHECK_INT(u.order[0], 3);
}

static void sentinel_answers(void)
{
    struct fleet_sentinel_url u;
    struct fleet_url node;
    char err[200], address[64];
    CHECK(fleet_parse_sentinel_url("redis+sentinel://u:p@s/m?db=2", &u, err, sizeof err));
    CHECK(fleet_sentinel_node(&u, "10.1.2.3", "6380", &node));
    CHECK_STR(node.host, "10.1.2.3");
    CHECK_INT(node.port, 6380);
    CHECK_STR(node.user, "u");
    CHECK_STR(node.password, "p");
    CHECK_INT(node.db, 2);
    fleet_url_address(&node, address, sizeof address);
    CHECK_STR(address, "10.1.2.3:6380/2");
    CHECK(fleet_sentinel_node(&u, "::1", "1", &node));
    fleet_url_address(&node, address, sizeof address);
    CHECK_STR(address, "[::1]:1/2");
    CHECK(!fleet_sentinel_node(&u, "", "6380", &node));
    CHECK(!fleet_sentinel_node(&u, "h", "0", &node));
    CHECK(!fleet_sentinel_node(&u, "h", "65536", &node));
    CHECK(!fleet_sentinel_node(&u, "h", "", &node));

    struct fleet_switch sw;
    const char *m = "mymaster 127.0.0.1 6380 127.0.0.1 6381";
    CHECK(fleet_parse_switch(m, strlen(m), &sw));
    CHECK_STR(sw.master, "mymaster");
    CHECK_STR(sw.from.host, "127.0.0.1");
    CHECK_INT(sw.from.port, 6380);
    CHECK_STR(sw.to.host, "127.0.0.1");
    CHECK_INT(sw.to.port, 6381);
    static const char *const bad[] = {
        "",
        "m 1.1.1.1 1 2.2.2.2",
        "m 1.1.1.1 1 2.2.2.2 2 extra",
        "m 1.1.1.1 x 2.2.2.2 2",
        "m  1.1.1.1 1 2.2.2.2 2",
        "m 1.1.1.1 1 2.2.2.2 70000",
        "m 1.1.1.1 1 2.2.2.2 ",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (!CHECK(!fleet_parse_switch(bad[i], strlen(bad[i]), &sw)))
            unit_diag("#   accepted: \"%s\"\n", bad[i]);
    CHECK(!fleet_parse_switch(m, 20, &sw)); /* cut short */

    CHECK_INT(fleet_role_of("master", 6), FLEET_ROLE_MASTER);
    CHECK_INT(fleet_role_of("slave", 5), FLEET_ROLE_REPLICA);
    CHECK_INT(fleet_role_of("sentinel", 8), FLEET_ROLE_SENTINEL);
    CHECK_INT(fleet_role_of("masterx", 7), FLEET_ROLE_UNKNOWN);
    CHECK_INT(fleet_role_of("master", 5), FLEET_ROLE_UNKNOWN);
    CHECK_STR(fleet_role_name(FLEET_ROLE_REPLICA), "slave");
    CHECK_STR(fleet_role_name((enum fleet_role)42), "unknown");
}

int main(void)
{
    RUN(sentinel_urls);
    RUN(sentinel_order);
    RUN(sentinel_answers);
    return unit_done();
}
