/* fusebox check: validate a rules file and summarise what it protects. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "image_load.h"
#include "rules.h"

static const char check_usage[] =
    "usage: fusebox check [--install [-s STATE]] RULES\n"
    "\n"
    "Validates a rules file (or inline JSON starting with '{'). Prints every\n"
    "problem as FILE:LINE:COL: message and exits 1, or prints a summary of\n"
    "the breakers and exits 0.\n"
    "\n"
    "  -i, --install       also compile the rules for the programs that use STATE\n"
    "                      (which they would do on their first network call)\n"
    "  -s, --state STATE   state file (default: $FUSEBOX_STATE, else per-user default)\n"
    "  -h, --help          show this help\n";

/* Compiles spec for the state file state_option names; prints where. */
static int install(const char *spec, const char *state_option)
{
    char path[PATH_MAX];
    struct image_load l;
    if (!cli_state_path(state_option, path))
        return EXIT_BAD_INPUT;
    bool usable = image_load(spec, false, path, &l);
    int status = usable && l.freshness == IMAGE_CURRENT ? EXIT_OK : EXIT_BAD_INPUT;
    if (status == EXIT_OK)
        printf("compiled into %s\n", l.image_path);
    else
        cli_error("check: %s was not compiled: %s", spec, l.errors ? l.errors : "out of memory");
    if (l.image_problem)
        cli_error("%s: %s", l.image_path, l.image_problem);
    image_load_release(&l, true);
    return status;
}

static void print_classes(uint32_t mask)
{
    const char *sep = "";
    for (int c = OUTCOME_SUCCESS + 1; c < CLASS_COUNT; c++) {
        if (mask & CLASS_BIT(c)) {
            printf("%s%s", sep, outcome_class_name((enum outcome_class)c));
            sep = ",";
        }
    }
}

/* Prints the policies beyond pybreaker's that c sets, each as ", key …". */
static void print_extras(const struct rule_breaker *rb)
{
    const struct breaker_config *c = &rb->config;
    if (c->failure_rate)
        printf(", failure_rate %u%%", c->failure_rate);
    if (c->slow_call_ms)
        printf(", slow_call %ums", c->slow_call_ms);
    if (c->slow_rate)
        printf(" at %u%%", c->slow_rate);
    if (c->window_ms)
        printf(" (window %gs, min_calls %u)", c->window_ms / 1000.0, c->min_calls);
    if (c->backoff_multiplier > 1)
        printf(", backoff x%g up to %gs, jitter %g", c->backoff_multiplier,
               c->backoff_max_ms / 1000.0, c->backoff_jitter_permille / 1000.0);
    if (c->half_open_max_wait_ms)
        printf(", half_open_max_wait %gs", c->half_open_max_wait_ms / 1000.0);
    if (rb->per_host)
        printf(", per_host (max_hosts %u)", rb->max_hosts);
    if (rb->protocol == PROTOCOL_TCP)
        printf(", protocol tcp");
}

static void print_summary(const struct rules *r)
{
    printf("%s: ok, %zu breaker%s, %zu host pattern%s\n", r->source, r->breaker_count,
           r->breaker_count == 1 ? "" : "s", r->pattern_count, r->pattern_count == 1 ? "" : "s");
    size_t p = 0; /* patterns are in file order: each breaker's are together */
    for (size_t b = 0; b < r->breaker_count; b++) {
        const struct rule_breaker *rb = &r->breakers[b];
        const struct breaker_config *c = &rb->config;
        printf("  %s: ", rb->name);
        if (c->fail_max)
            printf("fail_max %u, ", c->fail_max);
        printf("reset_timeout %gs, success_threshold %u, half_open_max_calls %u, failure_on ",
               c->reset_timeout_ms / 1000.0, c->success_threshold, c->half_open_max_calls);
        print_classes(c->failure_mask);
        print_extras(rb);
        printf("\n    hosts:");
        for (; p < r->pattern_count && r->patterns[p].breaker == b; p++)
            printf(" %s", r->patterns[p].text);
        printf("\n");
    }
}

int cmd_check(int argc, char **argv)
{
    const char *state_option = NULL;
    bool installing = false;
    const struct cli_option opts[] = {{"install", 'i', &installing, NULL}, {0}};
    int done = cli_parse_options(argc, argv, check_usage, opts, &state_option);
    if (done >= 0)
        return done;
    if (optind + 1 != argc || (state_option && !installing)) {
        fputs(check_usage, stderr);
        return EXIT_USAGE;
    }
    const char *spec = argv[optind];
    char *errors = NULL;
    struct rules *r = rules_load(spec, &errors);
    if (!r) {
        fputs(errors ? errors : "fusebox: check: out of memory\n", stderr);
        free(errors);
        return EXIT_BAD_INPUT;
    }
    print_summary(r);
    rules_free(r);
    return installing ? install(spec, state_option) : EXIT_OK;
}
