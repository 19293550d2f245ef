/* test_fuzz_corpus.c — every input of the fuzzing seed corpus
 * (tests/fuzz/corpus, run from the top of the tree), through the fuzzing
 * harness itself: an input that once crashed is added to the corpus and stays
 * a regression test here, with or without SANITIZE. */
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

static void every_corpus_input_runs_clean(void)
{
    DIR *dir = opendir(CORPUS);
    if (!dir) {
        unit_skip(CORPUS " not found from this directory");
        return;
    }
    int inputs = 0;
    for (struct dirent *e; (e = readdir(dir)) != NULL;) {
        if (e->d_name[0] == '.')
            continue;
        char path[512];
        size_t len = 0;
        snprintf(path, sizeof path, "%s/%s", CORPUS, e->d_name);
        char *data = read_all(path, &len);
        if (CHECK_CTX(data != NULL, "%s", path))
            CHECK_INT(LLVMFuzzerTestOneInput((const uint8_t *)data, len), 0);
        free(data);
        inputs++;
    }
    closedir(dir);
    CHECK(inputs >= 20);
}

int main(void)
{
    RUN(every_corpus_input_runs_clean);
    return unit_done();
}
