#!/usr/bin/env bats
# Compiled rules: a running program takes up an edited rules file by itself
# and at once after `fusebox reload`; an edit that does not compile leaves
# the last good rules in force, in running programs and new ones; breakers
# keep their counts across a reload; a damaged or foreign image is refused
# with one warning and compiled again.

load common

# rules_for PORT [EXTRA]: rules with breaker "a" on 127.0.0.1:PORT (fail_max
# 100: it stays closed and counts), and EXTRA breakers after it.
rules_for() {
    printf '{"version": 1, "breakers": [{"name": "a", "hosts": ["127.0.0.1:%s"], "fail_max": 100}%s]}\n' \
        "$1" "${2:-}"
}

# edit_rules JSON: rewrites the rules file in place, as an editor saving it.
edit_rules() {
    printf '%s\n' "$1" > "$FUSEBOX_RULES.new"
    cat "$FUSEBOX_RULES.new" > "$FUSEBOX_RULES"
}

# start_stepper [LEVEL]: a python process (shim preloaded, its log at LEVEL,
# default debug, to $BATS_TEST_TMPDIR/stepper.err) that makes one connect per
# line written to fd 4, to the port on that line, and prints "PORT
# ERRNO-NAME" for each to $BATS_TEST_TMPDIR/stepper.out.
start_stepper() {
    local dir=$BATS_TEST_TMPDIR
    mkfifo "$dir/steps"
    FUSEBOX_LOG=${1:-debug} LD_PRELOAD="$PRELOAD" python3 -c '
import errno, socket, sys
out = open(sys.argv[1], "w")
for line in sys.stdin:
    s = socket.socket()
    try:
        s.connect(("127.0.0.1", int(line)))
        result = "connected"
    except OSError as e:
        result = errno.errorcode.get(e.errno, str(e.errno))
    s.close()
    out.write("%s %s\n" % (line.strip(), result))
    out.flush()' "$dir/stepper.out" < "$dir/steps" 2> "$dir/stepper.err" 3>&- &
    SERVER_PIDS+=("$!")
    exec 4> "$dir/steps"
    STEPS=0
}

# step PORT: has the stepper connect to PORT once and waits for its answer.
step() {
    echo "$1" >&4
    STEPS=$((STEPS + 1))
    wait_for 30 stepped "$STEPS"
}

# breaker_at_least NAME FIELD N: the breaker's FIELD is N or more.
breaker_at_least() {
    local v
    v=$(breaker_field "$1" "$2")
    [ "$v" != absent ] && [ "$v" -ge "$3" ]
}

stepped() {
    [ -f "$BATS_TEST_TMPDIR/stepper.out" ] &&
        [ "$(wc -l < "$BATS_TEST_TMPDIR/stepper.out")" -ge "$1" ]
}

teardown() {
    exec 4>&- 2>/dev/null || true
    common_teardown
}

@test "a running loop takes up an edited rules file by itself, with no command" {
    start_server dead refuse
    start_server other refuse
    write_rules "$(rules_for "$other_PORT")"
    LD_PRELOAD="$PRELOAD" FUSEBOX_LOG=debug python3 -c '
import socket, sys, time
for _ in range(3000):
    s = socket.socket()
    try:
        s.connect(("127.0.0.1", int(sys.argv[1])))
    except OSError:
        pass
    s.close()
    time.sleep(0.01)' "$dead_PORT" 2> "$BATS_TEST_TMPDIR/loop.err" 3>&- &
    SERVER_PIDS+=("$!")
    wait_for 30 grep -q "generation 0, first use" "$BATS_TEST_TMPDIR/loop.err"
    [ "$(breaker_field b failures)" = absent ]
    edit_rules "$(rules_for "$other_PORT" ", {\"name\": \"b\", \"hosts\": [\"127.0.0.1:$dead_PORT\"], \"fail_max\": 100}")"
    wait_for 30 grep -q "generation 1, the rules changed" "$BATS_TEST_TMPDIR/loop.err"
    wait_for 30 breaker_at_least b failures 1
}

