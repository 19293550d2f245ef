/* fusebox run: exec a command with the shim preloaded and the rules and
 * state file given on the command line. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

static const char run_usage[] =
    "usage: fusebox run [-r RULES] [-s STATE] [--] CMD [ARGS...]\n"
    "\n"
    "Runs CMD (and every program it starts) with libfusebox.so preloaded.\n"
    "\n"
    "  -r, --rules RULES   rules file, or inline JSON starting with '{' (default:\n"
    "                      $FUSEBOX_RULES, else " RULES_SYSTEM_PATH ")\n"
    "  -s, --state STATE   shared state file (default: $FUSEBOX_STATE, else per-user default)\n"
    "  -h, --help          show this help\n"
    "\n"
    "The exit status is CMD's; 126/127 when CMD cannot be run.\n";

/* Sets name to an absolute form of path (rules given inline stay as they are). */
static bool export_path(const char *name, const char *path, bool may_be_inline)
{
    char abs[PATH_MAX];
    if (may_be_inline && path[strspn(path, " \t\r\n")] == '{')
        return setenv(name, path, 1) == 0;
    if (path[0] != '/') {
        if (!getcwd(abs, sizeof abs) || strlen(abs) + 1 + strlen(path) >= sizeof abs) {
            cli_error("%s: path too long", path);
            return false;
        }
        strcat(abs, "/");
        strcat(abs, path);
        path = abs;
    }
    return setenv(name, path, 1) == 0;
}

static bool add_preload(const char *library)
{
    const char *old = getenv("LD_PRELOAD");
    if (!old || !*old)
        return setenv("LD_PRELOAD", library, 1) == 0;
    if (strstr(old, library))
        return true;
    size_t len = strlen(old) + 1 + strlen(library) + 1;
    char *joined = malloc(len);
    if (!joined)
        return false;
    snprintf(joined, len, "%s:%s", old, library);
    bool ok = setenv("LD_PRELOAD", joined, 1) == 0;
    free(joined);
    return ok;
}

int cmd_run(int argc, char **argv)
{
    static const struct option options[] = {{"rules", required_argument, NULL, 'r'},
                                            {"state", required_argument, NULL, 's'},
                                            {"help", no_argument, NULL, 'h'},
                                            {NULL, 0, NULL, 0}};
    const char *rules = NULL, *state = NULL;
    int opt;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "+r:s:h", options, NULL)) != -1) {
        switch (opt) {
        case 'r':
            rules = optarg;
            break;
        case 's':
            state = optarg;
            break;
        case 'h':
            fputs(run_usage, stdout);
            return EXIT_OK;
        default:
            fputs(run_usage, stderr);
            return EXIT_USAGE;
        }
    }
    if (optind >= argc) {
        cli_error("run: no command given");
        fputs(run_usage, stderr);
        return EXIT_USAGE;
    }
    bool system;
    rules = cli_rules_spec(rules, &system);
    if (!rules) {
        cli_error("run: no rules: give -r RULES, set FUSEBOX_RULES or write " RULES_SYSTEM_PATH);
        return EXIT_USAGE;
    }
    char library[PATH_MAX];
    if (!cli_find_library(library)) {
        cli_error("run: cannot find libfusebox.so next to this program or in ../lib/fusebox/");
        return EXIT_BAD_INPUT;
    }
    /* The system file is left for the shim to find, and to check. */
    if ((!system && !export_path("FUSEBOX_RULES", rules, true)) ||
        (state && !export_path("FUSEBOX_STATE", state, false)) || !add_preload(library)) {
        cli_error("run: cannot set the environment: %s", strerror(errno));
        return EXIT_BAD_INPUT;
    }
    execvp(argv[optind], argv + optind);
    int err = errno;
    cli_error("run: %s: %s", argv[optind], strerror(err));
    return err == ENOENT ? 127 : 126;
}
