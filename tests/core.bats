#!/usr/bin/env bats
# Core behaviour of libfusebox.so with real programs against loopback servers
# that the tests start themselves.

load common

# rules_for NAME HOST [EXTRA_JSON]: one breaker NAME protecting HOST.
rules_for() {
    write_rules "{\"version\": 1, \"breakers\": [{\"name\": \"$1\", \"hosts\": [\"$2\"]${3:+, $3}}]}"
}

# count_connects COMMAND...: runs COMMAND (output in $output, as `run` does)
# and sets CONNECTS to the number of TCP connects that reached the kernel.
count_connects() {
    local before
    before=$(tcp_connects)
    run "$@"
    CONNECTS=$(($(tcp_connects) - before))
}

@test "20 curl runs against a refused port: 3 reach it and say refused, 17 say circuit open" {
    require_preloadable curl
    start_server dead refuse
    rules_for dead "127.0.0.1:$dead_PORT" '"fail_max": 3, "reset_timeout": 60'
    count_connects bash -c '
        for i in $(seq 20); do
            LD_PRELOAD="$1" curl -sS --max-time 5 "http://127.0.0.1:$2/"
            echo "exit=$?"
        done 2>&1' _ "$PRELOAD" "$dead_PORT"
    assert_success
    [ "$(grep -c '^exit=7$' <<<"$output")" -eq 20 ]
    [ "$(grep -c "curl: (7) Failed to connect to 127.0.0.1 port $dead_PORT after [0-9]* ms: Couldn't connect to server" <<<"$output")" -eq 3 ]
    [ "$(grep -c "curl: (7) circuit open: breaker 'dead' (127.0.0.1:$dead_PORT), retry in [0-9]*s" <<<"$output")" -eq 17 ]
    [ "$CONNECTS" -eq 3 ]
    [ "$(breaker_field dead state)" = open ]
    [ "$(breaker_field dead rejected)" -eq 17 ]
    [ "$(breaker_field dead failures)" -eq 3 ]
    [ "$(breaker_field dead trips)" -eq 1 ]
    [ "$(breaker_field dead calls)" -eq 20 ]
}

@test "20 wget runs against a refused port: 3 reach it, all say Connection refused" {
    require_preloadable wget
    start_server dead refuse
    rules_for dead "127.0.0.1:$dead_PORT" '"fail_max": 3, "reset_timeout": 60'
    count_connects bash -c '
        for i in $(seq 20); do
            LD_PRELOAD="$1" wget --tries=1 -O- "http://127.0.0.1:$2/"
            echo "exit=$?"
        done 2>&1' _ "$PRELOAD" "$dead_PORT"
    [ "$(grep -c '^exit=4$' <<<"$output")" -eq 20 ]
    [ "$(grep -c 'failed: Connection refused.' <<<"$output")" -eq 20 ]
    [ "$CONNECTS" -eq 3 ]
    [ "$(breaker_field dead state)" = open ]
    [ "$(breaker_field dead rejected)" -eq 17 ]
    [ "$(breaker_field dead trips)" -eq 1 ]
}

@test "connect timeouts trip the breaker; then python fails fast with ConnectionRefusedError" {
    start_server hole blackhole
    rules_for hole "127.0.0.1:$hole_PORT" '"fail_max": 3, "reset_timeout": 60'
    count_connects shimmed python3 - "$hole_PORT" <<'PY'
import socket, sys
port = int(sys.argv[1])
for i in range(8):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
        print("connected")
    except socket.timeout:
        print("timeout")
    except ConnectionRefusedError:
        print("refused")
PY
    assert_success
    # Refused, not timed out: the rejected connects did not wait, and only
    # the three real ones reached the kernel.
    [ "$(grep -c '^timeout' <<<"$output")" -eq 3 ]
    [ "$(grep -c '^refused' <<<"$output")" -eq 5 ]
    [ "$CONNECTS" -eq 3 ]
    [ "$(breaker_field hole state)" = open ]
    [ "$(breaker_field hole failures)" -eq 3 ]
    [ "$(breaker_field hole rejected)" -eq 5 ]
}

@test "half-open: 20 processes at once against a host still down, exactly one probe reaches it" {
    start_server dead refuse
    # reset_timeout 60: however slowly the 20 processes start, the probe's
    # failure keeps the breaker open for all of them; `open --for 1ms` makes it
    # due for a probe at once
    rules_for dead "127.0.0.1:$dead_PORT" '"fail_max": 1, "reset_timeout": 60'
    run shimmed "$TESTCLIENT" connect 127.0.0.1 "$dead_PORT"
    [ "$(breaker_field dead state)" = open ]
    "$FUSEBOX" open dead --for 1ms
    wait_for 30 breaker_is dead retry_in_ms 0
    count_connects bash -c '
        for i in $(seq 20); do
            LD_PRELOAD="$1" "$2" connect 127.0.0.1 "$3" &
        done
        wait' _ "$PRELOAD" "$TESTCLIENT" "$dead_PORT"
    [ "$(grep -c ECONNREFUSED <<<"$output")" -eq 20 ]
    [ "$CONNECTS" -eq 1 ]
    [ "$(breaker_field dead state)" = open ]
    [ "$(breaker_field dead rejected)" -eq 19 ]
    [ "$(breaker_field dead trips)" -eq 1 ]
}

@test "half-open: probes in flight are bounded by half_open_max_calls across processes" {
    start_server hole blackhole
    # reset_timeout 60 and probes that wait 10 s: both probes are still in
    # flight, and their places held, however slowly the 20 processes start
    rules_for hole "127.0.0.1:$hole_PORT" '"fail_max": 1, "reset_timeout": 60, "half_open_max_calls": 2'
    run shimmed "$TESTCLIENT" connect 127.0.0.1 "$hole_PORT" --timeout-ms 200
    [ "$(breaker_field hole state)" = open ]
    "$FUSEBOX" open hole --for 1ms
    wait_for 30 breaker_is hole retry_in_ms 0
    count_connects bash -c '
        for i in $(seq 20); do
            LD_PRELOAD="$1" "$2" connect 127.0.0.1 "$3" --nonblock --timeout-ms 10000 &
        done
        wait' _ "$PRELOAD" "$TESTCLIENT" "$hole_PORT"
    [ "$CONNECTS" -eq 2 ]
    [ "$(grep -c ECONNREFUSED <<<"$output")" -eq 18 ]
}

@test "half-open: once the host is back, the next probe closes the breaker" {
    start_server dead refuse
    rules_for dead "127.0.0.1:$dead_PORT" '"fail_max": 2, "reset_timeout": 0.3'
    for i in 1 2 3; do shimmed "$TESTCLIENT" connect 127.0.0.1 "$dead_PORT"; done
    [ "$(breaker_field dead state)" = open ]
    kill "${SERVER_PIDS[0]}"
    wait "${SERVER_PIDS[0]}" || true
    start_server back accept --port "$dead_PORT"
    wait_for 30 breaker_is dead retry_in_ms 0
    run shimmed "$TESTCLIENT" connect 127.0.0.1 "$dead_PORT"
    assert_output --partial ok
    [ "$(breaker_field dead state)" = closed ]
    [ "$(breaker_field dead consecutive_failures)" -eq 0 ]
    server_saw back connections 1
}

@test "a class outside failure_on resets the consecutive count; exclude never counts" {
    start_server dead refuse
    start_server hole blackhole
    write_rules "{\"version\": 1, \"breakers\": [
        {\"name\": \"b\", \"hosts\": [\"127.0.0.1:$dead_PORT\", \"127.0.0.1:$hole_PORT\"],
         \"fail_max\": 3, \"failure_on\": [\"refused\"]},
        {\"name\": \"x\", \"hosts\": [\"[::1]:$dead_PORT\", \"127.0.0.2:$dead_PORT\"],
         \"fail_max\": 1, \"exclude\": [\"refused\"]}]}"
    shimmed "$TESTCLIENT" connect 127.0.0.1 "$dead_PORT" --count 2
    [ "$(breaker_field b consecutive_failures)" -eq 2 ]
    shimmed "$TESTCLIENT" connect 127.0.0.1 "$hole_PORT" --nonblock --timeout-ms 200
    [ "$(breaker_field b consecutive_failures)" -eq 0 ]
    [ "$(breaker_field b successes)" -eq 1 ]
    shimmed "$TESTCLIENT" connect 127.0.0.1 "$dead_PORT" --count 2
    [ "$(breaker_field b state)" = closed ]
    run shimmed "$TESTCLIENT" connect 127.0.0.2 "$dead_PORT" --count 5
    [ "$(grep -c ECONNREFUSED <<<"$output")" -eq 5 ]
    [ "$(breaker_field x state)" = closed ]
    [ "$(breaker_field x failures)" -eq 0 ]
    [ "$(breaker_field x successes)" -eq 5 ]
}

@test "names resolved with getaddrinfo select the breaker: python and wget to localhost" {
    require_preloadable wget
    start_server dead refuse
    write_rules "{\"version\": 1, \"breakers\": [
        {\"name\": \"by-name\", \"hosts\": [\"LOCALHOST.:$dead_PORT\"], \"fail_max\": 2},
        {\"name\": \"by-address\", \"hosts\": [\"127.0.0.1\"], \"fail_max\": 100}]}"
    run shimmed python3 -c '
import socket, sys
for i in range(3):
    try:
        socket.create_connection(("localhost", int(sys.argv[1])), timeout=2)
    except OSError as e:
        print(type(e).__name__)' "$dead_PORT"
    [ "$(grep -c ConnectionRefusedError <<<"$output")" -eq 3 ]
    [ "$(breaker_field by-name state)" = open ]
    run shimmed wget --tries=1 -O- "http://localhost:$dead_PORT/"
    assert_output --partial 'Connection refused'
    [ "$(breaker_field by-name rejected)" -ge 2 ]
    [ "$(breaker_field by-address calls)" = absent ]
}

@test "non-blocking connects are counted from SO_ERROR, close while pending is a timeout" {
    start_server up accept
    start_server hole blackhole
    write_rules "{\"version\": 1, \"breakers\": [
        {\"name\": \"up\", \"hosts\": [\"127.0.0.1:$up_PORT\"]},
        {\"name\": \"hole\", \"hosts\": [\"127.0.0.1:$hole_PORT\"], \"fail_max\": 2}]}"
    shimmed "$TESTCLIENT" connect 127.0.0.1 "$up_PORT" --nonblock --count 3
    [ "$(breaker_field up successes)" -eq 3 ]
    shimmed "$TESTCLIENT" connect 127.0.0.1 "$hole_PORT" --close-pending --timeout-ms 100 --count 2
    [ "$(breaker_field hole failures)" -eq 2 ]
    [ "$(breaker_field hole state)" = open ]
}

@test "unruled destinations, UDP and AF_UNIX are untouched" {
    start_server dead refuse
    start_server other refuse
    rules_for dead "127.0.0.1:$dead_PORT" '"fail_max": 1'
    shimmed "$TESTCLIENT" connect 127.0.0.1 "$dead_PORT"
    [ "$(breaker_field dead state)" = open ]
    count_connects env LD_PRELOAD="$PRELOAD" "$TESTCLIENT" connect 127.0.0.1 "$other_PORT" --count 5
    [ "$CONNECTS" -eq 5 ]
    run shimmed python3 - "$dead_PORT" "$BATS_TEST_TMPDIR/unix.sock" <<'PY'
import socket, sys
udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
udp.connect(("127.0.0.1", int(sys.argv[1])))
udp.send(b"x")
print("udp ok")
server = socket.socket(socket.AF_UNIX)
server.bind(sys.argv[2])
server.listen(1)
client = socket.socket(socket.AF_UNIX)
client.connect(sys.argv[2])
print("unix ok")
PY
    assert_success
    assert_line "udp ok"
    assert_line "unix ok"
    [ "$(breaker_field dead rejected)" -eq 0 ]
    run "$FUSEBOX" status --json
    refute_output --partial "$other_PORT"
}

@test "FUSEBOX_DISABLE=1 passes everything through, even an open breaker" {
    start_server dead refuse
    rules_for dead "127.0.0.1:$dead_PORT" '"fail_max": 1'
    shimmed "$TESTCLIENT" connect 127.0.0.1 "$dead_PORT"
    [ "$(breaker_field dead state)" = open ]
    count_connects env LD_PRELOAD="$PRELOAD" \
        FUSEBOX_DISABLE=1 "$TESTCLIENT" connect 127.0.0.1 "$dead_PORT" --count 4
    [ "$(grep -c ECONNREFUSED <<<"$output")" -eq 4 ]
    [ "$CONNECTS" -eq 4 ]
    [ "$(breaker_field dead rejected)" -eq 0 ]
}

@test "a failed lookup of a ruled name counts as class dns" {
    # Only where the suite runs in its own network namespace (run-tests.sh
    # makes one as root): there the resolver's query cannot leave the machine.
    [ "$(ip -o link show | wc -l)" -eq 1 ] || skip "needs a private network namespace"
    write_rules '{"version": 1, "breakers": [{"name": "dns", "hosts": ["api.fusebox.test"], "fail_max": 2}]}'
    run shimmed python3 -c '
import socket
for i in range(3):
    try:
        socket.getaddrinfo("API.fusebox.test.", 80)
    except socket.gaierror as e:
        print("gaierror")'
    [ "$(grep -c gaierror <<<"$output")" -eq 3 ]
    [ "$(breaker_field dns failures)" -eq 2 ]
    [ "$(breaker_field dns state)" = open ]
}
