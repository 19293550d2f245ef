/* fusebox systemd-dropin: prints a systemd drop-in that runs one service
 * with the shim preloaded, its rules and the shared system state file. */
#include <getopt.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

#define SHARED_STATE "/run/fusebox/state"

static const char dropin_usage[] =
    "usage: fusebox systemd-dropin SERVICE [-r RULES] [-s STATE]\n"
    "\n"
    "Prints a systemd drop-in that runs SERVICE with libfusebox.so preloaded.\n"
    "Save it as /etc/systemd/system/SERVICE.service.d/fusebox.conf, then\n"
    "systemctl daemon-reload and systemctl restart SERVICE.\n"
    "\n"
    "  -r, --rules RULES   rules file or inline JSON (default: none in the drop-in,\n"
    "                      so the shim reads " RULES_SYSTEM_PATH ")\n"
    "  -s, --state STATE   state file (default: " SHARED_STATE " with the\n"
    "                      service in group " STATE_GROUP " when that group exists,\n"
    "                      else the service user's own default)\n"
    "  -h, --help          show this help\n";

/* Writes into unit the service unit that name names ("nginx" or
 * "nginx.service"; templates and instances too). Returns false when name is
 * not a unit name systemd accepts (ASCII letters, digits and ":-_.\@", 255
 * bytes at most) or names a unit of another type. */
static bool service_unit(const char *name, char unit[256])
{
    static const char *const other_types[] = {".socket", ".timer",    ".target", ".mount",
                                              ".path",   ".slice",    ".scope",  ".device",
                                              ".swap",   ".automount"};
    const char *dot = strrchr(name, '.');
    bool has_suffix = dot && strcmp(dot, ".service") == 0;
    for (size_t i = 0; dot && i < sizeof other_types / sizeof other_types[0]; i++)
        if (strcmp(dot, other_types[i]) == 0)
            return false;
    int len = snprintf(unit, 256, has_suffix ? "%s" : "%s.service", name);
    return len > (int)strlen(".service") && len < 256 &&
           strspn(unit, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                        "0123456789:-_.\\@") == (size_t)len;
}

/* Whether value holds a control character (which no quoting carries). */
static bool has_control(const char *value)
{
    for (const char *c = value; c && *c; c++)
        if ((unsigned char)*c < 0x20 || *c == 0x7f)
            return true;
    return false;
}

/* Prints Environment="NAME=VALUE" with value quoted for a unit file (\ and "
 * escaped, % doubled: systemd expands specifiers there). */
static void print_environment(const char *name, const char *value)
{
    printf("Environment=\"%s=", name);
    for (const char *c = value; *c; c++) {
        if (*c == '\\' || *c == '"')
            putchar('\\');
        if (*c == '%')
            putchar('%');
        putchar(*c);
    }
    printf("\"\n");
}

/* Writes into out the absolute form of path (relative to the current
 * directory); false when it does not fit. */
static bool absolute(const char *path, char out[PATH_MAX])
{
    char cwd[PATH_MAX];
    if (path[0] == '/')
        return snprintf(out, PATH_MAX, "%s", path) < PATH_MAX;
    return getcwd(cwd, sizeof cwd) && snprintf(out, PATH_MAX, "%s/%s", cwd, path) < PATH_MAX;
}

int cmd_systemd_dropin(int argc, char **argv)
{
    const char *rules = NULL, *state = NULL;
    const struct cli_option opts[] = {{"rules", 'r', NULL, &rules}, {0}};
    int done = cli_parse_options(argc, argv, dropin_usage, opts, &state);
    if (done >= 0)
        return done;
    if (optind + 1 != argc) {
        fputs(dropin_usage, stderr);
        return EXIT_USAGE;
    }
    char unit[256], library[PATH_MAX], rules_path[PATH_MAX], state_path[PATH_MAX];
    if (!service_unit(argv[optind], unit)) {
        cli_error("systemd-dropin: '%s' is not the name of a service", argv[optind]);
        return EXIT_BAD_INPUT;
    }
    if (!cli_find_library(library)) {
        cli_error("systemd-dropin: cannot find libfusebox.so next to this program or in "
                  "../lib/fusebox/");
        return EXIT_BAD_INPUT;
    }
    bool inline_rules = rules && rules[strspn(rules, " \t\r\n")] == '{';
    if ((rules && !inline_rules && !absolute(rules, rules_path)) ||
        (state && !absolute(state, state_path))) {
        cli_error("systemd-dropin: path too long");
        return EXIT_BAD_INPUT;
    }
    const char *rules_value = inline_rules ? rules : rules_path;
    if (has_control(library) || (rules && has_control(rules_value)) ||
        (state && has_control(state_path))) {
        cli_error("systemd-dropin: a path or the rules hold a control character");
        return EXIT_BAD_INPUT;
    }
    if (!rules && access(RULES_SYSTEM_PATH, F_OK) != 0)
        cli_error("systemd-dropin: warning: no -r RULES and no " RULES_SYSTEM_PATH
                  ": the service runs unprotected until that file exists");
    bool shared = !state && getgrnam(STATE_GROUP) != NULL;
    printf("# %s: fusebox drop-in, made by fusebox systemd-dropin.\n"
           "# Save as /etc/systemd/system/%s.d/fusebox.conf, then systemctl daemon-reload\n"
           "# and systemctl restart %s. It replaces an LD_PRELOAD the unit sets itself.\n"
           "[Service]\n",
           unit, unit, unit);
    print_environment("LD_PRELOAD", library);
    if (rules)
        print_environment("FUSEBOX_RULES", rules_value);
    if (state || shared)
        print_environment("FUSEBOX_STATE", state ? state_path : SHARED_STATE);
    if (shared)
        printf("# The state file is shared by group %s: fusebox status -s %s shows it.\n"
               "SupplementaryGroups=%s\n",
               STATE_GROUP, SHARED_STATE, STATE_GROUP);
    return EXIT_OK;
}
