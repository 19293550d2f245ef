/* cli.h — the fusebox command: one function per subcommand, and what they
 * share (exit codes, finding and opening the state file). */
#ifndef FUSEBOX_CLI_H
#define FUSEBOX_CLI_H

#include <limits.h>
#include <stdbool.h>

#include "state.h"

enum { EXIT_OK = 0, EXIT_BAD_INPUT = 1, EXIT_USAGE = 2 };

int cmd_run(int argc, char **argv);
int cmd_status(int argc, char **argv);
int cmd_reset(int argc, char **argv);
int cmd_check(int argc, char **argv);

/* Resolves the state file path: the -s option when given, else
 * FUSEBOX_STATE, else the default. Returns false (after a message) when
 * there is none. */
bool cli_state_path(const char *option, char path[PATH_MAX]);

/* Opens the state file at path for reading and changing breakers. Returns
 * NULL when it does not exist (*missing = true, no message) or cannot be
 * used (a message on stderr). */
struct state *cli_open_state(const char *path, bool *missing);

/* Prints "fusebox: MESSAGE" on stderr. */
void cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
