#!/usr/bin/env bats
# Nothing fusebox does can kill the program it is loaded into, or the
# command: a state file on a full filesystem or truncated underfoot (no
# SIGBUS), a stderr that became a data file, deeply nested rules on a small
# thread stack, a slow first load under 500 threads.

load common

TORTURE="$BUILD/helpers/connect_torture"

setup() {
    common_setup
    start_server dead refuse
}

# in_full_tmpfs SCRIPT [BEFORE]: runs bash SCRIPT in a private mount namespace
# where $FULL is a 4 MiB tmpfs, filled to its last block after bash BEFORE
# ran there. Nothing outside the namespace sees the tmpfs.
in_full_tmpfs() {
    [ "$(id -u)" -eq 0 ] || skip "needs root: mounts a tmpfs in a private mount namespace"
    FULL=$BATS_TEST_TMPDIR/full
    mkdir -p "$FULL"
    export FULL PRELOAD TESTCLIENT FUSEBOX dead_PORT
    unshare --mount --propagation private -- bash -c '
        mount -t tmpfs -o size=4m fusebox-full "$FULL" || exit 99
        '"${2:-}"'
        dd if=/dev/zero of="$FULL/filler" bs=4k 2>/dev/null
        [ "$(df --output=avail "$FULL" | tail -1)" -eq 0 ] || exit 98
        '"$1"
}

# trip_rules: fail_max 1 for the refusing server: a second connect trips it,
# and the trip's event is written into the state file.
trip_rules() {
    write_rules "{\"version\": 1, \"breakers\": [{\"name\": \"dead\", \"hosts\": [\"127.0.0.1:$dead_PORT\"], \"fail_max\": 1${1:+, $1}}]}"
}

@test "a state file made on a full tmpfs: one warning, no temp file left, the program and the command run" {
    trip_rules
    run --separate-stderr in_full_tmpfs '
        FUSEBOX_STATE=$FULL/fusebox.state LD_PRELOAD=$PRELOAD "$TESTCLIENT" connect 127.0.0.1 "$dead_PORT" --count 2
        echo "client $?"
        "$FUSEBOX" events --follow -s "$FULL/cli.state"
        echo "events $?"
        ls -A "$FULL"'
    assert_success
    [ "$(grep -c ECONNREFUSED <<<"$output")" -eq 2 ]
    assert_line 'client 0'
    assert_line 'events 1'
    assert_line 'filler'
    [ "${#lines[@]}" -eq 5 ] # nothing else in the directory
    [ "$(grep -c '^fusebox: state file .*fusebox.state: No space left on device; everything passes through$' <<<"$stderr")" -eq 1 ]
    [[ "$stderr" == *"cli.state: No space left on device"* ]]
}

@test "a sparse state file (an older fusebox's) on a full tmpfs is refused at open, not a SIGBUS at the first trip" {
    trip_rules
    run --separate-stderr in_full_tmpfs '
        FUSEBOX_STATE=$FULL/fusebox.state LD_PRELOAD=$PRELOAD "$TESTCLIENT" connect 127.0.0.1 "$dead_PORT" --count 2
        echo "client $?"
        "$FUSEBOX" status -s "$FULL/fusebox.state" >/dev/null
        echo "status $?"
        "$FUSEBOX" fsck -s "$FULL/fusebox.state"
        echo "fsck $?"' '
        FUSEBOX_STATE=$FULL/model.state LD_PRELOAD=$PRELOAD "$TESTCLIENT" connect 127.0.0.1 "$dead_PORT" >/dev/null
        cp --sparse=always "$FULL/model.state" "$FULL/fusebox.state"
        rm "$FULL/model.state"
        [ "$(stat -c %b "$FULL/fusebox.state")" -lt 1000 ] || exit 97'
    assert_success
    [ "$(grep -c ECONNREFUSED <<<"$output")" -eq 2 ]
    assert_line 'client 0'
    assert_line 'status 1'
    assert_line 'ok: 1 breaker, 1 event' # the copy's, read without a fault
    assert_line 'fsck 0'
    [ "$(grep -c '^fusebox: state file .*: it has holes, and its space cannot be reserved: No space left on device; everything passes through$' <<<"$stderr")" -eq 1 ]
}

# loop PORT: under the shim, connects to PORT in a loop until the file stop
# exists; writes the file ready after the first connect.
truncation_loop() {
    shimmed python3 -c '
import os, socket, sys
n = 0
while not os.path.exists("stop"):
    s = socket.socket()
    try:
        s.connect(("127.0.0.1", int(sys.argv[1])))
    except OSError:
        pass
    s.close()
    n += 1
    if n == 1:
        open("ready", "w").close()
print("connects", "many" if n > 1 else n)' "$1"
}

@test "a state file truncated under a running loop costs the program its protection, not its life; events --follow stops with a message" {
    trip_rules '"reset_timeout": 3600'
    shimmed "$TESTCLIENT" connect 127.0.0.1 "$dead_PORT" >/dev/null # trips it: one event
    cd "$BATS_TEST_TMPDIR"
    truncation_loop "$dead_PORT" >loop.out 2>loop.err &
    local loop=$!
    "$FUSEBOX" events --follow >events.out 2>events.err &
    local events=$!
    wait_for 30 test -e ready
    wait_for 30 test -s events.out # it has the file mapped
    : >"$FUSEBOX_STATE"
    wait_for 60 grep -q 'truncated while in use' loop.err
    touch stop
    local loop_status=0 events_status=0
    wait "$loop" || loop_status=$?
    wait "$events" || events_status=$?
    [ "$loop_status" -eq 0 ]
    [ "$(cat loop.out)" = 'connects many' ]
    [ "$(grep -c '^fusebox: ' loop.err)" -eq 1 ]
    grep -q "^fusebox: state file $FUSEBOX_STATE was truncated while in use; everything passes through" loop.err
    [ "$events_status" -eq 1 ]
    [ "$(cat events.err)" = "fusebox: events: state file $FUSEBOX_STATE was truncated while being read" ]
}

