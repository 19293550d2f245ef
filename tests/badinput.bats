#!/usr/bin/env bats
# Bad rules and bad state files: the program still runs, unprotected, with one
# clear "fusebox:" line on stderr; `fusebox check` names file:line:col.

load common

@test "malformed JSON: the program runs unprotected with one warning" {
    write_rules '{"version": 1, "breakers": [ {"name": "x", '
    runs_unprotected "rules not loaded, everything passes through: $FUSEBOX_RULES:"
}

@test "an unknown key: warning names file, line, column and key" {
    write_rules '{"version": 1,
  "breakers": [{"name": "x", "hosts": ["127.0.0.1"], "fial_max": 3}]}'
    runs_unprotected "$FUSEBOX_RULES:2:"
    run "$FUSEBOX" check "$FUSEBOX_RULES"
    [ "$status" -eq 1 ]
    assert_output --regexp "^$FUSEBOX_RULES:2:[0-9]+: .*fial_max"
}

@test "a wrong type: fusebox check exits 1 with file:line:col" {
    write_rules '{"version": 1, "breakers": [{"name": "x", "hosts": ["127.0.0.1"], "fail_max": "3"}]}'
    runs_unprotected "fail_max"
    run "$FUSEBOX" check "$FUSEBOX_RULES"
    [ "$status" -eq 1 ]
    assert_output --regexp "^$FUSEBOX_RULES:1:[0-9]+: .*fail_max"
}

@test "an unreadable rules file" {
    export FUSEBOX_RULES="$BATS_TEST_TMPDIR/missing.json"
    runs_unprotected "missing.json"
    run "$FUSEBOX" check "$FUSEBOX_RULES"
    [ "$status" -eq 1 ]
}

@test "a state file of another layout" {
    write_rules '{"version": 1, "breakers": [{"name": "x", "hosts": ["127.0.0.1"], "fail_max": 1}]}'
    head -c 4096 /dev/urandom > "$FUSEBOX_STATE"
    chmod 600 "$FUSEBOX_STATE"
    runs_unprotected "state file $FUSEBOX_STATE"
    run "$FUSEBOX" status
    [ "$status" -eq 1 ]
}

@test "a state file that is a symlink is refused, and nothing is written through it" {
    write_rules '{"version": 1, "breakers": [{"name": "x", "hosts": ["127.0.0.1"], "fail_max": 1}]}'
    touch "$BATS_TEST_TMPDIR/elsewhere"
    ln -s "$BATS_TEST_TMPDIR/elsewhere" "$FUSEBOX_STATE"
    runs_unprotected "is a symbolic link"
    [ ! -s "$BATS_TEST_TMPDIR/elsewhere" ]
}

@test "a state file writable by others is refused" {
    write_rules '{"version": 1, "breakers": [{"name": "x", "hosts": ["127.0.0.1"], "fail_max": 1}]}'
    shimmed "$TESTCLIENT" connect 127.0.0.1 9 >/dev/null
    [ -f "$FUSEBOX_STATE" ]
    [ "$(stat -c %a "$FUSEBOX_STATE")" = 600 ]
    chmod 666 "$FUSEBOX_STATE"
    runs_unprotected "writable by group or others"
}

@test "inline JSON in FUSEBOX_RULES works, and errors in it are named FUSEBOX_RULES" {
    start_server dead refuse
    export FUSEBOX_RULES="{\"version\": 1, \"breakers\": [{\"name\": \"inline\", \"hosts\": [\"127.0.0.1:$dead_PORT\"], \"fail_max\": 1}]}"
    shimmed "$TESTCLIENT" connect 127.0.0.1 "$dead_PORT"
    [ "$(breaker_field inline state)" = open ]
    export FUSEBOX_RULES='{"version": 2, "breakers": []}'
    run "$FUSEBOX" check "$FUSEBOX_RULES"
    [ "$status" -eq 1 ]
    assert_output --regexp '^FUSEBOX_RULES:1:[0-9]+: '
}
