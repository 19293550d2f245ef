#!/usr/bin/env bats
# libcurl transfers as breaker calls: the real curl tool, git's http
# transport and a small C program against loopback servers.

load common

CURL_OPTIONS="$BUILD/helpers/curl_options"

# breakers JSON...: writes rules with the given breaker objects.
breakers() {
    local IFS=,
    write_rules "{\"version\": 1, \"breakers\": [$*]}"
}

# curl_runs N ARGS...: runs the shimmed curl N times with ARGS; each run's
# output followed by a line "exit=CODE" ends up in $output.
curl_runs() {
    local n=$1
    shift
    run bash -c '
        preload=$1 n=$2; shift 2
        for i in $(seq "$n"); do
            LD_PRELOAD="$preload" curl -sS --max-time 10 -o /dev/null "$@"
            echo "exit=$?"
        done 2>&1' _ "$PRELOAD" "$n" "$@"
}

@test "curl -sS against a 500 server: the fourth run fails at once with the circuit-open message" {
    require_preloadable curl
    start_server api http 500
    breakers "{\"name\": \"payments\", \"hosts\": [\"127.0.0.1:$api_PORT\"], \"fail_max\": 3, \"reset_timeout\": 60}"
    curl_runs 4 "http://127.0.0.1:$api_PORT/"
    [ "$(grep -c '^exit=0$' <<<"$output")" -eq 3 ]
    assert_line --index 3 --regexp "^curl: \(7\) circuit open: breaker 'payments' \(127\.0\.0\.1:$api_PORT\), retry in (59|60)s$"
    assert_line --index 4 'exit=7'
    [ "$(server_count api requests)" -eq 3 ]
    [ "$(breaker_field payments failures)" -eq 3 ]
    [ "$(breaker_field payments rejected)" -eq 1 ]
    [ "$(breaker_field payments calls)" -eq 4 ]
}

@test "curl -f against a 500 server: the same, code 22 three times then 7" {
    require_preloadable curl
    start_server api http 500
    breakers "{\"name\": \"payments\", \"hosts\": [\"127.0.0.1:$api_PORT\"], \"fail_max\": 3, \"reset_timeout\": 60}"
    curl_runs 5 -f "http://127.0.0.1:$api_PORT/"
    [ "$(grep -c '^exit=22$' <<<"$output")" -eq 3 ]
    [ "$(grep -c '^exit=7$' <<<"$output")" -eq 2 ]
    [ "$(grep -c "^curl: (7) circuit open: breaker 'payments' (127.0.0.1:$api_PORT), retry in" <<<"$output")" -eq 2 ]
    [ "$(server_count api requests)" -eq 3 ]
    [ "$(breaker_field payments state)" = open ]
}

@test "a 404 server never opens the breaker: every transfer is a success" {
    require_preloadable curl
    start_server api http 404
    breakers "{\"name\": \"api\", \"hosts\": [\"127.0.0.1:$api_PORT\"], \"fail_max\": 2}"
    curl_runs 6 -f "http://127.0.0.1:$api_PORT/"
    [ "$(grep -c '^exit=22$' <<<"$output")" -eq 6 ]
    [ "$(server_count api requests)" -eq 6 ]
    [ "$(breaker_field api state)" = closed ]
    [ "$(breaker_field api successes)" -eq 6 ]
    [ "$(breaker_field api failures)" -eq 0 ]
}

@test "curl --retry 3 does not retry a rejected transfer" {
    require_preloadable curl
    start_server api http 503
    breakers "{\"name\": \"api\", \"hosts\": [\"127.0.0.1:$api_PORT\"], \"fail_max\": 2, \"reset_timeout\": 60}"
    curl_runs 2 "http://127.0.0.1:$api_PORT/"
    [ "$(breaker_field api state)" = open ]
    run env LD_PRELOAD="$PRELOAD" curl -S --retry 3 --retry-delay 2 -o /dev/null "http://127.0.0.1:$api_PORT/"
    [ "$status" -eq 7 ]
    refute_output --partial 'Will retry'
    assert_output --partial "curl: (7) circuit open: breaker 'api'"
    [ "$(server_count api requests)" -eq 2 ]
    [ "$(breaker_field api rejected)" -eq 1 ]
}