# reuse_stderr DATA PORT: under the shim, a daemon-like python3 closes fd 2,
# opens the file DATA (which gets fd 2), connects to PORT (its first call:
# the shim sets up then) and writes a record to DATA.
reuse_stderr() {
    shimmed python3 -c '
import os, socket, sys
os.close(2)
assert os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600) == 2
s = socket.socket()
try:
    s.connect(("127.0.0.1", int(sys.argv[2])))
except OSError:
    pass
os.write(2, b"record\n")' "$@"
}

@test "fd 2 reused for a data file: no fusebox line lands in it; syslog still gets the warning" {
    local data=$BATS_TEST_TMPDIR/data sock=$BATS_TEST_TMPDIR/log.sock got=$BATS_TEST_TMPDIR/syslog
    export FUSEBOX_RULES='{"version": 1, "breakers": 5}'
    run reuse_stderr "$data" "$dead_PORT"
    assert_success
    [ "$(cat "$data")" = record ]
    syslog_receiver "$sock" "$got"
    FUSEBOX_SYSLOG=$sock run reuse_stderr "$data" "$dead_PORT"
    assert_success
    [ "$(cat "$data")" = record ]
    wait_for 30 test -s "$got"
    run cat "$got"
    assert_output --regexp '^<14>fusebox\[[0-9]+\]: rules not loaded, everything passes through: FUSEBOX_RULES:1:28: breakers: must be an array'
    # the control: with fd 2 left alone, the same warning goes to it
    run --separate-stderr shimmed "$TESTCLIENT" connect 127.0.0.1 "$dead_PORT"
    [[ "$stderr" == "fusebox: rules not loaded, everything passes through: FUSEBOX_RULES:1:28: breakers: must be an array"* ]]
}

@test "fd 2 reused for a data file: transitions at FUSEBOX_LOG=info stay out of it" {
    trip_rules
    local data=$BATS_TEST_TMPDIR/data
    FUSEBOX_LOG=info run reuse_stderr "$data" "$dead_PORT"
    assert_success
    [ "$(breaker_field dead state)" = open ]
    [ "$(cat "$data")" = record ]
}

@test "rules nested 900 deep, first read on a thread with a 64 KiB stack: one warning, the program runs" {
    local deep=$BATS_TEST_TMPDIR/deep.json
    python3 -c 'print("{\"version\": 1, \"breakers\": [], \"x\": " + "[" * 900 + "]" * 900 + "}")' >"$deep"
    FUSEBOX_RULES=$deep run --separate-stderr shimmed "$TORTURE" burst "$dead_PORT" 1 64
    assert_success
    assert_output 'ok 0 refused 1 other 0'
    [ "$stderr" = "fusebox: rules not loaded, everything passes through: $deep:1:68: nested deeper than 32 levels" ]
    # the control: rules that load are read on that stack too, and the call counts
    trip_rules
    run --separate-stderr shimmed "$TORTURE" burst "$dead_PORT" 1 64
    assert_success
    assert_output 'ok 0 refused 1 other 0'
    [ -z "$stderr" ]
    [ "$(breaker_field dead failures)" -eq 1 ]
}

# slow_rules: rules that take a while to set up (60 000 breakers, about 0.3 s
# here alone), the first for the refusing server, with fail_max 10000.
slow_rules() {
    python3 -c '
import json, sys
breakers = [{"name": "dead", "hosts": ["127.0.0.1:" + sys.argv[1]], "fail_max": 10000}]
breakers += [{"name": "b%d" % i, "hosts": ["h%d.example.com" % i, "10.%d.%d.0/24" % (i // 250, i % 250)]}
             for i in range(60000)]
json.dump({"version": 1, "breakers": breakers}, open(sys.argv[2], "w"))' "$dead_PORT" "$BATS_TEST_TMPDIR/rules.json"
    export FUSEBOX_RULES=$BATS_TEST_TMPDIR/rules.json
}

@test "500 threads on a slow first load: every call waits for it and is counted, nothing is said" {
    slow_rules
    run --separate-stderr shimmed "$TORTURE" burst "$dead_PORT" 500 256
    assert_success
    assert_output 'ok 0 refused 500 other 0'
    [ -z "$stderr" ]
    [ "$(breaker_field dead calls)" -eq 500 ]
    [ "$(breaker_field dead failures)" -eq 500 ]
}

@test "a connect from a signal handler that interrupts the setting up passes through, and says so once" {
    slow_rules
    run --separate-stderr shimmed "$TORTURE" handler-during-setup "$dead_PORT"
    assert_success
    assert_line 'handler connects: some'
    assert_line 'ok 0 refused 1 other 0'
    [ "$stderr" = "fusebox: a network call passed through uncounted: a signal handler interrupted fusebox setting up on its thread (said once per process)" ]
    [ "$(breaker_field dead failures)" -ge 1 ] # the first connect, and handlers' after the setting up
}
