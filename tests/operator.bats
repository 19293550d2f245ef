#!/usr/bin/env bats
# The operator's commands: forced states, events, metrics and explain.

load common

rules_for() {
    write_rules "{\"version\": 1, \"breakers\": [{\"name\": \"$1\", \"hosts\": [\"$2\"]${3:+, $3}}]}"
}

@test "fusebox open before any program ran: calls fail at once, none reaches the host" {
    start_server up accept
    run "$FUSEBOX" open payments
    assert_success
    assert_output 'payments: forced_open'
    [ "$(stat -c %a "$FUSEBOX_STATE")" = 600 ]
    rules_for payments "127.0.0.1:$up_PORT"
    before=$(tcp_connects)
    run shimmed "$TESTCLIENT" connect 127.0.0.1 "$up_PORT" --count 3
    [ "$(grep -c ECONNREFUSED <<<"$output")" -eq 3 ]
    [ "$(tcp_connects)" -eq "$before" ]
    [ "$(breaker_field payments state)" = forced_open ]
    [ "$(breaker_field payments rejected)" -eq 3 ]
    [ "$(breaker_field payments retry_in_ms)" = null ]
}

@test "fusebox open --for: once the time is up the next call probes, and success closes" {
    start_server up accept
    rules_for payments "127.0.0.1:$up_PORT"
    "$FUSEBOX" open payments --for 300ms
    run shimmed "$TESTCLIENT" connect 127.0.0.1 "$up_PORT"
    assert_output --partial ECONNREFUSED
    wait_for 30 breaker_is payments retry_in_ms 0
    run shimmed "$TESTCLIENT" connect 127.0.0.1 "$up_PORT"
    assert_output --regexp '^ok'
    [ "$(breaker_field payments state)" = closed ]
}

@test "fusebox close lets calls through again; disable records nothing; enable restores" {
    start_server dead refuse
    rules_for dead "127.0.0.1:$dead_PORT" '"fail_max": 1'
    shimmed "$TESTCLIENT" connect 127.0.0.1 "$dead_PORT" --count 2
    [ "$(breaker_field dead state)" = open ]
    "$FUSEBOX" close dead
    [ "$(breaker_field dead state)" = closed ]
    [ "$(breaker_field dead consecutive_failures)" -eq 0 ]
    "$FUSEBOX" disable dead
    before=$(tcp_connects)
    shimmed "$TESTCLIENT" connect 127.0.0.1 "$dead_PORT" --count 4
    [ "$(($(tcp_connects) - before))" -eq 4 ]
    [ "$(breaker_field dead state)" = disabled ]
    [ "$(breaker_field dead failures)" -eq 1 ]
    "$FUSEBOX" enable dead
    [ "$(breaker_field dead state)" = closed ]
    shimmed "$TESTCLIENT" connect 127.0.0.1 "$dead_PORT" --count 2
    [ "$(breaker_field dead state)" = open ]
}

@test "forced-state commands: usage errors exit 2 with a message" {
    run "$FUSEBOX" open
    [ "$status" -eq 2 ]
    assert_output --partial 'open: give the name of a breaker'
    run "$FUSEBOX" open x --for soon
    [ "$status" -eq 2 ]
    assert_output --partial "open: --for soon: not a duration"
    run "$FUSEBOX" close --for 3 x
    [ "$status" -eq 2 ]
}

