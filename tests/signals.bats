#!/usr/bin/env bats
# Signals, threads, fork and exec chains behave as without the shim, except
# for breaker decisions; every call is counted exactly once; nothing hangs.

load common

TORTURE="$BUILD/helpers/connect_torture"

rules_for() {
    write_rules "{\"version\": 1, \"breakers\": [{\"name\": \"$1\", \"hosts\": [\"$2\"]${3:+, $3}}]}"
}

@test "8 threads x 500 blocking connects: each counted once" {
    start_server dead refuse
    rules_for dead "127.0.0.1:$dead_PORT" '"fail_max": 10000'
    run shimmed "$TORTURE" threads "$dead_PORT" 8 500
    assert_output 'ok 0 refused 4000 other 0'
    [ "$(breaker_field dead failures)" -eq 4000 ]
    [ "$(breaker_field dead calls)" -eq 4000 ]
}

@test "threads against a breaker that opens midway: calls = failures + rejected, one trip" {
    start_server dead refuse
    rules_for dead "127.0.0.1:$dead_PORT" '"fail_max": 50, "reset_timeout": 60'
    run shimmed "$TORTURE" threads "$dead_PORT" 8 500
    assert_output 'ok 0 refused 4000 other 0'
    [ "$(breaker_field dead calls)" -eq 4000 ]
    [ "$(breaker_field dead trips)" -eq 1 ]
    [ "$(("$(breaker_field dead failures)" + "$(breaker_field dead rejected)"))" -eq 4000 ]
}

@test "a connect inside a signal handler is decided and counted" {
    start_server dead refuse
    rules_for dead "127.0.0.1:$dead_PORT" '"fail_max": 1'
    run timeout 20 env LD_PRELOAD="$PRELOAD" "$TORTURE" in-handler "$dead_PORT"
    assert_success
    assert_line 'handler: Connection refused'
    [ "$(breaker_field dead failures)" -eq 1 ]
    [ "$(breaker_field dead rejected)" -eq 1 ]
}

@test "a socket made by a signal handler while the first socket() registers fusebox's fork handlers: no hang" {
    # A second preloaded library raises SIGUSR1 inside the registration
    # (pthread_atfork), once the program has a handler for it; the handler
    # makes a socket, which would wait for that same registration for ever.
    cat > "$BATS_TEST_TMPDIR/raise.c" <<'C'
#define _GNU_SOURCE
#include <dlfcn.h>
#include <signal.h>
int __register_atfork(void (*prepare)(void), void (*parent)(void), void (*child)(void), void *dso)
{
    static int (*real)(void (*)(void), void (*)(void), void (*)(void), void *);
    static int raised;
    struct sigaction now;
    if (!real)
        real = (int (*)(void (*)(void), void (*)(void), void (*)(void), void *))dlsym(
            RTLD_NEXT, "__register_atfork");
    if (!raised && sigaction(SIGUSR1, 0, &now) == 0 && now.sa_handler != SIG_DFL) {
        raised = 1;
        raise(SIGUSR1);
    }
    return real(prepare, parent, child, dso);
}
C
    ${CC:-cc} -shared -fPIC -o "$BATS_TEST_TMPDIR/raise.so" "$BATS_TEST_TMPDIR/raise.c"
    start_server dead refuse
    rules_for dead "127.0.0.1:$dead_PORT"
    run timeout 20 env LD_PRELOAD="$PRELOAD $BATS_TEST_TMPDIR/raise.so" "$TORTURE" socket-in-handler "$dead_PORT"
    assert_success
    assert_line 'handler: ok'
    assert_line 'ok 0 refused 1 other 0'
}

@test "a blocking connect interrupted by a signal (EINTR), then closed, counts a timeout" {
    start_server hole blackhole
    rules_for hole "127.0.0.1:$hole_PORT"
    run timeout 20 env LD_PRELOAD="$PRELOAD" "$TORTURE" eintr "$hole_PORT"
    assert_success
    assert_output 'connect: Interrupted system call'
    [ "$(breaker_field hole failures)" -eq 1 ]
}

@test "fork while threads connect: the child connects too, nothing deadlocks" {
    start_server up accept
    rules_for up "127.0.0.1:$up_PORT"
    # A fork that interrupts the first network call's set-up leaves the child to
    # set up again, which allocates: glibc's malloc allows that in the child of
    # a threaded process, ASan's allocator (GCC 12) can deadlock in it. Under
    # a sanitizer the shim is set up before the threads start.
    local mode=fork expected=801
    if [ -n "$PRELOAD_BEFORE_SHIM" ]; then mode=fork-built expected=802; fi
    run timeout 60 env LD_PRELOAD="$PRELOAD" "$TORTURE" "$mode" "$up_PORT"
    assert_success
    assert_line 'child: ok'
    assert_line 'ok 800 refused 0 other 0'
    [ "$(breaker_field up successes)" -eq "$expected" ]
}

@test "an exec chain: a script that starts 1000 short processes, each connecting" {
    start_server dead refuse
    rules_for dead "127.0.0.1:$dead_PORT" '"fail_max": 10000'
    LD_PRELOAD=$PRELOAD_BEFORE_SHIM run timeout 300 "$FUSEBOX" run -- bash -c '
        for i in $(seq 1000); do "$1" threads "$2" 1 1 >/dev/null; done' _ "$TORTURE" "$dead_PORT"
    assert_success
    [ "$(breaker_field dead failures)" -eq 1000 ]
}
