/* log.h — messages to stderr, each one line prefixed "fusebox: ".
 *
 * Written with one write(2) and no stdio, so a message never takes a lock
 * that the host program may hold. The level comes from FUSEBOX_LOG (set by
 * the caller with log_set_level); the default is warn. */
#ifndef FUSEBOX_LOG_H
#define FUSEBOX_LOG_H

#include <stdatomic.h>
#include <stdbool.h>

enum log_level { LOG_OFF, LOG_ERROR, LOG_WARN, LOG_INFO, LOG_DEBUG };

/* Returns the level named by s ("off", "error", "warn", "info", "debug"), or
 * -1 when s names none. */
int log_level_parse(const char *s);

void log_set_level(enum log_level level);

/* True when messages of this level are written. */
bool log_enabled(enum log_level level);

/* Writes "fusebox: MESSAGE\n" to stderr when level is enabled. Leaves errno
 * alone. */
void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Like log_msg, but only the first time this call site runs in the process. */
#define log_once(level, ...)                                                                       \
    do {                                                                                           \
        static atomic_flag said_ = ATOMIC_FLAG_INIT;                                               \
        if (!atomic_flag_test_and_set_explicit(&said_, memory_order_relaxed))                      \
            log_msg(level, __VA_ARGS__);                                                           \
    } while (0)

#endif
