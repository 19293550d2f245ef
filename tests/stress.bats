#!/usr/bin/env bats
# Load and crashes: many processes and threads on one breaker lose no count
# and record each transition once; a kill -9 at any moment leaves nothing
# stuck.

load common

TORTURE="$BUILD/helpers/connect_torture"

@test "8 processes x 8 threads x 5000 connects, one breaker, a mix of refused and healthy ports" {
    start_server dead refuse
    write_rules '{"version": 1, "breakers": [{"name": "mix", "hosts": ["127.0.0.1"], "fail_max": 4, "reset_timeout": 0.05, "half_open_max_calls": 2}]}'
    local pids=()
    for p in 1 2 3 4 5 6 7 8; do
        shimmed "$TORTURE" mix "$dead_PORT" 8 5000 > "$BATS_TEST_TMPDIR/proc$p" 3>&- &
        pids+=("$!")
    done
    wait "${pids[@]}"
    made=$(cat "$BATS_TEST_TMPDIR"/proc* | awk '{ n += $2 + $4 + $6 } END { print n }')
    [ "$made" -eq 320000 ]
    run "$FUSEBOX" status --json
    python3 - "$output" <<'PY'
import json, sys
(b,) = json.loads(sys.argv[1])["breakers"]
assert b["calls"] == b["successes"] + b["failures"] + b["rejected"], b
assert b["calls"] == 320000, b
assert b["trips"] >= 1, b
print(b)
PY
    trips=$(breaker_field mix trips)
    run "$FUSEBOX" events --json
    opened=$(grep -c '"from": "closed", "to": "open"' <<<"$output")
    [ "$opened" -eq "$trips" ]
}

@test "kill -9 of a process holding the half-open probe: the probe place frees itself after reset_timeout" {
    start_server hole blackhole
    start_server up accept
    # reset_timeout 3: the second connect comes well inside it, however loaded
    # the machine, and the place of the killed probe frees itself after it
    write_rules '{"version": 1, "breakers": [{"name": "b", "hosts": ["127.0.0.1"], "fail_max": 1, "reset_timeout": 3}]}'
    "$FUSEBOX" open b --for 1ms
    sleep 0.01
    env LD_PRELOAD="$PRELOAD" "$TESTCLIENT" connect 127.0.0.1 "$hole_PORT" --nonblock \
        --timeout-ms 30000 3>&- &
    holder=$!
    wait_for 30 breaker_is b state half_open
    run shimmed "$TESTCLIENT" connect 127.0.0.1 "$up_PORT"
    assert_output --partial ECONNREFUSED
    kill -9 "$holder"
    wait "$holder" || true
    wait_for 30 bash -c "LD_PRELOAD='$PRELOAD' '$TESTCLIENT' connect 127.0.0.1 '$up_PORT' | grep -q '^ok'"
    [ "$(breaker_field b state)" = closed ]
}

@test "kill -9 at random moments during a stress run: no breaker stuck, counters consistent" {
    start_server up accept
    start_server dead refuse
    write_rules '{"version": 1, "breakers": [{"name": "mix", "hosts": ["127.0.0.1"], "fail_max": 4, "reset_timeout": 0.1}]}'
    local round p pids
    for round in 1 2 3 4 5 6; do
        pids=()
        for p in 1 2 3 4; do
            # env execs the program: $! is the process to kill, not a subshell
            env LD_PRELOAD="$PRELOAD" "$TORTURE" mix "$dead_PORT" 4 100000 >/dev/null 3>&- &
            pids+=("$!")
        done
        sleep "0.$((RANDOM % 5 + 1))"
        kill -9 "${pids[@]}" 2>/dev/null || true
        wait "${pids[@]}" 2>/dev/null || true
    done
    # Only healthy traffic from now on: the breaker must end up closed.
    wait_for 30 bash -c "LD_PRELOAD='$PRELOAD' '$TESTCLIENT' connect 127.0.0.1 '$up_PORT' --count 5 >/dev/null; '$FUSEBOX' status --json | grep -q '\"state\": \"closed\"'"
    run "$FUSEBOX" status --json
    python3 -c '
import json, sys
(b,) = json.loads(sys.argv[1])["breakers"]
assert b["calls"] == b["successes"] + b["failures"] + b["rejected"], b
assert b["state"] == "closed", b' "$output"
}

@test "20 curl processes at once on a half-open breaker (half_open_max_calls 2): the server never sees more than 2 probes at once" {
    require_preloadable curl
    # Each probe is a whole curl transfer (the libcurl hooks decide it once
    # and record its outcome at the end), and the server holds every answer
    # 2 s, so probes overlap with the arrival of the others. success_threshold
    # 100 keeps the breaker half-open to the end: every transfer let through
    # is a probe.
    start_server api http 200 --hold-ms 2000
    write_rules "{\"version\": 1, \"breakers\": [{\"name\": \"api\", \"hosts\": [\"127.0.0.1:$api_PORT\"],
        \"reset_timeout\": 60, \"success_threshold\": 100, \"half_open_max_calls\": 2}]}"
    "$FUSEBOX" open api --for 1ms >/dev/null
    wait_for 30 breaker_is api retry_in_ms 0
    local i pids=()
    for i in $(seq 20); do
        env LD_PRELOAD="$PRELOAD" curl -sS --max-time 30 -o /dev/null -w '%{http_code}\n' \
            "http://127.0.0.1:$api_PORT/" > "$BATS_TEST_TMPDIR/curl$i.out" 2> "$BATS_TEST_TMPDIR/curl$i.err" 3>&- &
        pids+=("$!")
    done
    local probed=0 rejected=0 rc
    for i in $(seq 20); do
        rc=0
        wait "${pids[$((i - 1))]}" || rc=$?
        case $rc in
        0) [ "$(cat "$BATS_TEST_TMPDIR/curl$i.out")" = 200 ]
           probed=$((probed + 1)) ;;
        7) grep -q "circuit open: breaker 'api'" "$BATS_TEST_TMPDIR/curl$i.err"
           rejected=$((rejected + 1)) ;;
        *) echo "curl $i: exit $rc: $(cat "$BATS_TEST_TMPDIR/curl$i.err")"; false ;;
        esac
    done
    echo "probed $probed rejected $rejected max_concurrent $(server_count api max_concurrent)"
    [ $((probed + rejected)) -eq 20 ]
    [ "$probed" -ge 2 ]
    [ "$(server_count api max_concurrent)" -le 2 ]
    [ "$(server_count api requests)" -eq "$probed" ]
    server_saw api connections "$probed"
    [ "$(breaker_field api state)" = half_open ]
    [ "$(breaker_field api successes)" -eq "$probed" ]
    [ "$(breaker_field api rejected)" -eq "$rejected" ]
}