@test "--resolve and http://localhost/ skip getaddrinfo and still select the breaker by name" {
    require_preloadable curl
    start_server api http 500
    breakers "{\"name\": \"by-name\", \"hosts\": [\"API.fusebox.test.:$api_PORT\"], \"fail_max\": 2}" \
        "{\"name\": \"local\", \"hosts\": [\"localhost\"], \"fail_max\": 2}" \
        "{\"name\": \"by-address\", \"hosts\": [\"127.0.0.1\", \"::1\"], \"fail_max\": 100}"
    curl_runs 3 --resolve "api.fusebox.test:$api_PORT:127.0.0.1" "http://api.fusebox.test:$api_PORT/"
    [ "$(grep -c '^exit=0$' <<<"$output")" -eq 2 ]
    assert_line --index 2 --partial "curl: (7) circuit open: breaker 'by-name' (api.fusebox.test:$api_PORT)"
    curl_runs 3 "http://LocalHost:$api_PORT/"
    assert_line --index 2 --partial "curl: (7) circuit open: breaker 'local' (localhost:$api_PORT)"
    [ "$(server_count api requests)" -eq 4 ]
    [ "$(breaker_field by-name failures)" -eq 2 ]
    [ "$(breaker_field local failures)" -eq 2 ]
    [ "$(breaker_field by-address calls)" = absent ]
}

@test "curl --parallel: the transfer on an open breaker fails with 7 and its message, the other completes" {
    require_preloadable curl
    start_server down http 500
    start_server up http 200
    breakers "{\"name\": \"down\", \"hosts\": [\"127.0.0.1:$down_PORT\"], \"fail_max\": 1, \"reset_timeout\": 60}" \
        "{\"name\": \"up\", \"hosts\": [\"127.0.0.1:$up_PORT\"]}"
    curl_runs 1 "http://127.0.0.1:$down_PORT/"
    [ "$(breaker_field down state)" = open ]
    run env LD_PRELOAD="$PRELOAD" curl -sS --parallel --max-time 10 \
        -o "$BATS_TEST_TMPDIR/down.out" "http://127.0.0.1:$down_PORT/" \
        -o "$BATS_TEST_TMPDIR/up.out" "http://127.0.0.1:$up_PORT/"
    [ "$status" -eq 7 ]
    assert_output --partial "curl: (7) circuit open: breaker 'down' (127.0.0.1:$down_PORT), retry in"
    grep -q 'status 200' "$BATS_TEST_TMPDIR/up.out"
    [ "$(server_count down requests)" -eq 1 ]
    [ "$(server_count up requests)" -eq 1 ]
    [ "$(breaker_field down rejected)" -eq 1 ]
    [ "$(breaker_field up successes)" -eq 1 ]
}

@test "git ls-remote against a 503 server trips the breaker; the next run fails fast" {
    require_preloadable git
    require_preloadable curl # git's http transport is libcurl, with the same trouble
    start_server git http 503
    breakers "{\"name\": \"git\", \"hosts\": [\"127.0.0.1:$git_PORT\"], \"fail_max\": 2, \"reset_timeout\": 60}"
    for i in 1 2; do
        run env LD_PRELOAD="$PRELOAD" GIT_TERMINAL_PROMPT=0 git ls-remote "http://127.0.0.1:$git_PORT/repo"
        assert_failure 128
        assert_output --partial 'returned error: 503'
    done
    [ "$(breaker_field git state)" = open ]
    run env LD_PRELOAD="$PRELOAD" GIT_TERMINAL_PROMPT=0 git ls-remote "http://127.0.0.1:$git_PORT/repo"
    assert_failure 128
    assert_output --partial "circuit open: breaker 'git' (127.0.0.1:$git_PORT)"
    [ "$(server_count git requests)" -eq 2 ]
    [ "$(breaker_field git rejected)" -eq 1 ]
}