@test "a program connecting one socket again and again takes up an edited rules file by itself" {
    start_server dead refuse
    start_server other refuse
    write_rules "$(rules_for "$other_PORT")"
    LD_PRELOAD="$PRELOAD" FUSEBOX_LOG=debug python3 -c '
import socket, sys, time
s = socket.socket()
for _ in range(3000):
    try:
        s.connect(("127.0.0.1", int(sys.argv[1])))
    except OSError:
        pass
    time.sleep(0.01)' "$dead_PORT" 2> "$BATS_TEST_TMPDIR/loop.err" 3>&- &
    SERVER_PIDS+=("$!")
    wait_for 30 grep -q "generation 0, first use" "$BATS_TEST_TMPDIR/loop.err"
    edit_rules "$(rules_for "$other_PORT" ", {\"name\": \"b\", \"hosts\": [\"127.0.0.1:$dead_PORT\"], \"fail_max\": 100}")"
    wait_for 30 grep -q "generation 1, the rules changed" "$BATS_TEST_TMPDIR/loop.err"
    wait_for 30 breaker_at_least b failures 1
}

@test "a libcurl program on one kept-alive connection takes up an edited rules file by itself" {
    require_preloadable curl
    start_server api http 200
    write_rules "$(rules_for "$api_PORT")"
    local urls=() i
    for i in $(seq 1 20); do urls+=("http://127.0.0.1:$api_PORT/$i"); done
    LD_PRELOAD="$PRELOAD" curl -s --rate 5/s "${urls[@]}" > /dev/null 3>&- &
    local curl_pid=$!
    SERVER_PIDS+=("$curl_pid")
    wait_for 30 breaker_at_least a calls 2
    edit_rules "{\"version\": 1, \"breakers\": [{\"name\": \"b\", \"hosts\": [\"127.0.0.1:$api_PORT\"], \"fail_max\": 100}]}"
    wait "$curl_pid"
    # one connection for every transfer: no socket() after the edit, the transfers look
    [ "$(server_count api connections)" -eq 1 ]
    breaker_at_least b calls 1
}

@test "after fusebox reload a running program uses the new rules on its next call" {
    start_server dead refuse
    start_server other refuse
    write_rules "$(rules_for "$other_PORT")"
    start_stepper
    step "$other_PORT" # a ruled call: the program has the state file mapped
    step "$dead_PORT"
    [ "$(breaker_field b failures)" = absent ]
    edit_rules "$(rules_for "$other_PORT" ", {\"name\": \"b\", \"hosts\": [\"127.0.0.1:$dead_PORT\"], \"fail_max\": 100}")"
    run "$FUSEBOX" reload
    assert_success
    assert_output --partial "2 breakers"
    step "$dead_PORT"
    [ "$(breaker_field b failures)" -eq 1 ]
    grep -q "generation 1, after fusebox reload" "$BATS_TEST_TMPDIR/stepper.err"
}

@test "a broken edit keeps a running program protected, with one warning naming file:line:col" {
    start_server dead refuse
    write_rules "$(rules_for "$dead_PORT")"
    start_stepper warn
    step "$dead_PORT"
    [ "$(breaker_field a failures)" -eq 1 ]
    edit_rules '{"version": 1, "breakers": [{"name": "a", "hosts": ["127.0.0.1"],
  "fail_max": "three"}]}'
    run "$FUSEBOX" reload
    [ "$status" -eq 1 ]
    assert_output --regexp "$FUSEBOX_RULES:2:[0-9]+: .*fail_max"
    assert_output --partial "processes keep the last good rules"
    step "$dead_PORT"
    step "$dead_PORT"
    [ "$(breaker_field a failures)" -eq 3 ]
    [ "$(grep -c '^fusebox: ' "$BATS_TEST_TMPDIR/stepper.err")" -eq 1 ]
    grep -Eq "^fusebox: rules do not compile, the last good rules stay in force: $FUSEBOX_RULES:2:[0-9]+:" \
        "$BATS_TEST_TMPDIR/stepper.err"
    run "$FUSEBOX" status
    assert_output --partial "the live rules are not $FUSEBOX_RULES's: it does not compile ($FUSEBOX_RULES:2:"
}

