/* fusebox explain: which breaker a destination maps to, by which pattern,
 * why that pattern won, and the breaker's current state. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "image.h"
#include "rules.h"

static const char explain_usage[] =
    "usage: fusebox explain [-r RULES] [-s STATE] HOST[:PORT] | [HOST]:PORT | URL\n"
    "\n"
    "Shows which breaker a destination maps to, by which host pattern and why\n"
    "it won over the other patterns that match, and the breaker's state.\n"
    "A URL's port defaults to its scheme's (http 80, https 443, ...).\n"
    "\n"
    "  -r, --rules RULES   rules file or inline JSON (default: $FUSEBOX_RULES, else\n"
    "                      " RULES_SYSTEM_PATH ")\n"
    "  -s, --state STATE   state file (default: $FUSEBOX_STATE, else per-user default)\n"
    "  -h, --help          show this help\n";

#define MAX_HOST 300

struct target {
    char host[MAX_HOST];
    uint16_t port; /* 0: not given */
};

static uint16_t scheme_port(const char *scheme, size_t len)
{
    static const struct {
        const char *name;
        uint16_t port;
    } schemes[] = {{"http", 80},       {"https", 443},       {"ws", 80},      {"wss", 443},
                   {"ftp", 21},        {"ssh", 22},          {"git", 9418},   {"redis", 6379},
                   {"postgres", 5432}, {"postgresql", 5432}, {"mysql", 3306}, {"ldap", 389}};
    for (size_t i = 0; i < sizeof schemes / sizeof schemes[0]; i++)
        if (strlen(schemes[i].name) == len && strncasecmp(scheme, schemes[i].name, len) == 0)
            return schemes[i].port;
    return 0;
}

/* Splits HOST[:PORT], [V6]:PORT or a URL into t; false when it is none. */
static bool parse_target(const char *text, struct target *t)
{
    const char *start = text, *sep = strstr(text, "://");
    t->port = 0;
    if (sep) {
        t->port = scheme_port(text, (size_t)(sep - text));
        start = sep + 3;
    }
    size_t len = strcspn(start, "/?#");
    const char *at = memchr(start, '@', len);
    if (at) {
        len -= (size_t)(at + 1 - start);
        start = at + 1;
    }
    const char *host = start, *port = NULL;
    size_t host_len = len;
    if (*start == '[') {
        const char *close = memchr(start, ']', len);
        if (!close)
            return false;
        host_len = (size_t)(close - start) + 1;
        if (host_len < len && close[1] == ':')
            port = close + 2;
    } else {
        const char *colon = memchr(start, ':', len);
        if (colon && !memchr(colon + 1, ':', len - (size_t)(colon + 1 - start))) {
            host_len = (size_t)(colon - start);
            port = colon + 1;
        }
    }
    if (host_len == 0 || host_len >= sizeof t->host)
        return false;
    memcpy(t->host, host, host_len);
    t->host[host_len] = '\0';
    if (port) {
        char *end;
        unsigned long p = strtoul(port, &end, 10);
        if (end == port || end != start + len || p == 0 || p > 65535)
            return false;
        t->port = (uint16_t)p;
    }
    return true;
}

static const char *kind_name(const struct host_pattern *p)
{
    switch (p->kind) {
    case PATTERN_EXACT:
        return p->port ? "exact name and port" : "exact name";
    case PATTERN_WILDCARD:
        return p->port ? "wildcard and port" : "wildcard";
    case PATTERN_ADDRESS:
        return p->port ? "address/prefix and port" : "address/prefix";
    default:
        return p->port ? "any host, this port" : "any host";
    }
}

static void print_state(const char *state_option, const char *breaker)
{
    char path[PATH_MAX];
    struct state *st;
    if (!cli_open_state(state_option, false, path, &st))
        return;
    struct state_slot *slot = st ? state_find_slot(st, breaker, false) : NULL;
    if (!slot) {
        printf("state: closed (not used yet; no slot in %s)\n", path);
    } else {
        struct breaker_row row;
        cli_read_row(slot, &row);
        bool forced = row.view.state == BREAKER_FORCED_OPEN;
        printf("state: %s", breaker_state_name(row.view.state));
        if (forced && row.retry_in_ms < 0)
            printf(" until closed");
        else if (forced)
            printf(", %.1fs left", row.retry_in_ms / 1000.0);
        printf(", %u consecutive failures", row.consecutive);
        if (!forced && row.retry_in_ms >= 0)
            printf(", next probe in %.1fs", row.retry_in_ms / 1000.0);
        printf(" (%s)\n", path);
    }
    state_close(st);
}

