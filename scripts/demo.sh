#!/usr/bin/env bash
# make demo: a breaker opening, failing fast and recovering, with real curl
# against a loopback server. Everything stays on 127.0.0.1 and in a temp dir.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-$PWD/build}
work=$(mktemp -d)
server=
cleanup() {
    [ -z "$server" ] || kill "$server" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
export FUSEBOX_STATE="$work/fusebox.state"

start_server() { # MODE... (on $port once known)
    rm -f "$work/port"
    "$BUILD/helpers/testserver" "$@" --port-file "$work/port" --max-seconds 120 &
    server=$!
    for _ in $(seq 500); do [ -s "$work/port" ] && break; sleep 0.01; done
    port=$(cat "$work/port")
}

curl_once() {
    local start end rc=0
    start=$(date +%s%N)
    "$BUILD/fusebox" run -r "$work/rules.json" -- curl -sS --connect-timeout 1 -o /dev/null \
        "http://127.0.0.1:$port/" 2>"$work/err" || rc=$?
    end=$(date +%s%N)
    printf '  curl #%-2s exit %-2s %6d us  %s\n' "$1" "$rc" $(((end - start) / 1000)) \
        "$(head -c 90 "$work/err")"
}

echo "== a server on 127.0.0.1 that never answers: each connect waits for curl's 1 s timeout"
start_server blackhole
cat > "$work/rules.json" <<JSON
{ "version": 1,
  "breakers": [ { "name": "demo-api", "hosts": ["127.0.0.1:$port"],
                  "fail_max": 3, "reset_timeout": 2 } ] }
JSON
echo "   rules: fail_max 3, reset_timeout 2s for 127.0.0.1:$port"
echo
echo "== 8 separate curl processes: 3 real timeouts open the breaker, the rest fail at once"
for i in $(seq 8); do curl_once "$i"; done
echo
"$BUILD/fusebox" status
echo
echo "== the server comes back (HTTP 200 on the same port)"
kill "$server"; wait "$server" 2>/dev/null || true
start_server http 200 --port "$port"
echo "   waiting for reset_timeout (2s) to pass..."
sleep 2.1
echo "== the next call is a probe; it succeeds and closes the breaker"
curl_once 9
curl_once 10
echo
"$BUILD/fusebox" status
