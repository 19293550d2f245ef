#!/usr/bin/env bats
# Fallbacks: while a breaker is open, connects to its hosts go to its
# fallback address (curl through CURLOPT_CONNECT_TO), probes still go to the
# real destination, and the calls count as fallbacks.

load common

# breakers JSON...: writes rules with the given breaker objects.
breakers() {
    local IFS=,
    write_rules "{\"version\": 1, \"breakers\": [$*]}"
}

# api_with_fallback PRIMARY_PORT FALLBACK_JSON [POLICY]: one breaker "api" on
# 127.0.0.1:PRIMARY_PORT whose fallback connect_to is FALLBACK_JSON.
api_with_fallback() {
    breakers "{\"name\": \"api\", \"hosts\": [\"127.0.0.1:$1\"], ${3:-\"fail_max\": 2, \"reset_timeout\": 60}, \"fallback\": {\"connect_to\": $2}}"
}

# fetch TOOL URL: prints what TOOL (curl, wget, python3) got from URL under
# the shim, then a line "exit=CODE".
fetch() {
    local code=0
    case $1 in
    curl) shimmed curl -sS --max-time 10 "$2" || code=$? ;;
    wget) shimmed wget -q -T 10 -O - "$2" || code=$? ;;
    python3) shimmed python3 -c '
import sys, urllib.request, urllib.error
try:
    sys.stdout.write(urllib.request.urlopen(sys.argv[1], timeout=10).read().decode())
except urllib.error.HTTPError as e:
    sys.stdout.write(e.read().decode())
' "$2" || code=$? ;;
    esac
    echo "exit=$code"
}

# trip PORT N [BREAKER]: N curl transfers to the primary on PORT (they fail,
# opening BREAKER, by default api).
trip() {
    local i
    for ((i = 0; i < $2; i++)); do
        shimmed curl -s --max-time 10 -o /dev/null "http://127.0.0.1:$1/" || true
    done
    [ "$(breaker_field "${3:-api}" state)" = open ]
}

# open_api_with_cache BODY: a failing primary (503), a server "cache" that
# answers BODY, breaker api on the primary with the cache as its fallback,
# tripped open by two transfers.
open_api_with_cache() {
    start_server primary http 503
    start_server cache http 200 --body "$1"
    api_with_fallback "$primary_PORT" "\"127.0.0.1:$cache_PORT\""
    trip "$primary_PORT" 2
}

# switch_mode NAME MODE...: makes server NAME (started with --mode-file and
# --mode-ack in $BATS_TEST_TMPDIR/NAME.mode/.ack) serve MODE from now on.
switch_mode() {
    local dir=$BATS_TEST_TMPDIR
    echo "${*:2}" >"$dir/$1.mode"
    rm -f "$dir/$1.ack"
    kill -USR1 "$(cat "$dir/$1.pid")"
    wait_for 30 grep -qx "${*:2}" "$dir/$1.ack"
}

# start_switchable NAME MODE...: start_server with a mode file, ack and pid file.
start_switchable() {
    local name=$1 dir=$BATS_TEST_TMPDIR
    shift
    start_server "$name" "$@" --mode-file "$dir/$name.mode" --mode-ack "$dir/$name.ack" \
        --pid-file "$dir/$name.pid"
}

# fallback_events: how many "calls go to fallback" events the ring holds.
fallback_events() {
    "$FUSEBOX" events | grep -c 'calls go to fallback' || true
}

@test "after the trip curl, wget and python3 get the fallback's answer; the primary sees nothing" {
    require_preloadable curl
    require_preloadable wget
    open_api_with_cache $'stale but served\n'
    [ "$(server_count primary requests)" -eq 2 ]
    local tool
    for tool in curl wget python3; do
        run fetch "$tool" "http://127.0.0.1:$primary_PORT/page"
        assert_output "stale but served
exit=0"
    done
    [ "$(server_count primary requests)" -eq 2 ]
    [ "$(server_count cache requests)" -eq 3 ]
    [ "$(breaker_field api fallbacks)" -eq 3 ]
    [ "$(breaker_field api rejected)" -eq 0 ]
    [ "$(breaker_field api failures)" -eq 2 ]
    [ "$(breaker_field api successes)" -eq 0 ]
    [ "$(breaker_field api calls)" -eq 5 ]
    [ "$(breaker_field api state)" = open ]
    run "$FUSEBOX" status
    assert_line --regexp '^api +open +2/2 +5 +0 +2 +0 +3 +1 +[0-9.]+s$'
    run "$FUSEBOX" metrics
    assert_line 'fusebox_fallbacks_total{breaker="api"} 3'
    # One event for the open episode, not one per call.
    [ "$(fallback_events)" -eq 1 ]
    run "$FUSEBOX" events --json
    assert_line --partial '"from": "open", "to": "open", "reason": "calls go to fallback address 1"'
    run "$FUSEBOX" explain "127.0.0.1:$primary_PORT"
    assert_line "fallback while open: 127.0.0.1:$cache_PORT"
}