/* Names the addresses calls go to while breaker b is open, if it has any. */
static void print_fallback(const struct rule_breaker *b)
{
    if (!b->fallback_count)
        return;
    printf("fallback while open:");
    for (uint32_t i = 0; i < b->fallback_count; i++)
        printf("%s %s:%u", i ? "," : "", b->fallbacks[i].host, (unsigned)b->fallbacks[i].port);
    printf("\n");
}

/* Lists the host-name patterns that match, best first, marking the one the
 * port selects. */
static void print_candidates(const struct rules *r, const struct matcher *m, const struct target *t,
                             int chosen)
{
    uint32_t cands[32];
    size_t n = match_name_candidates(m, t->host, strlen(t->host), cands, 32);
    if (n == 0)
        return;
    printf("host-name patterns that match, most specific first:\n");
    for (size_t i = 0; i < n; i++) {
        const struct host_pattern *p = &r->patterns[cands[i]];
        const char *verdict = (int)cands[i] == chosen         ? "<- chosen"
                              : p->port && p->port != t->port ? "(other port)"
                                                              : "(less specific)";
        printf("  %-32s %-22s breaker %-16s %s\n", p->text, kind_name(p),
               r->breakers[p->breaker].name, verdict);
    }
}

int cmd_explain(int argc, char **argv)
{
    const char *state_option = NULL, *rules_spec = NULL;
    const struct cli_option opts[] = {{"rules", 'r', NULL, &rules_spec}, {0}};
    int done = cli_parse_options(argc, argv, explain_usage, opts, &state_option);
    if (done >= 0)
        return done;
    struct target t;
    if (optind + 1 != argc) {
        fputs(explain_usage, stderr);
        return EXIT_USAGE;
    }
    if (!parse_target(argv[optind], &t)) {
        cli_error("explain: '%s' is not HOST[:PORT], [IPV6]:PORT or a URL", argv[optind]);
        return EXIT_BAD_INPUT;
    }
    bool system;
    rules_spec = cli_rules_spec(rules_spec, &system);
    if (!rules_spec) {
        cli_error(
            "explain: no rules: give -r RULES, set FUSEBOX_RULES or write " RULES_SYSTEM_PATH);
        return EXIT_USAGE;
    }
    struct rules *r = cli_load_rules(rules_spec, system);
    struct matcher *m = r ? matcher_build(r) : NULL;
    if (!m) {
        if (r)
            cli_error("explain: out of memory");
        rules_free(r);
        return EXIT_BAD_INPUT;
    }
    int chosen = match_host(m, t.host, t.port);
    if (t.port)
        printf("destination: %s port %u\n", t.host, t.port);
    else
        printf("destination: %s (no port given: only patterns without a port apply)\n", t.host);
    print_candidates(r, m, &t, chosen);
    if (chosen < 0) {
        printf("breaker: none; calls to it pass through untouched\n");
    } else {
        const struct host_pattern *p = &r->patterns[chosen];
        printf("breaker: %s\n  by pattern \"%s\" (%s) at %s:%u:%u\n", r->breakers[p->breaker].name,
               p->text, kind_name(p), r->source, p->line, p->col);
        const struct rule_breaker *b = &r->breakers[p->breaker];
        char own[STATE_NAME_MAX];
        if (b->per_host && t.port &&
            rules_host_breaker_name(b->name, t.host, t.port, own, sizeof own)) {
            printf("per host: this destination has its own breaker %s (at most %u hosts)\n", own,
                   b->max_hosts);
            print_state(state_option, own);
        } else {
            print_state(state_option, b->name);
        }
        print_fallback(b);
    }
    matcher_free(m);
    rules_free(r);
    return EXIT_OK;
}
