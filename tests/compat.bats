#!/usr/bin/env bats
# The compatibility matrix: real clients against refused, timing-out and
# healthy loopback servers. Per client: the breaker opens after fail_max, an
# open breaker fails the call with the client's usual "connection refused"
# behaviour (and no connect reaches the kernel), and a healthy server is
# reached exactly as without the shim. curl, curl --parallel and git are in
# curl.bats; docs/how-it-works.md's matrix lists every row.

load common

# Each client_* function makes one attempt at 127.0.0.1:$1 and prints what
# the client said, then "exit=CODE".
client_python_urllib() {
    python3 -c 'import sys, urllib.request
try:
    print(urllib.request.urlopen("http://127.0.0.1:%s/" % sys.argv[1], timeout=5).read().decode())
except OSError as e:
    print(type(e).__name__, getattr(e, "reason", e))' "$1"
    echo "exit=$?"
}
client_python_blocking() {
    python3 -c 'import socket, sys
try:
    socket.create_connection(("127.0.0.1", int(sys.argv[1]))).close(); print("connected")
except OSError as e:
    print(type(e).__name__)' "$1"
    echo "exit=$?"
}
client_python_timeout() {
    python3 -c 'import socket, sys
try:
    socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=0.5).close(); print("connected")
except socket.timeout:
    print("timeout")
except OSError as e:
    print(type(e).__name__)' "$1"
    echo "exit=$?"
}
client_python_asyncio() {
    python3 -c 'import asyncio, sys
async def main():
    try:
        r, w = await asyncio.open_connection("127.0.0.1", int(sys.argv[1])); print("connected"); w.close()
    except OSError as e:
        print(type(e).__name__)
asyncio.run(main())' "$1"
    echo "exit=$?"
}
client_node_http() {
    node -e 'const req = require("http").get({host: "127.0.0.1", port: process.argv[1], timeout: 500},
      res => { res.setEncoding("utf8"); res.on("data", d => process.stdout.write(d)); });
    req.on("timeout", () => { console.log("timeout"); req.destroy(); });
    req.on("error", e => { if (e.code !== "ECONNRESET") console.log(e.code); });' "$1"
    echo "exit=$?"
}
client_node_fetch() {
    node -e 'fetch("http://127.0.0.1:" + process.argv[1] + "/").then(r => r.text())
      .then(t => process.stdout.write(t), e => console.log(e.cause ? e.cause.code : e.message))' "$1"
    echo "exit=$?"
}
client_bash_devtcp() {
    bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1" && echo connected' _ "$1" 2>&1
    echo "exit=$?"
}
client_nc() {
    nc -vz -w 1 127.0.0.1 "$1" 2>&1
    echo "exit=$?"
}
client_ssh() {
    ssh -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null \
        -o ConnectTimeout=1 -o LogLevel=ERROR -p "$1" 127.0.0.1 true 2>&1
    echo "exit=$?"
}
client_psql() {
    PGCONNECT_TIMEOUT=1 psql -h 127.0.0.1 -p "$1" -U nobody -w -c 'select 1' postgres 2>&1
    echo "exit=$?"
}
client_redis_cli() {
    timeout 1 redis-cli -h 127.0.0.1 -p "$1" ping 2>&1
    echo "exit=$?"
}
client_wget() {
    wget --tries=1 -q -O- "http://127.0.0.1:$1/" 2>&1
    echo "exit=$?"
}
client_wget_timeout() {
    wget --tries=1 --connect-timeout=1 -O- "http://127.0.0.1:$1/" 2>&1 | grep -v '^--'
    echo "exit=${PIPESTATUS[0]}"
}

# refused_row CLIENT REGEX: five attempts against a refused port with
# fail_max 2: two connects reach the kernel (redis-cli makes two per run),
# all five attempts say REGEX.
refused_row() {
    start_server dead refuse
    write_rules "{\"version\": 1, \"breakers\": [{\"name\": \"refused\", \"hosts\": [\"127.0.0.1:$dead_PORT\"], \"fail_max\": 2, \"reset_timeout\": 60}]}"
    local before out i
    before=$(tcp_connects)
    for i in 1 2 3 4 5; do
        out=$(shimmed "client_$1" "$dead_PORT")
        [[ "$out" =~ $2 ]] || { echo "attempt $i said: $out" >&2; return 1; }
    done
    [ "$(($(tcp_connects) - before))" -eq 2 ]
    [ "$(breaker_field refused state)" = open ]
    [ "$(breaker_field refused failures)" -eq 2 ]
    [ "$(breaker_field refused rejected)" -ge 3 ]
}

# timeout_row CLIENT REGEX_TIMEOUT REGEX_REFUSED: three attempts against a
# port that never answers, fail_max 2: two time out, the third is refused.
timeout_row() {
    start_server hole blackhole
    write_rules "{\"version\": 1, \"breakers\": [{\"name\": \"timeout\", \"hosts\": [\"127.0.0.1:$hole_PORT\"], \"fail_max\": 2, \"reset_timeout\": 60}]}"
    local out i
    for i in 1 2; do
        out=$(shimmed "client_$1" "$hole_PORT")
        [[ "$out" =~ $2 ]] || { echo "attempt $i said: $out" >&2; return 1; }
    done
    [ "$(breaker_field timeout state)" = open ]
    [ "$(breaker_field timeout failures)" -eq 2 ]
    out=$(shimmed "client_$1" "$hole_PORT")
    [[ "$out" =~ $3 ]] || { echo "after opening: $out" >&2; return 1; }
}

