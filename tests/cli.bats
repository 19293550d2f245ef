#!/usr/bin/env bats
# The fusebox command: run, status, reset, check, help and exit codes.

load common

rules_for() {
    write_rules "{\"version\": 1, \"breakers\": [{\"name\": \"$1\", \"hosts\": [\"$2\"]${3:+, $3}}]}"
}

@test "fusebox run preloads the shim for the whole process tree" {
    start_server dead refuse
    rules_for dead "127.0.0.1:$dead_PORT" '"fail_max": 2'
    rules=$FUSEBOX_RULES
    unset FUSEBOX_RULES
    LD_PRELOAD=$PRELOAD_BEFORE_SHIM run "$FUSEBOX" run -r "$rules" -- bash -c '
        for i in 1 2 3 4; do "$1" connect 127.0.0.1 "$2"; done' _ "$TESTCLIENT" "$dead_PORT"
    assert_success
    [ "$(breaker_field dead failures)" -eq 2 ]
    [ "$(breaker_field dead rejected)" -eq 2 ]
}

@test "fusebox run -s names the state file; relative paths are made absolute" {
    start_server dead refuse
    rules_for dead "127.0.0.1:$dead_PORT" '"fail_max": 1'
    cd "$BATS_TEST_TMPDIR"
    LD_PRELOAD=$PRELOAD_BEFORE_SHIM run "$FUSEBOX" run -r rules.json -s other.state -- sh -c 'cd / && "$1" connect 127.0.0.1 "$2"' _ "$TESTCLIENT" "$dead_PORT"
    assert_success
    [ -f "$BATS_TEST_TMPDIR/other.state" ]
    FUSEBOX_STATE="$BATS_TEST_TMPDIR/other.state" run "$FUSEBOX" status --json
    assert_output --partial '"name": "dead", "state": "open"'
}

@test "fusebox run: usage errors exit 2, a missing command 127" {
    run "$FUSEBOX" run
    [ "$status" -eq 2 ]
    run "$FUSEBOX" run -r /dev/null
    [ "$status" -eq 2 ]
    run -127 "$FUSEBOX" run -r "$BATS_TEST_TMPDIR/x.json" -- /no/such/program
    [ "$status" -eq 127 ]
    assert_output --partial 'fusebox: run: /no/such/program: No such file or directory'
}

@test "fusebox status: a table with a summary, and JSON with every documented field" {
    start_server dead refuse
    rules_for payments "127.0.0.1:$dead_PORT" '"fail_max": 2, "reset_timeout": 30'
    shimmed "$TESTCLIENT" connect 127.0.0.1 "$dead_PORT" --count 3
    run "$FUSEBOX" status
    assert_success
    assert_line "state file: $FUSEBOX_STATE"
    assert_line --regexp '^BREAKER +STATE +FAILS +CALLS +OK +FAILED +REJECTED +FALLBACKS +TRIPS +RETRY IN$'
    assert_line --regexp '^payments +open +2/2 +3 +0 +2 +1 +0 +1 +[0-9.]+s$'
    assert_line '1 breaker: 1 open, 0 closed'
    run "$FUSEBOX" status --json
    assert_success
    python3 - "$output" "$FUSEBOX_STATE" <<'PY'
import json, re, sys
doc = json.loads(sys.argv[1])
assert doc["state_file"] == sys.argv[2], doc
assert list(doc) == ["state_file", "breakers", "fleet_agent"], list(doc)
assert doc["fleet_agent"] is None, doc  # no fleet agent ever ran on this file
(b,) = doc["breakers"]
assert list(b) == ["name", "state", "consecutive_failures", "calls", "successes", "failures",
                   "rejected", "fallbacks", "trips", "opened_at", "retry_in_ms", "fleet"], list(b)
assert b["fleet"] is None, b
assert b["name"] == "payments" and b["state"] == "open", b
assert (b["consecutive_failures"], b["calls"], b["successes"], b["failures"], b["rejected"],
        b["trips"]) == (2, 3, 0, 2, 1, 1), b
assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", b["opened_at"]), b
assert 0 < b["retry_in_ms"] <= 30000, b
PY
}

@test "fusebox status without a state file shows no breakers" {
    run "$FUSEBOX" status
    assert_success
    assert_output --partial 'no breakers yet'
    run "$FUSEBOX" status --json
    assert_output "{\"state_file\": \"$FUSEBOX_STATE\", \"breakers\": [], \"fleet_agent\": null}"
}

@test "fusebox reset closes a breaker, zeroes its counters and lets calls through again" {
    start_server dead refuse
    rules_for dead "127.0.0.1:$dead_PORT" '"fail_max": 1'
    shimmed "$TESTCLIENT" connect 127.0.0.1 "$dead_PORT" --count 2
    [ "$(breaker_field dead state)" = open ]
    run "$FUSEBOX" reset dead
    assert_success
    assert_output 'reset dead'
    [ "$(breaker_field dead state)" = closed ]
    [ "$(breaker_field dead calls)" -eq 0 ]
    [ "$(breaker_field dead opened_at)" = null ]
    run "$FUSEBOX" reset nosuch
    [ "$status" -eq 1 ]
    assert_output --partial "no breaker named 'nosuch'"
    run "$FUSEBOX" reset
    [ "$status" -eq 2 ]
    shimmed "$TESTCLIENT" connect 127.0.0.1 "$dead_PORT" --count 2
    run "$FUSEBOX" reset --all
    assert_output 'reset 1 breaker'
    [ "$(breaker_field dead state)" = closed ]
}

@test "fusebox check summarises valid rules and exits 0" {
    run "$FUSEBOX" check "$BATS_TEST_DIRNAME/../rules/example.json"
    assert_success
    assert_line --regexp '^.*example.json: ok, [0-9]+ breakers?, [0-9]+ host patterns?$'
}

@test "help: fusebox --help, help COMMAND and COMMAND --help; unknown commands exit 2" {
    run "$FUSEBOX" --help
    assert_success
    assert_output --partial 'usage: fusebox COMMAND'
    for c in run status reset check; do
        run "$FUSEBOX" help "$c"
        assert_success
        assert_output --partial "usage: fusebox $c"
        run "$FUSEBOX" "$c" --help
        assert_success
    done
    run "$FUSEBOX" frobnicate
    [ "$status" -eq 2 ]
    run "$FUSEBOX"
    [ "$status" -eq 2 ]
    run "$FUSEBOX" status --bogus
    [ "$status" -eq 2 ]
}

@test "make install puts the library in PREFIX/lib/fusebox and fusebox run finds it there" {
    prefix=$BATS_TEST_TMPDIR/prefix
    run make -C "$BATS_TEST_DIRNAME/.." --no-print-directory install PREFIX="$prefix" BUILD="$BUILD"
    assert_success
    [ -f "$prefix/lib/fusebox/libfusebox.so" ]
    [ -x "$prefix/bin/fusebox" ]
    start_server dead refuse
    rules_for dead "127.0.0.1:$dead_PORT" '"fail_max": 1'
    LD_PRELOAD=$PRELOAD_BEFORE_SHIM run "$prefix/bin/fusebox" run -- "$TESTCLIENT" connect 127.0.0.1 "$dead_PORT" --count 2
    assert_success
    [ "$(breaker_field dead rejected)" -eq 1 ]
}

@test "docs/cli.md shows what fusebox --help prints" {
    run "$FUSEBOX" --help
    assert_success
    shown=$(awk '/^\$ fusebox --help$/ { on = 1; next } on && /^```$/ { exit } on' \
        "$BATS_TEST_DIRNAME/../docs/cli.md")
    [ "$output" = "$shown" ]
}
