/* Unit tests of the SIGBUS guard (sigbus.c): a fault in a guarded mapping of
 * a truncated file is survived, and every other SIGBUS reaches the
 * disposition the process had before, exactly as without the guard. The
 * handler is installed once per process, so each case runs in a child of
 * its own, which reports by its exit status (or dies of the signal). */
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sigbus.h"
#include "unit.h"

#define PAGES 2

static sigjmp_buf escape;
static volatile sig_atomic_t calls;
static void *volatile seen_addr;

/* Maps a file of PAGES pages MAP_SHARED and truncates it to nothing: every
 * access to the mapping faults. */
static volatile char *truncated_mapping(void)
{
    char path[] = "/tmp/fusebox-test-sigbus-XXXXXX";
    int fd = mkstemp(path);
    long page = sysconf(_SC_PAGESIZE);
    if (fd < 0 || ftruncate(fd, PAGES * page) != 0)
        _exit(90);
    void *map = mmap(NULL, (size_t)(PAGES * page), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    unlink(path);
    if (map == MAP_FAILED || ftruncate(fd, 0) != 0)
        _exit(91);
    close(fd);
    return map;
}

static void guard(volatile char *map, _Atomic bool *lost)
{
    if (!sigbus_guard((void *)map, (size_t)(PAGES * sysconf(_SC_PAGESIZE)), lost))
        _exit(92);
}

static void set_disposition(void (*handler)(int), void (*action)(int, siginfo_t *, void *),
                            int flags)
{
    struct sigaction sa = {.sa_flags = flags};
    if (action)
        sa.sa_sigaction = action;
    else
        sa.sa_handler = handler;
    if (sigaction(SIGBUS, &sa, NULL) != 0)
        _exit(93);
}

static void info_handler(int sig, siginfo_t *si, void *context)
{
    (void)context;
    calls++;
    seen_addr = sig == SIGBUS ? si->si_addr : NULL;
    siglongjmp(escape, 1);
}

static void plain_handler(int sig)
{
    calls += sig == SIGBUS;
    siglongjmp(escape, 1);
}

/* Runs child in a new process; returns its wait status. */
static int in_child(int (*child)(void))
{
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        setrlimit(RLIMIT_CORE, &(struct rlimit){0, 0}); /* dying of SIGBUS is expected */
        _exit(child());
    }
    int status = -1;
    waitpid(pid, &status, 0);
    return status;
}

static bool exited_ok(int status)
{
    return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

static bool died_of_sigbus(int status)
{
    return WIFSIGNALED(status) && WTERMSIG(status) == SIGBUS;
}

static int survive_own_fault(void)
{
    _Atomic bool lost = false;
    volatile char *map = truncated_mapping();
    guard(map, &lost);
    map[0] = 'x';                                /* faults, then lands on a zero page */
    char after = map[sysconf(_SC_PAGESIZE) + 1]; /* the whole range was replaced */
    return lost && map[0] == 'x' && after == 0 ? 0 : 1;
}

static void a_fault_in_a_guarded_mapping_is_survived(void)
{
    CHECK(exited_ok(in_child(survive_own_fault)));
}

static int foreign_fault_with_default(void)
{
    _Atomic bool lost = false;
    set_disposition(SIG_DFL, NULL, 0);
    guard(truncated_mapping(), &lost);
    truncated_mapping()[0] = 'x';
    return 1; /* not reached */
}

static int sent_with_default(void)
{
    _Atomic bool lost = false;
    set_disposition(SIG_DFL, NULL, 0); /* not a sanitizer's handler */
    guard(truncated_mapping(), &lost);
    kill(getpid(), SIGBUS);
    return 1;
}

static void other_bus_errors_still_kill_by_default(void)
{
    CHECK(died_of_sigbus(in_child(foreign_fault_with_default)));
    CHECK(died_of_sigbus(in_child(sent_with_default)));
}

static int foreign_fault_to_info_handler(void)
{
    _Atomic bool lost = false;
    set_disposition(NULL, info_handler, SA_SIGINFO);
    volatile char *mine = truncated_mapping(), *theirs = truncated_mapping();
    guard(mine, &lost);
    if (sigsetjmp(escape, 1) == 0)
        theirs[0] = 'x';
    bool theirs_delivered = calls == 1 && seen_addr == (void *)theirs && !lost;
    mine[0] = 'x'; /* ours: the program's handler never hears of it */
    return theirs_delivered && calls == 1 && lost ? 0 : 1;
}

static int foreign_fault_to_plain_handler(void)
{
    _Atomic bool lost = false;
    set_disposition(plain_handler, NULL, 0);
    guard(truncated_mapping(), &lost);
    volatile char *theirs = truncated_mapping();
    if (sigsetjmp(escape, 1) == 0)
        theirs[0] = 'x';
    return calls == 1 && !lost ? 0 : 1;
}

static void a_program_handler_gets_its_own_faults(void)
{
    CHECK(exited_ok(in_child(foreign_fault_to_info_handler)));
    CHECK(exited_ok(in_child(foreign_fault_to_plain_handler)));
}

static int ignored_sent_then_fault(void)
{
    _Atomic bool lost = false;
    set_disposition(SIG_IGN, NULL, 0);
    guard(truncated_mapping(), &lost);
    kill(getpid(), SIGBUS); /* ignored, as without the guard */
    truncated_mapping()[0] = 'x';
    return 1; /* a fault cannot be ignored */
}

static void an_ignored_sigbus_is_ignored_but_a_fault_kills(void)
{
    CHECK(died_of_sigbus(in_child(ignored_sent_then_fault)));
}

static int reset_hand(void)
{
    _Atomic bool lost = false;
    set_disposition(NULL, info_handler, SA_SIGINFO | SA_RESETHAND);
    guard(truncated_mapping(), &lost);
    if (sigsetjmp(escape, 1) == 0)
        truncated_mapping()[0] = 'x';
    struct sigaction now;
    sigaction(SIGBUS, NULL, &now);
    return calls == 1 && now.sa_handler == SIG_DFL ? 0 : 1;
}

static void sa_resethand_is_honoured(void)
{
    CHECK(exited_ok(in_child(reset_hand)));
}

static int unguarded_goes_to_program(void)
{
    _Atomic bool lost = false;
    set_disposition(NULL, info_handler, SA_SIGINFO);
    volatile char *map = truncated_mapping();
    guard(map, &lost);
    sigbus_unguard((void *)map);
    if (sigsetjmp(escape, 1) == 0)
        map[0] = 'x';
    return calls == 1 && !lost ? 0 : 1;
}

static void an_unguarded_range_is_the_programs_again(void)
{
    CHECK(exited_ok(in_child(unguarded_goes_to_program)));
}

int main(void)
{
    RUN(a_fault_in_a_guarded_mapping_is_survived);
    RUN(other_bus_errors_still_kill_by_default);
    RUN(a_program_handler_gets_its_own_faults);
    RUN(an_ignored_sigbus_is_ignored_but_a_fault_kills);
    RUN(sa_resethand_is_honoured);
    RUN(an_unguarded_range_is_the_programs_again);
    return unit_done();
}
