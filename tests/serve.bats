#!/usr/bin/env bats
# fusebox serve (HTTP on loopback, checked with curl), FUSEBOX_SYSLOG and the
# bash completion script.

load common

# request METHOD PATH [CURL_ARGS...]: sends one request to the server; sets
# CODE, TYPE, ALLOW and BODY.
request() {
    local meta method=$1 path=$2
    shift 2
    meta=$(curl -sS -D "$BATS_TEST_TMPDIR/headers" -o "$BATS_TEST_TMPDIR/body" \
        -w '%{http_code}\t%{content_type}' -X "$method" "$@" "$SERVE_URL$path")
    CODE=${meta%%$'\t'*}
    TYPE=${meta#*$'\t'}
    ALLOW=$(sed -n 's/^Allow: \(.*\)\r$/\1/p' "$BATS_TEST_TMPDIR/headers")
    BODY=$(cat "$BATS_TEST_TMPDIR/body")
}

# control PATH [CURL_ARGS...]: a POST with the token of a server started with
# --allow-control (the default token file, next to the state file).
control() {
    request POST "$1" -H "Authorization: Bearer $(cat "$FUSEBOX_STATE.serve-token")" "${@:2}"
}

# json EXPRESSION: evaluates a Python expression on BODY parsed as JSON (d).
json() {
    python3 -c 'import json, sys; d = json.loads(sys.argv[2]); print(eval(sys.argv[1]))' "$1" "$BODY"
}

@test "serve: GET /breakers is status --json; GET /breakers/NAME one breaker, 404 when unknown" {
    "$FUSEBOX" open payments
    "$FUSEBOX" disable search
    start_serve
    request GET /breakers
    [ "$CODE" = 200 ]
    [ "$TYPE" = application/json ]
    [ "$(json 'd == json.loads(sys.stdin.read())' <<<"$("$FUSEBOX" status --json)")" = True ]
    [ "$(json '[(b["name"], b["state"]) for b in d["breakers"]]')" = \
        "[('payments', 'forced_open'), ('search', 'disabled')]" ]
    request GET /breakers/search
    [ "$CODE" = 200 ]
    [ "$(json 'd["name"], d["state"], d["calls"], d["retry_in_ms"]')" = "('search', 'disabled', 0, None)" ]
    request GET /breakers/nothing
    [ "$CODE" = 404 ]
    [ "$(json 'd["error"]')" = "no such breaker" ]
}

@test "serve: GET /metrics is the text of fusebox metrics, as text/plain; version=0.0.4" {
    start_server dead refuse
    write_rules "{\"version\": 1, \"breakers\": [{\"name\": \"dead\", \"hosts\": [\"127.0.0.1:$dead_PORT\"], \"fail_max\": 2}]}"
    shimmed "$TESTCLIENT" connect 127.0.0.1 "$dead_PORT" --count 1
    "$FUSEBOX" open 'odd"name'
    start_serve
    request GET /metrics
    [ "$CODE" = 200 ]
    [ "$TYPE" = "text/plain; version=0.0.4" ]
    [ "$BODY" = "$("$FUSEBOX" metrics)" ]
    assert_equal "$(grep -c '^fusebox_calls_total{breaker="dead",outcome="failure"} 1$' <<<"$BODY")" 1
    assert_equal "$(grep -c '^fusebox_breaker_state{breaker="odd\\"name",state="forced_open"} 1$' <<<"$BODY")" 1
}

@test "serve: GET /health is 200 while no breaker is open, 503 listing the open ones after fusebox open" {
    start_serve
    request GET /health
    [ "$CODE" = 200 ]
    [ "$(json 'd')" = "{'status': 'ok'}" ]
    "$FUSEBOX" close quiet
    "$FUSEBOX" open payments
    "$FUSEBOX" open billing --for 1h
    request GET /health
    [ "$CODE" = 503 ]
    [ "$(json 'd["status"], d["open"]')" = "('open', ['billing', 'payments'])" ]
    "$FUSEBOX" close payments billing
    request GET /health
    [ "$CODE" = 200 ]
}

