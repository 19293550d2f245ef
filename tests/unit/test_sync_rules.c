/* test_sync_rules.c — how the fleet agent follows its rules file
 * (sync_rules.c), against files this test writes and renames. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sync_rules.h"
#include "unit.h"

static char dir[] = "/tmp/fusebox-unit-rules-XXXXXX";

/* Writes text to path through a new file renamed over it (as editors do). */
static void write_file(const char *path, const char *text)
{
    char tmp[128];
    snprintf(tmp, sizeof tmp, "%s.new", path);
    FILE *f = fopen(tmp, "w");
    CHECK(f != NULL);
    if (!f)
        return;
    fputs(text, f);
    fclose(f);
    CHECK(rename(tmp, path) == 0);
}

static const char good1[] =
    "{\"version\": 1, \"breakers\": [{\"name\": \"a\", \"hosts\": [\"h\"]}]}\n";
static const char good2[] =
    "{\"version\": 1, \"breakers\": [{\"name\": \"a\", \"hosts\": [\"h\"]},\n"
    "  {\"name\": \"b\", \"hosts\": [\"i\"]}]}\n";
static const char broken[] =
    "{\"version\": 1,\n \"breakers\": [{\"name\": \"a\", \"hosts\": 3}]}\n";

static void rules_following(void)
{
    CHECK(mkdtemp(dir) != NULL);
    char path[128], why[512];
    snprintf(path, sizeof path, "%s/rules.json", dir);
    write_file(path, good1);
    struct rules_follow f;
    rules_follow_init(&f, path, false, 1000);
    CHECK(f.file);
    CHECK(rules_follow_check(&f, 1500, false, why, sizeof why) == NULL); /* not due */
    CHECK(rules_follow_check(&f, 2000, false, why, sizeof why) == NULL); /* due, unchanged */
    CHECK_STR(why, "");

    write_file(path, good2); /* an edit: loaded at the next check */
    CHECK(rules_follow_check(&f, 2500, false, why, sizeof why) == NULL);
    struct rules *r = rules_follow_check(&f, 3000, false, why, sizeof why);
    CHECK(r != NULL && r->breaker_count == 2);
    rules_free(r);
    CHECK(rules_follow_check(&f, 4000, false, why, sizeof why) == NULL); /* seen */

    r = rules_follow_check(&f, 4100, true, why, sizeof why); /* asked: loaded even unchanged */
    CHECK(r != NULL && r->breaker_count == 2);
    rules_free(r);

    write_file(path, broken); /* one warning with file:line:col, then quiet */
    CHECK(rules_follow_check(&f, 5100, false, why, sizeof why) == NULL);
    char want[512];
    snprintf(want, sizeof want, "rules not reloaded, keeping the last good ones: %s:2:", path);
    if (!CHECK(strncmp(why, want, strlen(want)) == 0))
        unit_diag("#   got \"%s\"\n", why);
    CHECK(strchr(why, '\n') == NULL);
    CHECK(rules_follow_check(&f, 6100, false, why, sizeof why) == NULL);
    CHECK_STR(why, "");
    CHECK(rules_follow_check(&f, 6200, true, why, sizeof why) == NULL); /* asked: said again */
    CHECK(strncmp(why, want, strlen(want)) == 0);

    CHECK(unlink(path) == 0); /* gone: said once */
    CHECK(rules_follow_check(&f, 7200, false, why, sizeof why) == NULL);
    CHECK(strstr(why, "No such file or directory; keeping the last good rules") != NULL);
    CHECK(rules_follow_check(&f, 8200, false, why, sizeof why) == NULL);
    CHECK_STR(why, "");
    write_file(path, good1); /* back */
    r = rules_follow_check(&f, 9200, false, why, sizeof why);
    CHECK(r != NULL && r->breaker_count == 1);
    rules_free(r);
    unlink(path);
    rmdir(dir);

    rules_follow_init(&f, "{\"version\": 1, \"breakers\": []}", false, 0);
    CHECK(!f.file);
    CHECK(rules_follow_check(&f, 5000, false, why, sizeof why) == NULL);
    CHECK_STR(why, "");
    CHECK(rules_follow_check(&f, 5000, true, why, sizeof why) == NULL);
    CHECK_STR(why, "the rules are inline JSON: nothing to reload");
    rules_follow_init(&f, NULL, false, 0);
    CHECK(rules_follow_check(&f, 5000, true, why, sizeof why) == NULL);
    CHECK_STR(why, "no rules file: nothing to reload");
}

int main(void)
{
    RUN(rules_following);
    return unit_done();
}
