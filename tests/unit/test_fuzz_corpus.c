/* test_fuzz_corpus.c — every input of the fuzzing seed corpus
 * (tests/fuzz/corpus, run from the top of the tree), through the fuzzing
 * harness itself: an input that once crashed is added to the corpus and stays
 * a regression test here, with or without SANITIZE. For the valid inputs it
 * also checks what the matcher must say: every exact name and every full-length
 * address pattern, asked with its own port, maps to its own breaker. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>

#include "../fuzz/fuzz_rules.c"
#include "unit.h"

#define CORPUS "tests/fuzz/corpus"

/* Reads the whole file at path into a malloc'd buffer; NULL on failure. */
static char *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    if (f && fseek(f, 0, SEEK_END) == 0) {
        long size = ftell(f);
        rewind(f);
        buf = size >= 0 ? malloc((size_t)size + 1) : NULL;
        if (buf && fread(buf, 1, (size_t)size, f) != (size_t)size) {
            free(buf);
            buf = NULL;
        }
        *len = (size_t)size;
    }
    if (f)
        fclose(f);
    return buf;
}

/* Checks that the matcher built from r maps every exact name pattern and
 * every single-address pattern, asked with its own port, to its own breaker;
 * returns how many patterns it asked about. */
static size_t exact_patterns_map_to_their_breaker(const struct rules *r, const char *path)
{
    struct matcher *m = matcher_build(r);
    size_t asked = 0;
    if (!CHECK_CTX(m != NULL, "%s: matcher_build", path))
        return 0;
    for (size_t i = 0; i < r->pattern_count; i++) {
        const struct host_pattern *p = &r->patterns[i];
        int got;
        if (p->kind == PATTERN_EXACT)
            got = match_host(m, p->name, p->port);
        else if (p->kind == PATTERN_ADDRESS && p->prefix_len == (p->family == AF_INET ? 32 : 128))
            got = match_address(m, p->family, p->addr, p->port);
        else
            continue;
        asked++;
        CHECK_CTX(got >= 0 && r->patterns[got].breaker == p->breaker,
                  "%s: pattern %s (breaker %s) matched %s", path, p->text,
                  r->breakers[p->breaker].name,
                  got >= 0 ? r->breakers[r->patterns[got].breaker].name : "nothing");
    }
    matcher_free(m);
    return asked;
}

static void every_corpus_input_runs_clean(void)
{
    DIR *dir = opendir(CORPUS);
    if (!CHECK_CTX(dir != NULL, "%s: not found from this directory", CORPUS))
        return;
    int inputs = 0;
    size_t asked = 0;
    for (struct dirent *e; (e = readdir(dir)) != NULL;) {
        if (e->d_name[0] == '.')
            continue;
        char path[512];
        size_t len = 0;
        snprintf(path, sizeof path, "%s/%s", CORPUS, e->d_name);
        char *data = read_all(path, &len);
        if (CHECK_CTX(data != NULL, "%s", path)) {
            CHECK_INT(LLVMFuzzerTestOneInput((const uint8_t *)data, len), 0);
            char *errors = NULL;
            struct rules *r = rules_parse(data, len, path, &errors);
            if (r)
                asked += exact_patterns_map_to_their_breaker(r, path);
            rules_free(r);
            free(errors);
        }
        free(data);
        inputs++;
    }
    closedir(dir);
    CHECK(inputs >= 20);
    CHECK_CTX(asked >= 20, "only %zu exact patterns in the corpus", asked);
}

int main(void)
{
    RUN(every_corpus_input_runs_clean);
    return unit_done();
}