@test "serve without --allow-control: every control endpoint answers 403 and changes nothing" {
    "$FUSEBOX" open payments
    start_serve
    for action in open close reset disable enable; do
        request POST "/breakers/payments/$action"
        [ "$CODE" = 403 ]
        [[ "$(json 'd["error"]')" == *--allow-control* ]]
    done
    request POST "/breakers/other/open?for=10s"
    [ "$CODE" = 403 ]
    [ "$(breaker_field payments state)" = forced_open ]
    [ "$(breaker_field other state)" = absent ]
    run "$FUSEBOX" events
    [ "${#lines[@]}" -eq 1 ]
    grep -q 'control refused' "$BATS_TEST_TMPDIR/serve.out"
}

@test "serve --allow-control: POST open (?for=), close, disable, enable and reset change the breaker and record events" {
    start_serve --allow-control
    since=$(now_ms)
    control "/breakers/payments/open?for=90s"
    [ "$CODE" = 200 ]
    [ "$(json 'd["name"], d["state"]')" = "('payments', 'forced_open')" ]
    remaining_is "$(json 'd["retry_in_ms"]')" 90000 "$since"
    [ "$(breaker_field payments state)" = forced_open ]
    control /breakers/payments/close
    [ "$(json 'd["state"]')" = closed ]
    control /breakers/payments/disable
    [ "$(breaker_field payments state)" = disabled ]
    control /breakers/payments/enable
    [ "$(breaker_field payments state)" = closed ]
    control /breakers/payments/open
    [ "$CODE" = 200 ]
    [ "$(json 'd["state"], d["retry_in_ms"]')" = "('forced_open', None)" ]
    control /breakers/payments/reset
    [ "$CODE" = 200 ]
    [ "$(breaker_field payments state)" = closed ]
    run "$FUSEBOX" events
    assert_line --index 0 --regexp '  payments  closed -> forced_open  .*\[fusebox [0-9]+\]$'
    assert_line --index 1 --regexp '  payments  forced_open -> closed  '
    assert_line --index 2 --regexp '  payments  closed -> disabled  '
    assert_line --index 3 --regexp '  payments  disabled -> closed  '
    assert_line --index 4 --regexp '  payments  closed -> forced_open  '
    assert_line --index 5 --regexp '  payments  forced_open -> closed  '
    [ "${#lines[@]}" -eq 6 ]
}

@test "serve: unknown paths 404, other methods 405 with Allow, bad ?for= 400, reset of an unknown breaker 404" {
    start_serve --allow-control
    request GET /nowhere
    [ "$CODE" = 404 ]
    [ "$TYPE" = application/json ]
    request POST /breakers/payments/explode
    [ "$CODE" = 404 ]
    request DELETE /breakers
    [ "$CODE" = 405 ]
    [ "$ALLOW" = "GET, POST" ]
    request PUT /breakers/payments/open
    [ "$CODE" = 405 ]
    request POST /metrics
    [ "$CODE" = 405 ]
    [ "$ALLOW" = GET ]
    request POST /breakers/payments
    [ "$CODE" = 405 ]
    control "/breakers/payments/open?for=soon"
    [ "$CODE" = 400 ]
    [[ "$(json 'd["error"]')" == *"not a duration"* ]]
    control "/breakers/payments/close?for=10s"
    [ "$CODE" = 400 ]
    control /breakers/payments/reset
    [ "$CODE" = 404 ]
    [ "$(breaker_field payments state)" = absent ]
}

