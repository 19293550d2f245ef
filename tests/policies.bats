#!/usr/bin/env bats
# Policies beyond pybreaker, with real programs: failure-rate windows, slow
# calls, backoff, Retry-After, per-host breakers and half_open_max_wait.
# The clock-exact cases (5 s, 10 s, 20 s; jitter bounds) are C unit tests in
# tests/unit/test_breaker.c; here open times are a few hundred ms and every
# wait polls with a deadline.

load common

# switchable NAME MODE [ARGS...]: start_server with a mode file, so that
# switch_server can change what the server does without giving up its port.
switchable() {
    local name=$1
    shift
    start_server "$name" "$@" --mode-file "$BATS_TEST_TMPDIR/$name.mode" \
        --mode-ack "$BATS_TEST_TMPDIR/$name.ack" --pid-file "$BATS_TEST_TMPDIR/$name.pid"
    wait_for 30 test -s "$BATS_TEST_TMPDIR/$name.pid"
}

# switch_server NAME MODE [STATUS]: switches the server and waits until it says so.
switch_server() {
    local name=$1
    shift
    rm -f "$BATS_TEST_TMPDIR/$name.ack"
    echo "$*" > "$BATS_TEST_TMPDIR/$name.mode"
    kill -USR1 "$(cat "$BATS_TEST_TMPDIR/$name.pid")"
    wait_for 30 grep -qsx "$*" "$BATS_TEST_TMPDIR/$name.ack"
}

# rejected_and_reopened NAME URL: a call is refused and the breaker is open.
rejected_and_reopened() {
    ! fetch --max-time 1 "$2" 2>/dev/null && breaker_is "$1" state open
}

fetch() {
    shimmed curl -sS -o /dev/null --max-time 10 "$@"
}

@test "failure_rate opens only once min_calls calls are in the window" {
    require_preloadable curl
    start_server api http 503
    write_rules '{"version":1,"breakers":[{"name":"api","hosts":["127.0.0.1:'"$api_PORT"'"],
        "failure_rate":{"threshold":50,"window":30,"min_calls":4}}]}'
    for i in 1 2 3; do
        run fetch "http://127.0.0.1:$api_PORT/"
        assert_success
    done
    breaker_is api state closed # 3 failures of 3: 100 %, but fewer than 4 calls
    breaker_is api consecutive_failures 3
    run fetch "http://127.0.0.1:$api_PORT/"
    breaker_is api state open
    [ "$(server_count api requests)" -eq 4 ]
    run fetch "http://127.0.0.1:$api_PORT/"
    assert_failure 7
    [ "$(server_count api requests)" -eq 4 ]
    run "$FUSEBOX" events
    assert_output --partial "failure rate 100% in the window (http_5xx)"
}

@test "failure_rate below its threshold keeps the breaker closed" {
    require_preloadable curl
    switchable api http 200
    write_rules '{"version":1,"breakers":[{"name":"api","hosts":["127.0.0.1:'"$api_PORT"'"],
        "failure_rate":{"threshold":50,"window":30,"min_calls":4}}]}'
    for i in 1 2 3; do fetch "http://127.0.0.1:$api_PORT/"; done
    switch_server api http 500
    for i in 1 2; do run fetch "http://127.0.0.1:$api_PORT/"; done
    breaker_is api state closed # 2 failures of 5 calls: 40 %
    run fetch "http://127.0.0.1:$api_PORT/"
    breaker_is api state open # 3 of 6: 50 %
    breaker_is api successes 3
    breaker_is api failures 3
}

@test "slow calls open a breaker that saw no failure" {
    require_preloadable curl
    start_server api http 200 --hold-ms 250
    write_rules '{"version":1,"breakers":[{"name":"api","hosts":["127.0.0.1:'"$api_PORT"'"],
        "slow_call":{"threshold_ms":100,"rate":60,"min_calls":3}}]}'
    for i in 1 2 3; do
        run fetch "http://127.0.0.1:$api_PORT/"
        assert_success
    done
    breaker_is api state open
    breaker_is api failures 0
    breaker_is api successes 3
    run fetch "http://127.0.0.1:$api_PORT/"
    assert_failure 7
    [ "$(server_count api requests)" -eq 3 ]
    run "$FUSEBOX" events
    assert_output --partial "slow-call rate 100% in the window"
}