@test "fusebox events: each transition once, with its reason and the program that caused it" {
    start_server dead refuse
    rules_for dead "127.0.0.1:$dead_PORT" '"fail_max": 3, "reset_timeout": 0.2'
    shimmed "$TESTCLIENT" connect 127.0.0.1 "$dead_PORT" --count 3
    wait_for 30 breaker_is dead retry_in_ms 0
    shimmed "$TESTCLIENT" connect 127.0.0.1 "$dead_PORT"
    "$FUSEBOX" reset dead
    run "$FUSEBOX" events
    assert_success
    assert_line --index 0 --regexp "^[0-9T:.-]+Z  dead  closed -> open  3 consecutive failures \(refused\)  \[testclient [0-9]+\]$"
    assert_line --index 1 --regexp "  dead  open -> half_open  reset timeout elapsed, probing  \[testclient [0-9]+\]$"
    assert_line --index 2 --regexp "  dead  half_open -> open  probe failed \(refused\)  \[testclient [0-9]+\]$"
    assert_line --index 3 --regexp "  dead  open -> closed  changed by operator  \[fusebox [0-9]+\]$"
    [ "${#lines[@]}" -eq 4 ]
    run "$FUSEBOX" events --json
    python3 -c '
import json, sys
events = [json.loads(line) for line in sys.argv[1].splitlines()]
assert [e["seq"] for e in events] == [0, 1, 2, 3], events
assert events[0]["reason"] == "3 consecutive failures (refused)", events[0]
assert events[0]["program"] == "testclient" and events[0]["pid"] > 0, events[0]
assert set(events[0]) == {"seq", "time", "breaker", "from", "to", "reason", "pid", "program"}
' "$output"
    run "$FUSEBOX" events --since 1h
    [ "${#lines[@]}" -eq 4 ]
    sleep 0.01
    run "$FUSEBOX" events --since 1ms
    [ "${#lines[@]}" -eq 0 ]
}

@test "fusebox events --follow sees an event another process causes" {
    start_server dead refuse
    rules_for dead "127.0.0.1:$dead_PORT" '"fail_max": 1'
    "$FUSEBOX" events --follow > "$BATS_TEST_TMPDIR/follow" 3>&- &
    SERVER_PIDS+=("$!") # stopped at teardown like the servers
    wait_for 30 test -f "$FUSEBOX_STATE"
    shimmed "$TESTCLIENT" connect 127.0.0.1 "$dead_PORT"
    wait_for 30 grep -q 'closed -> open' "$BATS_TEST_TMPDIR/follow"
}

@test "fusebox events says when the ring wrapped" {
    for i in $(seq 520); do echo "open b$i"; echo "close b$i"; done | while read -r verb name; do
        "$FUSEBOX" "$verb" "$name" >/dev/null
    done
    run --separate-stderr "$FUSEBOX" events
    [ "${#lines[@]}" -eq 1024 ]
    [ "$stderr" = "fusebox: events: 16 older events lost (the ring keeps the last 1024)" ]
}