@test "dual stack: ::1 refuses, 127.0.0.1 answers: one success, no failure" {
    require_preloadable curl
    start_server dual http 200 --dual --v6-mode refuse
    breakers "{\"name\": \"dual\", \"hosts\": [\"dual.fusebox.test:$dual_PORT\", \"::1\", \"127.0.0.1\"], \"fail_max\": 1}"
    local before
    before=$(tcp_connects)
    # ::1 first, as a resolver that prefers IPv6 would give it.
    run env LD_PRELOAD="$PRELOAD" curl -sS -v --max-time 10 \
        --resolve "dual.fusebox.test:$dual_PORT:[::1],127.0.0.1" "http://dual.fusebox.test:$dual_PORT/"
    assert_success
    assert_output --partial "connect to ::1 port $dual_PORT failed: Connection refused"
    assert_output --partial 'status 200'
    [ $(($(tcp_connects) - before)) -eq 2 ]
    [ "$(breaker_field dual successes)" -eq 1 ]
    [ "$(breaker_field dual failures)" -eq 0 ]
    [ "$(breaker_field dual calls)" -eq 1 ]
}

@test "a transfer whose name does not resolve counts one dns failure, not two" {
    [ "$(ip -o link show | wc -l)" -eq 1 ] || skip "needs a private network namespace"
    require_preloadable curl
    breakers '{"name": "dns", "hosts": ["api.fusebox.test"], "fail_max": 3}'
    curl_runs 2 "http://api.fusebox.test:8080/"
    [ "$(grep -c '^exit=6$' <<<"$output")" -eq 2 ]
    [ "$(breaker_field dns failures)" -eq 2 ]
    [ "$(breaker_field dns state)" = closed ]
}

@test "proxies: the origin picks the breaker, a dead proxy is blamed on the proxy's breaker" {
    require_preloadable curl
    start_server proxy http 200
    start_server dead refuse
    breakers '{"name": "origin", "hosts": ["api.fusebox.test"], "fail_max": 2}' \
        "{\"name\": \"dead-proxy\", \"hosts\": [\"127.0.0.1:$dead_PORT\"], \"fail_max\": 2, \"reset_timeout\": 60}" \
        "{\"name\": \"proxy\", \"hosts\": [\"127.0.0.1:$proxy_PORT\"]}"
    curl_runs 1 -x "127.0.0.1:$proxy_PORT" "http://api.fusebox.test/"
    assert_line 'exit=0'
    [ "$(breaker_field origin successes)" -eq 1 ]
    [ "$(breaker_field proxy successes)" -eq 1 ]
    curl_runs 3 -x "http://127.0.0.1:$dead_PORT" "http://api.fusebox.test/"
    [ "$(grep -c '^exit=7$' <<<"$output")" -eq 3 ]
    assert_line --index 4 --partial "circuit open: breaker 'dead-proxy' (127.0.0.1:$dead_PORT)"
    [ "$(breaker_field dead-proxy failures)" -eq 2 ]
    [ "$(breaker_field origin failures)" -eq 0 ]
    [ "$(breaker_field origin state)" = closed ]
}

@test "C program: setopt of every option type, duphandle, reset, cleanup: same results with the shim" {
    start_server api http 200
    breakers "{\"name\": \"api\", \"hosts\": [\"127.0.0.1:$api_PORT\"]}"
    run "$CURL_OPTIONS" options "http://127.0.0.1:$api_PORT/"
    assert_success
    local plain=$output
    run shimmed "$CURL_OPTIONS" options "http://127.0.0.1:$api_PORT/"
    assert_success
    assert_output "$plain"
    assert_line 'setopt long=0 string=0 slist=0 callback=0 data=0 off_t=0 blob=0 errorbuffer=0 opensocket=0'
    assert_line --partial 'perform: rc=0 status=200 body=27 uploaded=19 opensocket=1'
    assert_line --partial 'duphandle: rc=0 status=200 body=27 uploaded=19 opensocket=2'
    [ "$(breaker_field api successes)" -eq 3 ]
}