@test "slow_call without a rate is a class that failure_on can count" {
    require_preloadable curl
    start_server api http 200 --hold-ms 200
    write_rules '{"version":1,"breakers":[{"name":"api","hosts":["127.0.0.1:'"$api_PORT"'"],
        "fail_max":2,"failure_on":["slow","refused"],"slow_call":{"threshold_ms":50}}]}'
    fetch "http://127.0.0.1:$api_PORT/"
    breaker_is api failures 1
    fetch "http://127.0.0.1:$api_PORT/"
    breaker_is api state open
    run "$FUSEBOX" events
    assert_output --partial "2 consecutive failures (slow)"
}

@test "backoff doubles the open time on each failed probe and resets after recovery" {
    require_preloadable curl
    switchable api refuse
    write_rules '{"version":1,"breakers":[{"name":"api","hosts":["127.0.0.1:'"$api_PORT"'"],
        "fail_max":1,"reset_timeout":1,"backoff":{"multiplier":2,"max":60}}]}'
    # retry_is checks each open time against the time since its call, so a
    # loaded machine cannot fail it; test_breaker.c pins the times exactly.
    since=$(now_ms)
    run fetch "http://127.0.0.1:$api_PORT/"
    retry_is api 1000 "$since"
    wait_for 30 breaker_is api retry_in_ms 0
    since=$(now_ms)
    run fetch "http://127.0.0.1:$api_PORT/" # the probe fails: 2 s
    retry_is api 2000 "$since"
    wait_for 30 breaker_is api retry_in_ms 0
    since=$(now_ms)
    run fetch "http://127.0.0.1:$api_PORT/" # and again: 4 s
    retry_is api 4000 "$since"
    switch_server api http 200
    wait_for 30 breaker_is api retry_in_ms 0
    run fetch "http://127.0.0.1:$api_PORT/" # the probe succeeds: closed
    assert_success
    breaker_is api state closed
    switch_server api refuse
    since=$(now_ms)
    run fetch "http://127.0.0.1:$api_PORT/" # a new trip starts from 1 s again
    breaker_is api state open
    retry_is api 1000 "$since"
}

@test "a 503 with Retry-After keeps the opening breaker open at least that long" {
    require_preloadable curl
    start_server api http 503 --header 'Retry-After: 7'
    write_rules '{"version":1,"breakers":[{"name":"api","hosts":["127.0.0.1:'"$api_PORT"'"],
        "fail_max":1,"reset_timeout":1}]}'
    since=$(now_ms)
    run fetch "http://127.0.0.1:$api_PORT/"
    breaker_is api state open
    retry_is api 7000 "$since"
    run --separate-stderr shimmed curl -sS -o /dev/null "http://127.0.0.1:$api_PORT/"
    assert_failure 7
    [[ "$stderr" == *"circuit open: breaker 'api'"*"retry in "[0-7]"s"* ]]
}

@test "a 429 with Retry-After opens for that long; honor_retry_after false ignores it" {
    require_preloadable curl
    start_server api http 429 --header 'Retry-After: 5'
    write_rules '{"version":1,"breakers":[
        {"name":"api","hosts":["127.0.0.1:'"$api_PORT"'"],"fail_max":1,"reset_timeout":1,
         "failure_on":["http_429"]}]}'
    since=$(now_ms)
    run fetch "http://127.0.0.1:$api_PORT/"
    retry_is api 5000 "$since"
    "$FUSEBOX" reset --all >/dev/null
    write_rules '{"version":1,"breakers":[
        {"name":"api","hosts":["127.0.0.1:'"$api_PORT"'"],"fail_max":1,"reset_timeout":1,
         "failure_on":["http_429"],"honor_retry_after":false}]}'
    since=$(now_ms)
    run fetch "http://127.0.0.1:$api_PORT/"
    retry_is api 1000 "$since"
}