@test "fusebox metrics: valid Prometheus text with every documented family" {
    start_server dead refuse
    write_rules "{\"version\": 1, \"breakers\": [{\"name\": \"pay/ments\", \"hosts\": [\"127.0.0.1:$dead_PORT\"], \"fail_max\": 2}]}"
    shimmed "$TESTCLIENT" connect 127.0.0.1 "$dead_PORT" --count 3
    "$FUSEBOX" open 'odd"name\x'
    run "$FUSEBOX" metrics
    assert_success
    python3 - "$output" <<'PY'
import re, sys
text = sys.argv[1]
families, samples = {}, {}
sample_re = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)\{((?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*",?)*)\} (\S+)$')
for line in text.splitlines():
    if line.startswith("# HELP "):
        name = line.split()[2]
        assert name not in families, "HELP twice: " + name
        families[name] = None
    elif line.startswith("# TYPE "):
        _, _, name, kind = line.split()
        assert name in families and families[name] is None, "TYPE before HELP: " + line
        assert kind in ("counter", "gauge"), line
        assert (kind == "counter") == name.endswith("_total"), line
        families[name] = kind
    else:
        m = sample_re.match(line)
        assert m, "bad sample line: " + line
        assert m.group(1) in families and families[m.group(1)], "sample before TYPE: " + line
        float(m.group(3))
        samples[(m.group(1), m.group(2))] = float(m.group(3))
assert set(families) == {"fusebox_breaker_state", "fusebox_calls_total", "fusebox_fallbacks_total",
                         "fusebox_trips_total",
                         "fusebox_consecutive_failures", "fusebox_open_seconds_remaining"}, families
assert samples[("fusebox_breaker_state", 'breaker="pay/ments",state="open"')] == 1
assert samples[("fusebox_calls_total", 'breaker="pay/ments",outcome="failure"')] == 2
assert samples[("fusebox_calls_total", 'breaker="pay/ments",outcome="rejected"')] == 1
assert samples[("fusebox_trips_total", 'breaker="pay/ments"')] == 1
assert 0 < samples[("fusebox_open_seconds_remaining", 'breaker="pay/ments"')] <= 30
assert samples[("fusebox_breaker_state", 'breaker="odd\\"name\\\\x",state="forced_open"')] == 1
PY
}

@test "fusebox explain: the chosen pattern, the ones it beat, and the breaker's state" {
    write_rules '{"version": 1, "breakers": [
      {"name": "exact", "hosts": ["api.example.com:8443"]},
      {"name": "wild", "hosts": ["*.example.com"]},
      {"name": "net", "hosts": ["10.0.0.0/8"]}]}'
    run "$FUSEBOX" explain https://api.example.com/v1
    assert_success
    assert_line 'destination: api.example.com port 443'
    assert_line --regexp '^  api\.example\.com:8443 +exact name and port +breaker exact +\(other port\)$'
    assert_line --regexp '^  \*\.example\.com +wildcard +breaker wild +<- chosen$'
    assert_line 'breaker: wild'
    assert_line --regexp '^state: closed \(not used yet'
    run "$FUSEBOX" explain api.example.com:8443
    assert_line 'breaker: exact'
    run "$FUSEBOX" explain 10.1.2.3:22
    assert_line 'breaker: net'
    run "$FUSEBOX" explain elsewhere.org
    assert_line 'breaker: none; calls to it pass through untouched'
    run "$FUSEBOX" explain 'http://[::1'
    [ "$status" -eq 1 ]
    unset FUSEBOX_RULES
    run "$FUSEBOX" explain x.org
    [ "$status" -eq 2 ]
}

@test "fusebox status: coloured only on a terminal, --watch redraws" {
    "$FUSEBOX" open x
    run "$FUSEBOX" status
    refute_output --partial $'\033['
    # two redraws, however long they take; the timeout only guards a hang
    run bash -c 'timeout 60 "$1" status --watch | grep -m 2 "^1 breaker: 1 open, 0 closed$"' _ "$FUSEBOX"
    [ "${#lines[@]}" -eq 2 ]
    run "$FUSEBOX" status --watch --json
    [ "$status" -eq 2 ]
}

@test "forced open says so, with the time left under --for: in curl's error, status and explain (not 'retry in 0s')" {
    start_server up http 200
    rules_for payments "127.0.0.1:$up_PORT"
    local url=http://127.0.0.1:$up_PORT/ circuit="circuit open: breaker 'payments' (127.0.0.1:$up_PORT)"
    "$FUSEBOX" open payments
    run shimmed "$BUILD/helpers/curl_options" multi "$url"
    assert_line "done 0: rc=7 error='$circuit, forced open until closed'"
    if [ -z "$PRELOAD_BEFORE_SHIM" ]; then # curl itself, where a sanitizer runtime lets it run
        run --separate-stderr shimmed curl -sS -o /dev/null "$url"
        [ "$status" -eq 7 ]
        [ "$stderr" = "curl: (7) $circuit, forced open until closed" ]
    fi
    run "$FUSEBOX" status
    assert_line --regexp '^payments +forced_open +.* until closed$'
    run "$FUSEBOX" explain "127.0.0.1:$up_PORT"
    assert_line --regexp "^state: forced_open until closed, 0 consecutive failures \("
    "$FUSEBOX" open payments --for 1h
    run shimmed "$BUILD/helpers/curl_options" multi "$url"
    local left
    left=$(sed -n "s/.*forced open, \([0-9]*\)s left'$/\1/p" <<<"$output")
    assert_line "done 0: rc=7 error='$circuit, forced open, ${left}s left'"
    [ "$left" -le 3600 ] && [ "$left" -gt 0 ]
    run "$FUSEBOX" status
    assert_line --regexp '^payments +forced_open +.* [0-9]+\.[0-9]s left$'
    run "$FUSEBOX" explain "127.0.0.1:$up_PORT"
    assert_line --regexp "^state: forced_open, [0-9]+\.[0-9]s left, 0 consecutive failures \("
    [ "$(server_count up requests)" -eq 0 ]
}

