/* fuzz_rules.c — libFuzzer harness over the rules parser and the matcher.
 *
 * Each input is a rules file: it is parsed; when it is valid, the matcher is
 * built and asked about each pattern's own name and address, their case and
 * trailing-dot variants, and a few fixed destinations. Built and run by
 * `make fuzz` (clang, ASan, UBSan); tests/fuzz/corpus holds the seeds. */
#include <arpa/inet.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "image.h"
#include "rules.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Patterns of one input whose names and addresses are asked about. */
#define PATTERNS_ASKED 32

/* Asks m about pattern p: its host as written and upper-cased with a dot. */
static void ask_pattern(const struct matcher *m, const struct host_pattern *p)
{
    uint32_t cands[8];
    if (p->name) {
        char name[HOST_NAME_MAX_LEN + 2];
        size_t len = strnlen(p->name, HOST_NAME_MAX_LEN);
        for (size_t i = 0; i < len; i++)
            name[i] = (char)(p->name[i] >= 'a' && p->name[i] <= 'z' ? p->name[i] - 32 : p->name[i]);
        name[len] = '.';
        size_t n = match_name_candidates(m, name, len + 1, cands, 8);
        match_pick_port(m, cands, n, p->port);
        name[len] = '\0';
        match_host(m, name, p->port);
    }
    if (p->kind == PATTERN_ADDRESS)
        match_address(m, p->family, p->addr, p->port);
    match_host(m, p->text, 0);
}

static void ask_fixed(const struct matcher *m)
{
    static const uint8_t v4[4] = {10, 1, 2, 3}, v6[16] = {0xfd, 0, 0, 1, [15] = 1};
    match_address(m, AF_INET, v4, 443);
    match_address(m, AF_INET6, v6, 0);
    match_host(m, "api.payments.example", 443);
    match_host(m, "[::1]", 8443);
    match_host(m, "", 1);
    matcher_has_address_patterns(m);
    matcher_has_name_patterns(m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *errors = NULL;
    struct rules *r = rules_parse((const char *)data, size, "fuzz.json", &errors);
    free(errors);
    if (!r)
        return 0;
    struct matcher *m = matcher_build(r);
    if (m) {
        for (size_t i = 0; i < r->pattern_count && i < PATTERNS_ASKED; i++)
            ask_pattern(m, &r->patterns[i]);
        ask_fixed(m);
    }
    matcher_free(m);
    rules_free(r);
    return 0;
}
