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

/* Parses the options of a command that works on the state file:
 * -s/--state STATE, -h/--help, and one boolean flag (--FLAG_NAME, -FLAG_CHAR).
 * Returns -1 to go on (operands start at optind), or the exit status to end
 * with: 0 after printing usage for --help, EXIT_USAGE after a bad option. */
int cli_state_options(int argc, char **argv, const char *usage, const char *flag_name,
                      char flag_char, bool *flag, const char **state_option);

/* Opens the state file named by the -s option, else FUSEBOX_STATE, else the
 * default, writing its path into path. Returns false after a message when it
 * cannot be used; true with *st NULL when it does not exist yet. */
bool cli_open_state(const char *state_option, char path[PATH_MAX], struct state **st);

/* Prints "fusebox: MESSAGE" on stderr. */
void cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
