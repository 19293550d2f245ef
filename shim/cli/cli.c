/* The fusebox command: dispatch to subcommands, top-level help. */
#include "cli.h"

#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char fusebox_usage[] =
    "usage: fusebox COMMAND [ARGS...]\n"
    "\n"
    "Circuit breakers for unmodified programs (see fusebox(1), fusebox-rules(5)).\n"
    "\n"
    "commands:\n"
    "  run [-r RULES] [-s STATE] -- CMD [ARGS...]   run CMD with the fusebox shim preloaded\n"
    "  status [--json | --watch | --verify | --all] show every breaker of the state file\n"
    "  events [--follow] [--json] [--since DUR]     show breaker transitions\n"
    "  metrics                                      breakers in Prometheus text format\n"
    "  open NAME... [--for DURATION]                force breakers open\n"
    "  close NAME...                                close breakers\n"
    "  disable NAME... | enable NAME...             let everything through / back to normal\n"
    "  reset NAME... | --all [--recreate]           close breakers and zero their counters\n"
    "  fsck                                         check the state file for damage\n"
    "  gc [-r RULES] [--idle DURATION]              give back slots of unused breakers in no rule\n"
    "  check [--install] RULES                      validate a rules file (and compile it)\n"
    "  reload [-r RULES]                            compile the rules; processes take them now\n"
    "  explain [-r RULES] HOST[:PORT] | URL         which breaker a destination maps to\n"
    "  serve [--listen ADDR:PORT] [--allow-control] dashboard, metrics and health over HTTP\n"
    "  sync --redis URL [--host-id ID]              fleet agent: share breakers through Redis\n"
    "  systemd-dropin SERVICE [-r RULES] [-s STATE] print a drop-in that protects a service\n"
    "  help [COMMAND]                               show help (also COMMAND --help)\n"
    "  --version                                    print the version\n"
    "\n"
    "Commands that read breakers take -s STATE (default: $FUSEBOX_STATE, else per-user).\n"
    "Commands that read rules take -r RULES (default: $FUSEBOX_RULES, else " RULES_SYSTEM_PATH
    ").\n"
    "\n"
    "environment: FUSEBOX_RULES, FUSEBOX_STATE, FUSEBOX_LOG, FUSEBOX_SYSLOG, FUSEBOX_DISABLE,\n"
    "             FUSEBOX_REDIS (sync, open --fleet)\n"
    "exit status: 0 ok, 1 bad input, 2 usage\n";

struct command {
    const char *name;
    int (*run)(int argc, char **argv);
};

static const struct command commands[] = {
    {"run", cmd_run},         {"status", cmd_status},   {"events", cmd_events},
    {"metrics", cmd_metrics}, {"open", cmd_open},       {"close", cmd_close},
    {"disable", cmd_disable}, {"enable", cmd_enable},   {"reset", cmd_reset},
    {"check", cmd_check},     {"explain", cmd_explain}, {"serve", cmd_serve},
    {"fsck", cmd_fsck},       {"sync", cmd_sync},       {"systemd-dropin", cmd_systemd_dropin},
    {"gc", cmd_gc},           {"reload", cmd_reload},
};