# healthy_row CLIENT MODE...: against a healthy server the client says
# exactly what it says without the shim, and the call counts as a success.
# (ssh, psql and redis-cli meet a server that accepts and stays silent: what
# happens after connect must not depend on a race with the server's close.)
healthy_row() {
    local client=$1
    shift
    start_server up "$@"
    write_rules "{\"version\": 1, \"breakers\": [{\"name\": \"healthy\", \"hosts\": [\"127.0.0.1:$up_PORT\"]}]}"
    local plain shim
    plain=$("client_$client" "$up_PORT")
    shim=$(shimmed "client_$client" "$up_PORT")
    [ "$plain" = "$shim" ] || { printf 'without: %s\nwith: %s\n' "$plain" "$shim" >&2; return 1; }
    [ "$(breaker_field healthy successes)" -ge 1 ]
    [ "$(breaker_field healthy failures)" -eq 0 ]
}

@test "python urllib: refused, healthy" {
    refused_row python_urllib 'URLError \[Errno 111\] Connection refused'
    healthy_row python_urllib http 200 --body hello
}

@test "python socket, blocking: refused, healthy" {
    refused_row python_blocking '^ConnectionRefusedError'
    healthy_row python_blocking accept
}

@test "python socket with settimeout: refused, timing out, healthy" {
    refused_row python_timeout '^ConnectionRefusedError'
    timeout_row python_timeout '^timeout' '^ConnectionRefusedError'
    healthy_row python_timeout accept
}

@test "python asyncio: refused, healthy" {
    refused_row python_asyncio '^ConnectionRefusedError'
    healthy_row python_asyncio accept
}

@test "node http.get: refused, timing out, healthy (outcome from the event loop's first write)" {
    refused_row node_http '^ECONNREFUSED'
    timeout_row node_http '^timeout' '^ECONNREFUSED'
    healthy_row node_http http 200 --body hello
}

@test "node fetch: refused, healthy" {
    refused_row node_fetch '^ECONNREFUSED'
    healthy_row node_fetch http 200 --body hello
}

@test "bash /dev/tcp: refused, healthy" {
    refused_row bash_devtcp 'connect: Connection refused'
    healthy_row bash_devtcp accept
}

@test "nc (netcat-openbsd): refused, timing out, healthy" {
    require_preloadable nc
    refused_row nc 'failed: Connection refused'
    timeout_row nc 'failed: Connection timed out|timed out' 'failed: Connection refused'
    healthy_row nc accept
}

@test "ssh, connection stage: refused, timing out, healthy" {
    require_preloadable ssh
    refused_row ssh 'ssh: connect to host 127.0.0.1 port [0-9]+: Connection refused'
    timeout_row ssh 'Connection timed out' 'Connection refused'
    healthy_row ssh stall
}

@test "psql (libpq), connection stage: refused, timing out, healthy" {
    require_preloadable psql
    refused_row psql 'failed: Connection refused'
    timeout_row psql 'timeout expired' 'failed: Connection refused'
    healthy_row psql stall
}

@test "redis-cli: refused, healthy" {
    require_preloadable redis-cli
    refused_row redis_cli 'Could not connect to Redis at 127.0.0.1:[0-9]+: Connection refused'
    healthy_row redis_cli stall
}

@test "wget without and with --connect-timeout: refused, timing out, healthy" {
    require_preloadable wget
    refused_row wget 'exit=4'
    timeout_row wget_timeout 'failed: Connection timed out' 'failed: Connection refused'
    healthy_row wget http 200 --body hello
}

# refused_v6_row CLIENT_COMMAND...: the same refused row on [::1]: a rule
# "[::1]:PORT" opens after fail_max 2 and rejects the rest. {PORT} in the
# command is replaced by the port.
refused_v6_row() {
    local cmd=("$@") out i
    local before
    before=$(tcp_connects)
    for i in 1 2 3 4; do
        out=$(shimmed "${cmd[@]//\{PORT\}/$v6_PORT}" 2>&1) || true
        [[ "$out" =~ [Rr]efused|ECONNREFUSED|"Couldn't connect"|"circuit open" ]] || { echo "attempt $i said: $out" >&2; return 1; }
    done
    [ "$(($(tcp_connects) - before))" -eq 2 ]
    [ "$(breaker_field v6 state)" = open ]
    "$FUSEBOX" reset v6 >/dev/null
}

@test "IPv6: [::1]:port rules work with python, node, curl, wget, nc and a v4-mapped rule matches IPv4" {
    require_preloadable curl
    start_server v6 refuse --bind ::1
    write_rules "{\"version\": 1, \"breakers\": [{\"name\": \"v6\", \"hosts\": [\"[::1]:$v6_PORT\"], \"fail_max\": 2, \"reset_timeout\": 60}]}"
    refused_v6_row python3 -c 'import socket, sys
socket.create_connection(("::1", int(sys.argv[1])))' '{PORT}'
    refused_v6_row node -e 'require("net").connect({host: "::1", port: process.argv[1]}).on("error", e => console.log(e.code))' '{PORT}'
    refused_v6_row curl -sS 'http://[::1]:{PORT}/'
    refused_v6_row wget --tries=1 -O- 'http://[::1]:{PORT}/'
    refused_v6_row nc -vz ::1 '{PORT}'
    start_server v4 refuse
    write_rules "{\"version\": 1, \"breakers\": [{\"name\": \"mapped\", \"hosts\": [\"::ffff:127.0.0.1\"], \"fail_max\": 1}]}"
    shimmed "$TESTCLIENT" connect 127.0.0.1 "$v4_PORT" --count 2
    [ "$(breaker_field mapped rejected)" -eq 1 ]
}