@test "fusebox gc: gives back the slots of unused breakers no rule names, says which; keeps the ruled and the forced; fsck stays clean" {
    start_server up accept
    rules_for api "127.0.0.1:$up_PORT" '"per_host": true'
    shimmed "$TESTCLIENT" connect 127.0.0.1 "$up_PORT" # api and its host's api/127.0.0.1:PORT
    "$FUSEBOX" close old-a old-b                         # as if of rules long gone
    "$FUSEBOX" open pinned
    "$FUSEBOX" disable quiet
    local rest="kept 2 in the rules"
    # by default a breaker must be unused for a day: all were used just now
    run "$FUSEBOX" gc
    assert_success
    assert_line 'kept pinned: forced_open by an operator'
    assert_line 'kept quiet: disabled by an operator'
    assert_line "gc: removed 0 breakers in no rule of $FUSEBOX_RULES; $rest, 2 in no rule but used within 1d, 2 forced or disabled; 4090 of 4096 slots free"
    [ "${#lines[@]}" -eq 3 ]
    run "$FUSEBOX" gc --idle 0
    assert_success
    assert_line 'removed old-a'
    assert_line 'removed old-b'
    assert_line 'kept pinned: forced_open by an operator'
    assert_line 'kept quiet: disabled by an operator'
    assert_line "gc: removed 2 breakers in no rule of $FUSEBOX_RULES; $rest, 0 in no rule but used within 0, 2 forced or disabled; 4092 of 4096 slots free"
    [ "${#lines[@]}" -eq 5 ]
    run "$FUSEBOX" status --json
    [ "$(python3 -c 'import json, sys; print(" ".join(b["name"] for b in json.loads(sys.argv[1])["breakers"]))' "$output")" = \
        "api api/127.0.0.1:$up_PORT pinned quiet" ]
    run "$FUSEBOX" fsck
    assert_output 'ok: 4 breakers, 4 events'
    # a slot given back is taken again, fresh
    "$FUSEBOX" close old-a
    [ "$(breaker_field old-a calls)" -eq 0 ]
    run "$FUSEBOX" fsck
    assert_output 'ok: 5 breakers, 5 events'
    # -r wins over FUSEBOX_RULES; the rules decide what stays
    run "$FUSEBOX" gc --idle 0 -r '{"version": 1, "breakers": [{"name": "pinned", "hosts": ["a.example"]}]}'
    assert_line 'removed api'
    assert_line "removed api/127.0.0.1:$up_PORT"
    assert_line 'removed old-a'
    assert_line --partial 'gc: removed 3 breakers in no rule of FUSEBOX_RULES; kept 1 in the rules, 0 in no rule'
    run "$FUSEBOX" fsck
    assert_output 'ok: 2 breakers, 5 events'
    unset FUSEBOX_RULES
    run "$FUSEBOX" gc
    [ "$status" -eq 2 ]
    assert_output --partial 'gc: no rules: give -r RULES or set FUSEBOX_RULES'
    run "$FUSEBOX" gc -r /nonexistent
    [ "$status" -eq 1 ]
}