@test "a program started with a broken rules file is protected by the last good rules" {
    start_server dead refuse
    write_rules "$(rules_for "$dead_PORT")"
    run shimmed "$TESTCLIENT" connect 127.0.0.1 "$dead_PORT"
    [ "$(breaker_field a failures)" -eq 1 ]
    edit_rules '{"version": 1, "breakers": [{"name": "a", "hosts": ["127.0.0.1"], "fial_max": 3}]}'
    run --separate-stderr shimmed "$TESTCLIENT" connect 127.0.0.1 "$dead_PORT" --count 2
    assert_success
    [ "$(grep -c ECONNREFUSED <<<"$output")" -eq 2 ]
    [ "$(breaker_field a failures)" -eq 3 ]
    [ "$(grep -c '^fusebox: ' <<<"$stderr")" -eq 1 ]
    [[ "$stderr" == *"last good rules stay in force: $FUSEBOX_RULES:1:"*"fial_max"* ]]
}

@test "without any good rules yet a broken file passes everything through" {
    write_rules '{"version": 1, "breakers": [ {"name": "x", '
    runs_unprotected "rules not loaded, everything passes through: $FUSEBOX_RULES:"
}

@test "a breaker keeps its counts and its state across a reload" {
    start_server dead refuse
    write_rules '{"version": 1, "breakers": [{"name": "a", "hosts": ["127.0.0.1:'"$dead_PORT"'"], "fail_max": 2, "reset_timeout": 60}]}'
    start_stepper
    step "$dead_PORT"
    step "$dead_PORT"
    [ "$(breaker_field a state)" = open ]
    [ "$(breaker_field a trips)" -eq 1 ]
    edit_rules '{"version": 1, "breakers": [{"name": "z", "hosts": ["127.0.0.9"]},
  {"name": "a", "hosts": ["127.0.0.1:'"$dead_PORT"'"], "fail_max": 5, "reset_timeout": 60}]}'
    run "$FUSEBOX" reload
    assert_success
    step "$dead_PORT"
    [ "$(breaker_field a state)" = open ]
    [ "$(breaker_field a failures)" -eq 2 ]
    [ "$(breaker_field a rejected)" -eq 1 ]
}

@test "fusebox check --install compiles the rules, and status says they are in force" {
    start_server dead refuse
    write_rules "$(rules_for "$dead_PORT")"
    run "$FUSEBOX" check --install "$FUSEBOX_RULES"
    assert_success
    assert_output --partial "compiled into $FUSEBOX_STATE.rules-"
    run "$FUSEBOX" status
    assert_output --regexp "rules: $FUSEBOX_RULES, compiled [0-9-]+ [0-9:]+"
    run "$FUSEBOX" reload -r "$BATS_TEST_TMPDIR/nothing.json"
    [ "$status" -eq 1 ]
    assert_output --partial "cannot read"
}

# damaged_image_is_refused HOW: damages the published image with HOW (a
# shell command on $image), then a new program warns once and is protected
# by rules compiled again.
damaged_image_is_refused() {
    start_server dead refuse
    write_rules "$(rules_for "$dead_PORT")"
    run "$FUSEBOX" check --install "$FUSEBOX_RULES"
    assert_success
    image=$(echo "$FUSEBOX_STATE".rules-*)
    [ -f "$image" ]
    eval "$1"
    run --separate-stderr shimmed "$TESTCLIENT" connect 127.0.0.1 "$dead_PORT"
    [ "$status" -eq 0 ]
    [ "$(breaker_field a failures)" -eq 1 ]
    [ "$(grep -c '^fusebox: ' <<<"$stderr")" -eq 1 ]
    [[ "$stderr" == *"published compiled rules were refused"* ]]
    [ -f "$image" ] && [ ! -L "$image" ]
    run shimmed "$TESTCLIENT" connect 127.0.0.1 "$dead_PORT"
    [ "$(breaker_field a failures)" -eq 2 ]
}

@test "a truncated image is refused with one warning and compiled again" {
    damaged_image_is_refused 'truncate -s 100 "$image"'
}

@test "an image of another version is refused with one warning and compiled again" {
    damaged_image_is_refused 'printf "FBXRULES\x09\x00\x00\x00" | dd of="$image" conv=notrunc status=none'
}

@test "an image writable by others is refused with one warning and compiled again" {
    damaged_image_is_refused 'chmod 666 "$image"'
}