void cli_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("fusebox: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

int cli_parse_options(int argc, char **argv, const char *usage, const struct cli_option *opts,
                      const char **state_option)
{
    struct option longs[16] = {{"help", no_argument, NULL, 'h'}};
    char shorts[40] = "h";
    size_t n = 1, len = 1;
    if (state_option) {
        longs[n++] = (struct option){"state", required_argument, NULL, 's'};
        strcpy(shorts + len, "s:");
        len += 2;
    }
    for (const struct cli_option *o = opts; o && o->name && n < 15; o++) {
        longs[n++] =
            (struct option){o->name, o->value ? required_argument : no_argument, NULL, o->letter};
        shorts[len++] = o->letter;
        if (o->value)
            shorts[len++] = ':';
    }
    int opt;
    optind = 1;
    while ((opt = getopt_long(argc, argv, shorts, longs, NULL)) != -1) {
        if (opt == 'h') {
            fputs(usage, stdout);
            return EXIT_OK;
        }
        if (opt == 's' && state_option) {
            *state_option = optarg;
            continue;
        }
        const struct cli_option *o = opts;
        while (o && o->name && o->letter != opt)
            o++;
        if (!o || !o->name) {
            fputs(usage, stderr);
            return EXIT_USAGE;
        }
        if (o->value)
            *o->value = optarg;
        else
            *o->set = true;
    }
    return -1;
}

bool cli_parse_duration(const char *text, uint64_t *ms)
{
    static const struct {
        const char *unit;
        double ms;
    } units[] = {{"", 1000}, {"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000}, {"d", 86400000}};
    char *end;
    errno = 0;
    double value = strtod(text, &end);
    if (end == text || errno || !(value >= 0) || value > 1e9)
        return false;
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
        if (strcmp(end, units[i].unit) == 0) {
            *ms = (uint64_t)(value * units[i].ms + 0.5);
            return true;
        }
    }
    return false;
}

bool cli_state_path(const char *state_option, char path[PATH_MAX])
{
    const char *env = getenv("FUSEBOX_STATE");
    const char *chosen = state_option && *state_option ? state_option : env && *env ? env : NULL;
    if (!chosen && state_default_path(path, PATH_MAX) != 0)
        return false;
    if (chosen && strlen(chosen) >= PATH_MAX) {
        cli_error("state file path is too long");
        return false;
    }
    if (chosen)
        strcpy(path, chosen);
    return true;
}

bool cli_open_state(const char *state_option, bool create, char path[PATH_MAX], struct state **st)
{
    *st = NULL;
    if (!cli_state_path(state_option, path))
        return false;
    char err[PATH_MAX + 128];
    *st = state_open(path, create, err, sizeof err);
    if (!*st && errno != ENOENT) {
        cli_error("%s", err);
        return false;
    }
    return true;
}

const char *cli_rules_spec(const char *option, bool *system)
{
    const char *env = getenv("FUSEBOX_RULES");
    *system = false;
    if (option && *option)
        return option;
    if (env && *env)
        return env;
    *system = access(RULES_SYSTEM_PATH, F_OK) == 0;
    return *system ? RULES_SYSTEM_PATH : NULL;
}

struct rules *cli_load_rules(const char *spec, bool system)
{
    char *errors = NULL;
    struct rules *r = system ? rules_load_system(spec, true, &errors) : rules_load(spec, &errors);
    if (!r)
        fputs(errors ? errors : "fusebox: out of memory\n", stderr);
    free(errors);
    return r;
}

bool cli_find_library(char out[PATH_MAX])
{
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0)
        return false;
    self[n] = '\0';
    const char *dir = dirname(self);
    const char *const layouts[] = {"%s/libfusebox.so", "%s/../lib/fusebox/libfusebox.so",
                                   "%s/../lib/" FUSEBOX_MULTIARCH "/fusebox/libfusebox.so"};
    for (size_t i = 0; i < sizeof layouts / sizeof layouts[0]; i++) {
        char candidate[PATH_MAX];
        if (snprintf(candidate, sizeof candidate, layouts[i], dir) < (int)sizeof candidate &&
            realpath(candidate, out) && access(out, R_OK) == 0)
            return true;
    }
    return false;
}

static const struct command *find_command(const char *name)
{
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(name, commands[i].name) == 0)
            return &commands[i];
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fputs(fusebox_usage, stderr);
        return EXIT_USAGE;
    }
    const char *name = argv[1];
    if (strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0 ||
        (strcmp(name, "help") == 0 && argc == 2)) {
        fputs(fusebox_usage, stdout);
        return EXIT_OK;
    }
    if (strcmp(name, "--version") == 0) {
        printf("fusebox %s\n", FUSEBOX_VERSION);
        return EXIT_OK;
    }
    if (strcmp(name, "help") == 0) {
        const struct command *c = find_command(argv[2]);
        if (!c) {
            cli_error("no command '%s' (see fusebox --help)", argv[2]);
            return EXIT_USAGE;
        }
        char *help_argv[] = {argv[2], "--help", NULL};
        return c->run(2, help_argv);
    }
    const struct command *c = find_command(name);
    if (!c) {
        cli_error("no command '%s' (see fusebox --help)", name);
        return EXIT_USAGE;
    }
    return c->run(argc - 1, argv + 1);
}