@test "Retry-After is capped by backoff.max" {
    require_preloadable curl
    start_server api http 503 --header 'Retry-After: 3600'
    write_rules '{"version":1,"breakers":[{"name":"api","hosts":["127.0.0.1:'"$api_PORT"'"],
        "fail_max":1,"reset_timeout":1,"backoff":{"max":4}}]}'
    since=$(now_ms)
    run fetch "http://127.0.0.1:$api_PORT/"
    retry_is api 4000 "$since"
}

@test "per_host gives each host its own breaker under one rule" {
    require_preloadable curl
    start_server dead refuse
    start_server live http 200 --bind 127.0.0.2
    write_rules '{"version":1,"breakers":[{"name":"local","hosts":["127.0.0.0/8"],
        "per_host":true,"fail_max":1,"reset_timeout":30}]}'
    run fetch "http://127.0.0.1:$dead_PORT/"
    assert_failure 7
    run fetch "http://127.0.0.1:$dead_PORT/"
    assert_failure 7
    run fetch "http://127.0.0.2:$live_PORT/"
    assert_success
    breaker_is "local/127.0.0.1:$dead_PORT" state open
    breaker_is "local/127.0.0.2:$live_PORT" state closed
    breaker_is "local/127.0.0.2:$live_PORT" successes 1
    # a program without libcurl is judged by the same per-host breaker
    run shimmed "$TESTCLIENT" connect 127.0.0.1 "$dead_PORT"
    assert_output --partial ECONNREFUSED
    breaker_is "local/127.0.0.1:$dead_PORT" rejected 2
    run shimmed "$TESTCLIENT" connect 127.0.0.2 "$live_PORT"
    assert_success
    run "$FUSEBOX" status
    assert_output --partial "local/127.0.0.1:$dead_PORT"
    assert_output --partial "local/127.0.0.2:$live_PORT"
    run "$FUSEBOX" status --verify
    assert_success
    run "$FUSEBOX" explain "127.0.0.1:$dead_PORT"
    assert_output --partial "its own breaker local/127.0.0.1:$dead_PORT"
    assert_output --partial "state: open"
}

@test "per_host max_hosts reuses the least recently used host's breaker" {
    start_server a http 200
    start_server b http 200
    start_server c http 200
    write_rules '{"version":1,"breakers":[{"name":"local","hosts":["127.0.0.1"],
        "per_host":true,"max_hosts":2}]}'
    # Use is known to the clock tick: the status call between a and b lets one pass.
    shimmed "$TESTCLIENT" connect 127.0.0.1 "$a_PORT" >/dev/null
    breaker_is "local/127.0.0.1:$a_PORT" successes 1
    shimmed "$TESTCLIENT" connect 127.0.0.1 "$b_PORT" >/dev/null
    shimmed "$TESTCLIENT" connect 127.0.0.1 "$c_PORT" >/dev/null
    breaker_is "local/127.0.0.1:$c_PORT" successes 1
    run "$FUSEBOX" status --json
    [ "$(grep -o '"name": "local/' <<<"$output" | wc -l)" -eq 2 ]
    breaker_is "local/127.0.0.1:$a_PORT" state absent # a was used least recently
    breaker_is "local/127.0.0.1:$b_PORT" successes 1
    run "$FUSEBOX" status --verify
    assert_success
}

@test "half_open_max_wait reopens a breaker whose probe never answers" {
    require_preloadable curl
    switchable api refuse
    write_rules '{"version":1,"breakers":[{"name":"api","hosts":["127.0.0.1:'"$api_PORT"'"],
        "fail_max":1,"reset_timeout":0.2,"half_open_max_wait":0.3}]}'
    run fetch "http://127.0.0.1:$api_PORT/"
    breaker_is api state open
    switch_server api stall
    wait_for 30 breaker_is api retry_in_ms 0
    env LD_PRELOAD="$PRELOAD" curl -sS -o /dev/null --max-time 20 "http://127.0.0.1:$api_PORT/" &
    local probe=$!
    wait_for 30 breaker_is api state half_open
    wait_for 30 rejected_and_reopened api "http://127.0.0.1:$api_PORT/"
    kill "$probe" 2>/dev/null || true
    wait "$probe" 2>/dev/null || true
    run "$FUSEBOX" events
    assert_output --partial "probes undecided for half_open_max_wait"
}