@test "an image that is a symbolic link is refused, and nothing is read or written through it" {
    damaged_image_is_refused 'mv "$image" "$BATS_TEST_TMPDIR/elsewhere"; ln -s "$BATS_TEST_TMPDIR/elsewhere" "$image"; cp "$BATS_TEST_TMPDIR/elsewhere" "$BATS_TEST_TMPDIR/before"'
    cmp "$BATS_TEST_TMPDIR/elsewhere" "$BATS_TEST_TMPDIR/before"
}

# truncated_under_a_running_program PAUSE: a running program's image is
# truncated, PAUSE runs, and the program's next calls say so once, stay
# protected and take up the rules compiled again.
truncated_under_a_running_program() {
    start_server dead refuse
    write_rules "$(rules_for "$dead_PORT")"
    start_stepper warn
    step "$dead_PORT"
    image=$(echo "$FUSEBOX_STATE".rules-*)
    truncate -s 0 "$image"
    eval "$1"
    step "$dead_PORT"
    run "$FUSEBOX" reload
    assert_success
    step "$dead_PORT"
    kill -0 "${SERVER_PIDS[-1]}"
    [ "$(breaker_field a failures)" -ge 2 ]
    [ "$(grep -c "^fusebox: the compiled rules $FUSEBOX_RULES were truncated while in use" \
        "$BATS_TEST_TMPDIR/stepper.err")" -eq 1 ]
}

@test "an image truncated under a running program: one warning, then rules compiled again" {
    truncated_under_a_running_program true
}

@test "an image truncated under a running program and found by the once-a-second look: one warning too" {
    # into another second of time(): the next call looks at the rules before anything else
    truncated_under_a_running_program 'sleep 1.1'
}

@test "fusebox gc removes the compiled rules of other sources, never those of RULES" {
    write_rules "$(rules_for 9)"
    "$FUSEBOX" check --install "$FUSEBOX_RULES"
    mine=$(ls "$FUSEBOX_STATE".rules-*)
    "$FUSEBOX" check --install '{"version": 1, "breakers": [{"name": "i", "hosts": ["127.0.0.7"]}]}'
    [ "$(ls "$FUSEBOX_STATE".rules-* | wc -l)" -eq 2 ]
    run "$FUSEBOX" gc --idle 0
    assert_success
    assert_output --partial "removed compiled rules $FUSEBOX_STATE.rules-"
    [ "$(ls "$FUSEBOX_STATE".rules-*)" = "$mine" ]
}

@test "threads connecting while the rules are reloaded again and again: every call counted once" {
    start_server dead refuse
    local torture=$BUILD/helpers/connect_torture i=0 pid
    rules_one() {
        printf '{"version": 1, "breakers": [{"name": "%s", "hosts": ["127.0.0.1:%s"], "fail_max": 10000}]}\n' \
            "$1" "$dead_PORT" > "$FUSEBOX_RULES.new"
        mv "$FUSEBOX_RULES.new" "$FUSEBOX_RULES"
    }
    export FUSEBOX_RULES=$BATS_TEST_TMPDIR/rules.json
    rules_one a
    LD_PRELOAD="$PRELOAD" "$torture" threads "$dead_PORT" 4 20000 \
        > "$BATS_TEST_TMPDIR/torture.out" 2> "$BATS_TEST_TMPDIR/torture.err" 3>&- &
    pid=$!
    while kill -0 "$pid" 2>/dev/null && [ "$i" -lt 200 ]; do
        rules_one "$([ $((i % 2)) = 0 ] && echo b || echo a)"
        "$FUSEBOX" reload > /dev/null
        i=$((i + 1))
    done
    wait "$pid"
    [ "$(cat "$BATS_TEST_TMPDIR/torture.out")" = 'ok 0 refused 80000 other 0' ]
    [ ! -s "$BATS_TEST_TMPDIR/torture.err" ]
    local a b
    a=$(breaker_field a calls) b=$(breaker_field b calls)
    [ "$a" = absent ] && a=0
    [ "$b" = absent ] && b=0
    echo "# a $a, b $b after $i reloads" >&3
    [ $((a + b)) -eq 80000 ]
}
