/* The fusebox command: dispatch to subcommands, top-level help. */
#include "cli.h"

#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char fusebox_usage[] =
    "usage: fusebox COMMAND [ARGS...]\n"
    "\n"
    "Circuit breakers for unmodified programs (see README.md).\n"
    "\n"
    "commands:\n"
    "  run [-r RULES] [-s STATE] -- CMD [ARGS...]   run CMD with the fusebox shim preloaded\n"
    "  status [-s STATE] [--json]                   show every breaker of the state file\n"
    "  reset [-s STATE] NAME... | --all             close breakers and zero their counters\n"
    "  check RULES                                  validate a rules file\n"
    "  help [COMMAND]                               show help (also COMMAND --help)\n"
    "\n"
    "environment: FUSEBOX_RULES, FUSEBOX_STATE, FUSEBOX_LOG, FUSEBOX_DISABLE\n"
    "exit status: 0 ok, 1 bad input, 2 usage\n";

struct command {
    const char *name;
    int (*run)(int argc, char **argv);
};

static const struct command commands[] = {
    {"run", cmd_run},
    {"status", cmd_status},
    {"reset", cmd_reset},
    {"check", cmd_check},
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

int cli_state_options(int argc, char **argv, const char *usage, const char *flag_name,
                      char flag_char, bool *flag, const char **state_option)
{
    const struct option options[] = {{"state", required_argument, NULL, 's'},
                                     {flag_name, no_argument, NULL, flag_char},
                                     {"help", no_argument, NULL, 'h'},
                                     {NULL, 0, NULL, 0}};
    const char shorts[] = {'s', ':', flag_char, 'h', '\0'};
    int opt;
    optind = 1;
    while ((opt = getopt_long(argc, argv, shorts, options, NULL)) != -1) {
        if (opt == 's') {
            *state_option = optarg;
        } else if (opt == flag_char) {
            *flag = true;
        } else if (opt == 'h') {
            fputs(usage, stdout);
            return EXIT_OK;
        } else {
            fputs(usage, stderr);
            return EXIT_USAGE;
        }
    }
    return -1;
}

bool cli_open_state(const char *state_option, char path[PATH_MAX], struct state **st)
{
    const char *env = getenv("FUSEBOX_STATE");
    const char *chosen = state_option && *state_option ? state_option : env && *env ? env : NULL;
    *st = NULL;
    if (!chosen && state_default_path(path, PATH_MAX) != 0)
        return false;
    if (chosen && strlen(chosen) >= PATH_MAX) {
        cli_error("state file path is too long");
        return false;
    }
    if (chosen)
        strcpy(path, chosen);
    char err[PATH_MAX + 128];
    *st = state_open(path, false, err, sizeof err);
    if (!*st && errno != ENOENT) {
        cli_error("%s", err);
        return false;
    }
    return true;
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