@test "C program under valgrind with the shim: no error, no leak" {
    command -v valgrind >/dev/null || skip "valgrind is not installed"
    [ -z "$PRELOAD_BEFORE_SHIM" ] || skip "valgrind does not run sanitized code"
    start_server api http 200
    breakers "{\"name\": \"api\", \"hosts\": [\"127.0.0.1:$api_PORT\"]}"
    run "$CURL_OPTIONS" options "http://127.0.0.1:$api_PORT/"
    local plain=$output
    run --separate-stderr env LD_PRELOAD="$PRELOAD" valgrind -q --leak-check=full \
        --errors-for-leak-kinds=definite,indirect --error-exitcode=99 \
        "$CURL_OPTIONS" options "http://127.0.0.1:$api_PORT/"
    [ "$status" -eq 0 ] || { echo "$stderr"; false; }
    assert_output "$plain"
    run --separate-stderr env LD_PRELOAD="$PRELOAD" valgrind -q --leak-check=full \
        --errors-for-leak-kinds=definite,indirect --error-exitcode=99 \
        "$CURL_OPTIONS" churn 2000 "http://127.0.0.1:$api_PORT/"
    [ "$status" -eq 0 ] || { echo "$stderr"; false; }
}

@test "a million handles created, duplicated, reset and cleaned up: memory does not grow" {
    breakers '{"name": "api", "hosts": ["127.0.0.1"]}'
    local many=1000000
    if [ -n "${SANITIZE:-}" ]; then
        # Slower there; and ASan's quarantine of freed memory is no leak.
        many=100000
        export ASAN_OPTIONS="${ASAN_OPTIONS:-}:quarantine_size_mb=0"
    fi
    run shimmed "$CURL_OPTIONS" churn 1000 "http://127.0.0.1:9/"
    local small=${output#maxrss_kib }
    run shimmed "$CURL_OPTIONS" churn "$many" "http://127.0.0.1:9/"
    assert_success
    local big=${output#maxrss_kib }
    echo "peak RSS: $small KiB after 1000 handles, $big KiB after $many"
    [ $((big - small)) -lt 2048 ]
}

@test "multi interface: only the rejected transfer fails; results recorded with or without reading messages" {
    start_server down http 500
    start_server up http 200
    breakers "{\"name\": \"down\", \"hosts\": [\"127.0.0.1:$down_PORT\"], \"fail_max\": 1, \"reset_timeout\": 60}" \
        "{\"name\": \"up\", \"hosts\": [\"127.0.0.1:$up_PORT\"]}"
    run shimmed "$CURL_OPTIONS" multi "http://127.0.0.1:$down_PORT/" "http://127.0.0.1:$up_PORT/"
    assert_line 'done 0: rc=0 error='"''"
    [ "$(breaker_field down state)" = open ]
    run shimmed "$CURL_OPTIONS" multi "http://127.0.0.1:$down_PORT/" "http://127.0.0.1:$up_PORT/"
    assert_line 'add 0: 0'
    assert_line --regexp "^done 0: rc=7 error='circuit open: breaker 'down' \(127\.0\.0\.1:$down_PORT\), retry in [0-9]+s'$"
    assert_line "done 1: rc=0 error=''"
    run shimmed "$CURL_OPTIONS" multi --no-info-read "http://127.0.0.1:$down_PORT/" "http://127.0.0.1:$up_PORT/"
    [ "$(server_count down requests)" -eq 1 ]
    [ "$(server_count up requests)" -eq 3 ]
    [ "$(breaker_field down rejected)" -eq 2 ]
    [ "$(breaker_field up successes)" -eq 3 ]
}