@test "serve --allow-control: a POST needs the token from the 0600 token file, names the server by address or localhost, from no other origin" {
    start_serve --allow-control
    local token_file=$FUSEBOX_STATE.serve-token
    [ "$(stat -c %a "$token_file")" = 600 ]
    grep -q "control allowed with the token in $token_file" "$BATS_TEST_TMPDIR/serve.out"
    [[ "$(cat "$token_file")" =~ ^[0-9a-f]{64}$ ]]
    local good=(-H "Authorization: Bearer $(cat "$token_file")")
    request POST /breakers/payments/open
    [ "$CODE" = 401 ]
    [[ "$(json 'd["error"]')" == *'Authorization: Bearer TOKEN'* ]]
    grep -qi '^WWW-Authenticate: Bearer' "$BATS_TEST_TMPDIR/headers"
    request POST /breakers/payments/open -H "Authorization: Bearer $(tr 0-9a-f 1-9a-f0 < "$token_file")"
    [ "$CODE" = 401 ]
    request POST /breakers/payments/open -H "Authorization: Basic $(cat "$token_file")"
    [ "$CODE" = 401 ]
    local port=${SERVE_URL##*:}
    # what a web page can send: another site's name (DNS rebinding), its own origin
    for host in "evil.example:$port" evil.example "127.0.0.1.evil.example:$port" "[::1" "127.0.0.1:x"; do
        request POST /breakers/payments/open "${good[@]}" -H "Host: $host"
        [ "$CODE" = 403 ]
        [[ "$(json 'd["error"]')" == "foreign Host"* ]]
    done
    for origin in http://evil.example "http://evil.example:$port" null "https://127.0.0.1:$port"; do
        request POST /breakers/payments/open "${good[@]}" -H "Origin: $origin"
        [ "$CODE" = 403 ]
        [[ "$(json 'd["error"]')" == "foreign Origin"* ]]
    done
    [ "$(breaker_field payments state)" = absent ]
    [ "$(grep -c forced_open "$BATS_TEST_TMPDIR/serve.out")" -eq 0 ]
    # a script with the token, naming the server by address or localhost
    request POST /breakers/payments/open "${good[@]}"
    [ "$CODE" = 200 ]
    request POST /breakers/payments/close "${good[@]}" -H "Host: localhost:$port" -H "Origin: http://localhost:$port"
    [ "$CODE" = 200 ]
    request POST /breakers/payments/disable "${good[@]}" -H "Host: [::1]:$port"
    [ "$CODE" = 200 ]
    [ "$(breaker_field payments state)" = disabled ]
    # GETs need nothing
    request GET /health -H "Host: evil.example"
    [ "$CODE" = 200 ]
    # the file goes at exit
    kill -TERM "${SERVER_PIDS[0]}"
    wait "${SERVER_PIDS[0]}"
    [ ! -e "$token_file" ]
}

@test "serve: the token file replaces a symlink at its path, never writes through it; --token-file names another" {
    echo victim > "$BATS_TEST_TMPDIR/victim"
    ln -s "$BATS_TEST_TMPDIR/victim" "$FUSEBOX_STATE.serve-token"
    start_serve --allow-control
    [ "$(cat "$BATS_TEST_TMPDIR/victim")" = victim ]
    [ ! -L "$FUSEBOX_STATE.serve-token" ]
    [ "$(stat -c %a "$FUSEBOX_STATE.serve-token")" = 600 ]
    kill -TERM "${SERVER_PIDS[0]}"
    wait "${SERVER_PIDS[0]}"
    SERVER_PIDS=()
    start_serve --allow-control --token-file "$BATS_TEST_TMPDIR/other-token"
    control /breakers/payments/open
    [ "$CODE" = 401 ]
    request POST /breakers/payments/open -H "Authorization: Bearer $(cat "$BATS_TEST_TMPDIR/other-token")"
    [ "$CODE" = 200 ]
    run "$FUSEBOX" serve --token-file "$BATS_TEST_TMPDIR/x"
    [ "$status" -eq 2 ]
    assert_output --partial '--token-file goes with --allow-control'
}

# slow_clients N SOURCES: N connections to the server from SOURCES loopback
# addresses that send the start of a request and nothing more (their fds
# need a higher limit than the usual 1024); waits until every connect ended.
slow_clients() {
    local report=$BATS_TEST_TMPDIR/slow.report
    rm -f "$report"
    (ulimit -n 4096 && exec python3 "$BATS_TEST_DIRNAME/helpers/slow_clients.py" \
        --port "${SERVE_URL##*:}" --count "$1" --sources "$2" --report "$report") 3>&- &
    SLOW_PID=$!
    SERVER_PIDS+=("$SLOW_PID")
    wait_for 60 test -s "$report"
}

slow_report_is() { [ "$(cat "$BATS_TEST_TMPDIR/slow.report")" = "$1" ]; }

# health_under WHAT: GET /health must answer 200; prints how long it took.
# The time limit only guards a hang (it answers in milliseconds).
health_under() {
    local meta
    meta=$(curl -sS --max-time 30 -o /dev/null -w '%{http_code} %{time_total}' "$SERVE_URL/health")
    echo "# /health under $1: HTTP ${meta% *} in ${meta#* } s" >&3
    [ "${meta% *}" = 200 ]
}

@test "serve: 1100 slow clients from one address, or from 1100, do not keep /health from answering" {
    start_serve
    slow_clients 1100 1
    # one address holds 16 connections; the server closed the others at once
    wait_for 30 slow_report_is "open 16 closed 1084 failed 0"
    health_under "1100 slow clients from one address"
    kill "$SLOW_PID"
    wait "$SLOW_PID" || true
    slow_clients 1100 1100
    slow_report_is "open 1100 closed 0 failed 0"
    health_under "1100 slow clients from 1100 addresses"
    request GET /metrics
    [ "$CODE" = 200 ]
}

@test "serve --timeout: a connection idle that long is closed; a bad --timeout exits 2" {
    start_serve --timeout 1
    slow_clients 20 2
    # each is closed about a second after its last byte; the deadline guards a hang
    wait_for 30 slow_report_is "open 0 closed 20 failed 0"
    health_under "20 slow clients being timed out"
    for bad in 0 soon 2d; do
        run "$FUSEBOX" serve --timeout "$bad"
        [ "$status" -eq 2 ]
        assert_output --partial "serve: --timeout $bad: not a duration from 1s to 1d"
    done
}

@test "serve: headers beyond 16 KiB answer 431, a body beyond 1 KiB or of unsaid length 413; the server goes on" {
    start_serve --allow-control
    request GET /health -H "X-Padding: $(head -c 20000 /dev/zero | tr '\0' a)"
    [ "$CODE" = 431 ]
    head -c 1025 /dev/zero > "$BATS_TEST_TMPDIR/big"
    control /breakers/payments/open --data-binary @"$BATS_TEST_TMPDIR/big"
    [ "$CODE" = 413 ]
    [ "$(json 'd["error"]')" = "request body too large" ]
    control /breakers/payments/open -H 'Transfer-Encoding: chunked' --data-binary x
    [ "$CODE" = 413 ]
    [ "$(breaker_field payments state)" = absent ]
    head -c 1024 /dev/zero > "$BATS_TEST_TMPDIR/small"
    control /breakers/payments/open --data-binary @"$BATS_TEST_TMPDIR/small"
    [ "$CODE" = 200 ]
    request GET /health
    [ "$CODE" = 503 ]
}

@test "serve listens on 127.0.0.1:9464 by default" {
    if curl -s -o /dev/null http://127.0.0.1:9464/; then
        skip "something already listens on 127.0.0.1:9464"
    fi
    "$FUSEBOX" serve >"$BATS_TEST_TMPDIR/serve.out" 2>&1 3>&- &
    SERVER_PIDS+=("$!")
    SERVE_URL=http://127.0.0.1:9464
    wait_for 30 curl -sf -o /dev/null "$SERVE_URL/health"
    request GET /health
    [ "$CODE" = 200 ]
    grep -q 'listening on http://127.0.0.1:9464/' "$BATS_TEST_TMPDIR/serve.out"
}

@test "serve: a bad --listen exits 2, a port in use exits 1, SIGTERM and SIGINT end it with 0" {
    for bad in 127.0.0.1 localhost:80 1.2.3:80 127.0.0.1:70000 ::1:80 '[::1]' 127.0.0.1:; do
        run "$FUSEBOX" serve --listen "$bad"
        [ "$status" -eq 2 ]
        assert_output --partial "serve: --listen $bad: not ADDR:PORT"
    done
    run "$FUSEBOX" serve extra
    [ "$status" -eq 2 ]
    start_serve
    run "$FUSEBOX" serve --listen "${SERVE_URL#http://}"
    [ "$status" -eq 1 ]
    assert_output --partial "cannot listen on ${SERVE_URL#http://}: Address already in use"
    local ended=0
    kill -TERM "${SERVER_PIDS[0]}"
    wait "${SERVER_PIDS[0]}" || ended=$?
    [ "$ended" -eq 0 ]
    run timeout --preserve-status -s INT 0.5 "$FUSEBOX" serve --listen 127.0.0.1:0
    [ "$status" -eq 0 ]
}

@test "FUSEBOX_SYSLOG: a transition goes to the syslog socket as user.info from fusebox[PID]" {
    local sock=$BATS_TEST_TMPDIR/log.sock received=$BATS_TEST_TMPDIR/syslog.txt
    syslog_receiver "$sock" "$received"
    start_server dead refuse
    write_rules "{\"version\": 1, \"breakers\": [{\"name\": \"dead\", \"hosts\": [\"127.0.0.1:$dead_PORT\"], \"fail_max\": 1}]}"
    FUSEBOX_SYSLOG=$sock shimmed "$TESTCLIENT" connect 127.0.0.1 "$dead_PORT"
    wait_for 30 test -s "$received"
    run cat "$received"
    assert_output --regexp "^<14>fusebox\[([0-9]+)\]: breaker 'dead' closed -> open: 1 consecutive failures \(refused\) \[testclient \1\]$"
}

@test "FUSEBOX_SYSLOG=1 without a syslog daemon changes nothing; a bad value warns once" {
    start_server dead refuse
    write_rules "{\"version\": 1, \"breakers\": [{\"name\": \"dead\", \"hosts\": [\"127.0.0.1:$dead_PORT\"], \"fail_max\": 1}]}"
    if [ -S /dev/log ]; then
        skip "a syslog daemon listens on /dev/log here"
    fi
    FUSEBOX_SYSLOG=1 run shimmed "$TESTCLIENT" connect 127.0.0.1 "$dead_PORT" --count 2
    assert_output --partial ECONNREFUSED
    refute_output --partial fusebox:
    [ "$(breaker_field dead state)" = open ]
    [ "$(breaker_field dead rejected)" -eq 1 ]
    FUSEBOX_SYSLOG=yes run shimmed "$TESTCLIENT" connect 127.0.0.1 "$dead_PORT"
    [ "$(grep -c 'fusebox: FUSEBOX_SYSLOG=yes is not 0, 1 or the absolute path of a socket' <<<"$output")" -eq 1 ]
    [ "$(breaker_field dead rejected)" -eq 2 ]
}

@test "completion: the script loads in bash, completes commands, options and breaker names" {
    "$FUSEBOX" open payments
    "$FUSEBOX" close search
    complete_words() {
        PATH="$BUILD:$PATH" bash --norc -c '
source "$1"
shift
COMP_WORDS=("$@")
COMP_CWORD=$(($# - 1))
_fusebox
echo "${COMPREPLY[*]}"' complete "$BATS_TEST_DIRNAME/../scripts/fusebox-completion.bash" "$@"
    }
    [ "$(complete_words fusebox op)" = open ]
    [ "$(complete_words fusebox help se)" = serve ]
    [ "$(complete_words fusebox open '')" = "payments search" ]
    [ "$(complete_words fusebox reset -s "$FUSEBOX_STATE" pa)" = payments ]
    [ "$(complete_words fusebox serve --al)" = --allow-control ]
    [ "$(complete_words fusebox sy)" = "sync systemd-dropin" ]
    [ "$(complete_words fusebox status --a)" = --all ]
    [ "$(complete_words fusebox serve --t)" = "--token-file --timeout" ]
    [ "$(complete_words fusebox g)" = gc ]
    [ "$(complete_words fusebox gc --i)" = --idle ]
    [ "$(complete_words fusebox open --for '')" = "" ]
    run bash --norc -c 'source "$1" && complete -p fusebox' x "$BATS_TEST_DIRNAME/../scripts/fusebox-completion.bash"
    assert_output 'complete -F _fusebox fusebox'
}