# start_host_echo NAME: a loopback HTTP server that answers every GET with
# the Host header it got; sets NAME_PORT.
start_host_echo() {
    local dir=$BATS_TEST_TMPDIR
    timeout 60 python3 -c '
import http.server, sys
class Echo(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = ("host=%s\n" % self.headers.get("Host")).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
server = http.server.HTTPServer(("127.0.0.1", 0), Echo)
with open(sys.argv[1] + ".tmp", "w") as f:
    f.write("%d\n" % server.server_address[1])
import os; os.rename(sys.argv[1] + ".tmp", sys.argv[1])
server.serve_forever()' "$dir/$1.port" &
    SERVER_PIDS+=("$!")
    wait_for 30 test -s "$dir/$1.port"
    printf -v "${1}_PORT" '%s' "$(cat "$dir/$1.port")"
}

@test "curl and python3 keep the origin's Host header when they go to the fallback" {
    require_preloadable curl
    start_server primary http 503
    start_host_echo cache
    api_with_fallback "$primary_PORT" "\"127.0.0.1:$cache_PORT\""
    trip "$primary_PORT" 2
    run fetch curl "http://127.0.0.1:$primary_PORT/x"
    assert_output "host=127.0.0.1:$primary_PORT
exit=0"
    run fetch python3 "http://127.0.0.1:$primary_PORT/x"
    assert_output "host=127.0.0.1:$primary_PORT
exit=0"
    [ "$(breaker_field api fallbacks)" -eq 2 ]
}

@test "the probe after reset_timeout still reaches the primary; once it recovers traffic returns to it" {
    require_preloadable curl
    start_switchable primary http 503
    start_server cache http 200 --body $'from the cache\n'
    # reset_timeout 5: the fetch right after the trip comes well inside it,
    # however loaded the machine
    api_with_fallback "$primary_PORT" "\"127.0.0.1:$cache_PORT\"" '"fail_max": 1, "reset_timeout": 5'
    trip "$primary_PORT" 1
    run fetch curl "http://127.0.0.1:$primary_PORT/"
    assert_output "from the cache
exit=0"
    [ "$(server_count primary requests)" -eq 1 ]
    # Keep calling: calls go to the cache until reset_timeout lets a probe
    # through to the primary, which fails it (503) and opens the breaker again.
    probe_reached_primary() {
        shimmed curl -s --max-time 10 -o /dev/null "http://127.0.0.1:$primary_PORT/" || true
        [ "$(server_count primary requests)" -ge 2 ]
    }
    wait_for 30 probe_reached_primary
    [ "$(server_count primary requests)" -eq 2 ]
    [ "$(breaker_field api failures)" -eq 2 ]
    switch_mode primary http 200
    closed_again() {
        shimmed curl -s --max-time 10 -o /dev/null "http://127.0.0.1:$primary_PORT/" || true
        breaker_is api state closed
    }
    wait_for 30 closed_again
    local cache_before primary_before
    cache_before=$(server_count cache requests)
    primary_before=$(server_count primary requests)
    run fetch curl "http://127.0.0.1:$primary_PORT/"
    assert_output "status 200 from testserver
exit=0"
    run fetch python3 "http://127.0.0.1:$primary_PORT/"
    assert_output "status 200 from testserver
exit=0"
    [ "$(server_count cache requests)" -eq "$cache_before" ]
    [ "$(server_count primary requests)" -eq $((primary_before + 2)) ]
    [ "$(breaker_field api fallbacks)" -eq $((cache_before)) ]
    # Two open episodes sent calls to the cache: at most one event each.
    [ "$(fallback_events)" -ge 1 ]
    [ "$(fallback_events)" -le 2 ]
}

@test "connect(): blocking and non-blocking connects go to the fallback, whose own breaker records them" {
    start_server primary refuse
    start_server cache http 200
    breakers "{\"name\": \"api\", \"hosts\": [\"127.0.0.1:$primary_PORT\"], \"fail_max\": 2, \"reset_timeout\": 60, \"fallback\": {\"connect_to\": [\"[::1]:$cache_PORT\", \"127.0.0.1:$cache_PORT\"]}}" \
        "{\"name\": \"cache\", \"hosts\": [\"127.0.0.1:$cache_PORT\"]}"
    run shimmed "$TESTCLIENT" connect 127.0.0.1 "$primary_PORT" --count 4
    assert_success
    assert_line --index 0 --regexp '^ECONNREFUSED '
    assert_line --index 1 --regexp '^ECONNREFUSED '
    assert_line --index 2 --regexp '^ok '
    assert_line --index 3 --regexp '^ok '
    run shimmed "$TESTCLIENT" connect 127.0.0.1 "$primary_PORT" --count 2 --nonblock
    assert_success
    assert_line --index 0 --regexp '^ok '
    assert_line --index 1 --regexp '^ok '
    server_saw cache connections 4
    [ "$(breaker_field api fallbacks)" -eq 4 ]
    [ "$(breaker_field api failures)" -eq 2 ]
    [ "$(breaker_field cache successes)" -eq 4 ]
}

@test "connect(): an IPv6 socket reaches an IPv4 fallback through a v4-mapped address" {
    start_server primary refuse --bind ::1
    start_server cache http 200
    breakers "{\"name\": \"api\", \"hosts\": [\"[::1]:$primary_PORT\"], \"fail_max\": 1, \"reset_timeout\": 60, \"fallback\": {\"connect_to\": \"127.0.0.1:$cache_PORT\"}}"
    run shimmed "$TESTCLIENT" connect ::1 "$primary_PORT" --count 2
    assert_success
    assert_line --index 0 --regexp '^ECONNREFUSED '
    assert_line --index 1 --regexp '^ok '
    server_saw cache connections 1
    [ "$(breaker_field api fallbacks)" -eq 1 ]
}

@test "a fallback address that refuses at once gives way to the next one" {
    start_server primary refuse
    start_server gone refuse
    start_server cache http 200
    api_with_fallback "$primary_PORT" "[\"127.0.0.1:$gone_PORT\", \"127.0.0.1:$cache_PORT\"]" '"fail_max": 1, "reset_timeout": 60'
    run shimmed "$TESTCLIENT" connect 127.0.0.1 "$primary_PORT" --count 2
    assert_line --index 0 --regexp '^ECONNREFUSED '
    assert_line --index 1 --regexp '^ok '
    server_saw cache connections 1
    [ "$(breaker_field api fallbacks)" -eq 1 ]
    [ "$(breaker_field api rejected)" -eq 0 ]
}

@test "a refusing fallback: ECONNREFUSED for connect(), code 7 for curl" {
    require_preloadable curl
    start_server primary http 503
    start_server gone refuse
    api_with_fallback "$primary_PORT" "\"127.0.0.1:$gone_PORT\""
    trip "$primary_PORT" 2
    run shimmed "$TESTCLIENT" connect 127.0.0.1 "$primary_PORT"
    assert_output --regexp '^ECONNREFUSED '
    run fetch curl "http://127.0.0.1:$primary_PORT/"
    assert_line --index 1 'exit=7'
    [ "$(server_count primary requests)" -eq 2 ]
    [ "$(breaker_field api fallbacks)" -eq 2 ]
    [ "$(breaker_field api state)" = open ]
}

@test "a fallback whose own breaker is open fails fast, without a connect" {
    require_preloadable curl
    start_server primary http 503
    start_server cache http 200
    breakers "{\"name\": \"api\", \"hosts\": [\"127.0.0.1:$primary_PORT\"], \"fail_max\": 2, \"reset_timeout\": 60, \"fallback\": {\"connect_to\": \"127.0.0.1:$cache_PORT\"}}" \
        "{\"name\": \"cache\", \"hosts\": [\"127.0.0.1:$cache_PORT\"]}"
    trip "$primary_PORT" 2
    "$FUSEBOX" open cache >/dev/null
    local before
    before=$(tcp_connects)
    run shimmed "$TESTCLIENT" connect 127.0.0.1 "$primary_PORT"
    assert_output --regexp '^ECONNREFUSED '
    run fetch curl "http://127.0.0.1:$primary_PORT/"
    assert_line --index 0 --partial "curl: (7) circuit open: breaker 'api' (127.0.0.1:$primary_PORT)"
    assert_line --index 1 'exit=7'
    [ "$(tcp_connects)" -eq "$before" ]
    [ "$(server_count cache connections)" -eq 0 ]
    [ "$(breaker_field api rejected)" -eq 2 ]
    [ "$(breaker_field api fallbacks)" -eq 0 ]
    [ "$(breaker_field cache rejected)" -eq 2 ]
}

@test "curl --parallel: the transfer on the open breaker goes to the fallback, the other to its host" {
    require_preloadable curl
    open_api_with_cache $'cached\n'
    start_server up http 200 --body $'up\n'
    run shimmed curl -sS --parallel --max-time 10 \
        -o "$BATS_TEST_TMPDIR/a.out" "http://127.0.0.1:$primary_PORT/" \
        -o "$BATS_TEST_TMPDIR/b.out" "http://127.0.0.1:$up_PORT/"
    assert_success
    [ "$(cat "$BATS_TEST_TMPDIR/a.out")" = cached ]
    [ "$(cat "$BATS_TEST_TMPDIR/b.out")" = up ]
    [ "$(server_count primary requests)" -eq 2 ]
    [ "$(breaker_field api fallbacks)" -eq 1 ]
}

@test "a multi handle cleaned up with its transfer still in it leaves no fallback on the easy handle" {
    require_preloadable curl
    open_api_with_cache $'cached\n'
    # The primary recovers while the handle waits; the same handle's next
    # transfer, with the breaker closed, must reach it, not the fallback.
    run shimmed "$BUILD/helpers/curl_options" cleanup-then-perform "http://127.0.0.1:$primary_PORT/" \
        "'$FUSEBOX' close api >/dev/null"
    assert_line "multi: status=200 bytes=7"
    assert_line "easy: rc=0"
    [ "$(server_count cache requests)" -eq 1 ]
    [ "$(server_count primary requests)" -eq 3 ]
    [ "$(breaker_field api fallbacks)" -eq 1 ]
}

@test "curl's own --connect-to list is kept: it applies again once the breaker closes" {
    require_preloadable curl
    open_api_with_cache $'cached\n'
    start_server mirror http 200 --body $'mirror\n'
    # One curl, one handle, two URLs: the first goes to the fallback, the
    # second still follows the program's own --connect-to, and so does a
    # transfer after the breaker is reset.
    run shimmed curl -sS --max-time 10 --connect-to "other.test:80:127.0.0.1:$mirror_PORT" \
        "http://127.0.0.1:$primary_PORT/" "http://other.test/"
    assert_success
    assert_output "cached
mirror"
    "$FUSEBOX" reset api >/dev/null
    run shimmed curl -sS --max-time 10 --connect-to "other.test:80:127.0.0.1:$mirror_PORT" "http://other.test/"
    assert_output mirror
}

@test "rules/fallback-nginx.conf: nginx serves the stale snapshot while the breaker is open, and refuses writes" {
    require_preloadable curl
    command -v nginx >/dev/null || skip "nginx is not installed (scripts/install-deps.sh installs it)"
    local dir=$BATS_TEST_TMPDIR port
    start_server primary http 503
    port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    mkdir -p "$dir/snapshot/products" "$dir/nginx"
    echo '{"products": ["cached"]}' >"$dir/snapshot/products/index.html"
    # The example as shipped, moved to this test's port and directories, in
    # the foreground as one process.
    { echo 'daemon off; master_process off;'
      sed -e "s|127.0.0.1:8081|127.0.0.1:$port|; s|\[::1\]:8081|[::1]:$port|" \
          -e "s|/var/cache/catalog-snapshot|$dir/snapshot|; s|/tmp/fusebox-fallback-nginx|$dir/nginx/n|" \
          "$BATS_TEST_DIRNAME/../rules/fallback-nginx.conf"
    } >"$dir/nginx.conf"
    nginx -p "$dir/nginx" -c "$dir/nginx.conf" 2>"$dir/nginx.err" &
    SERVER_PIDS+=("$!")
    wait_for 30 curl -s -o /dev/null "http://127.0.0.1:$port/"
    sed -e "s|127.0.0.1:8080|127.0.0.1:$primary_PORT|; s|127.0.0.1:8081|127.0.0.1:$port|; s|\[::1\]:8081|[::1]:$port|" \
        "$BATS_TEST_DIRNAME/../rules/fallback.json" >"$dir/rules.json"
    export FUSEBOX_RULES="$dir/rules.json"
    trip "$primary_PORT" 3 catalog
    run shimmed curl -sS -i --max-time 10 "http://127.0.0.1:$primary_PORT/products/"
    assert_success
    assert_line --partial 'X-Fusebox-Fallback: stale-cache'
    assert_line '{"products": ["cached"]}'
    run shimmed curl -s -o /dev/null -w '%{http_code}' -X POST --max-time 10 "http://127.0.0.1:$primary_PORT/products/"
    assert_output 503
    [ "$(server_count primary requests)" -eq 3 ]
    [ "$(breaker_field catalog fallbacks)" -eq 2 ]
    [ "$(breaker_field stale-cache successes)" -eq 1 ]
    [ "$(breaker_field stale-cache failures)" -eq 1 ]
}
