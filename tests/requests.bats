#!/usr/bin/env bats
# Request-level outcomes (docs/requests.md): real HTTP clients against
# loopback servers that hang, stay silent, answer 503 with Retry-After,
# reset in the middle of a response head, answer slowly, or are healthy.
# Each cell runs a client three times with fail_max 2 and checks what the
# client said each time, the breaker's counts and state, and the requests
# the server saw; a healthy server gives the same output as without the
# shim.

load common

JAVA_GET="$BATS_TEST_DIRNAME/helpers/HttpGet.java"
TLS_FRONT="$BATS_TEST_DIRNAME/helpers/tls_front.py"

# Each client_* makes one GET of URL $1 with a 1 s timeout and prints one
# line of what it got: "STATUS BODY" or its error, then "exit=CODE".
client_urllib() {
    python3 -c 'import ssl, sys, urllib.request, urllib.error
ctx = ssl._create_unverified_context()
try:
    r = urllib.request.urlopen(sys.argv[1], timeout=1, context=ctx)
    print(r.status, r.read().decode().strip())
except urllib.error.HTTPError as e:
    print(e.code)
except Exception as e:
    print(type(e).__name__, getattr(e, "reason", e))' "$1"
    echo "exit=$?"
}
client_http_client() {
    python3 -c 'import http.client, ssl, sys, urllib.parse
u = urllib.parse.urlsplit(sys.argv[1])
if u.scheme == "https":
    c = http.client.HTTPSConnection(u.hostname, u.port, timeout=1, context=ssl._create_unverified_context())
else:
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=1)
try:
    c.request("GET", "/")
    r = c.getresponse()
    body = r.read().decode().strip()
    print(r.status, body) if r.status == 200 else print(r.status)
except Exception as e:
    print(type(e).__name__, e)' "$1"
    echo "exit=$?"
}
client_wget() {
    local out rc
    out=$(wget --tries=1 --timeout=1 --no-check-certificate -O "$BATS_TEST_TMPDIR/wget.out" "$1" 2>&1)
    rc=$?
    if [ "$rc" -eq 0 ]; then
        echo "200 $(cat "$BATS_TEST_TMPDIR/wget.out")"
    else
        grep -o -m1 -E 'refused|timed out|reset by peer|ERROR [0-9]+|Read error[^.]*' <<<"$out" || echo "$out"
    fi
    echo "exit=$rc"
}
client_node_fetch() {
    node -e 'process.env.NODE_TLS_REJECT_UNAUTHORIZED = "0";
fetch(process.argv[1], {signal: AbortSignal.timeout(1000)})
  .then(r => r.text().then(t => console.log(r.status === 200 ? "200 " + t.trim() : r.status)),
        e => console.log(e.name, e.cause ? e.cause.code || e.cause.message : e.message))' "$1" 2>/dev/null
    echo "exit=$?"
}
client_node_http() {
    node -e 'const u = new URL(process.argv[1]);
const mod = require(u.protocol === "https:" ? "https" : "http");
const agent = new mod.Agent({keepAlive: true, rejectUnauthorized: false});
const req = mod.get(u, {agent}, res => {
  let body = ""; res.setEncoding("utf8"); res.on("data", d => body += d);
  res.on("end", () => {
    console.log(res.statusCode === 200 ? "200 " + body.trim() : res.statusCode); agent.destroy();
  });
});
req.setTimeout(1000, () => req.destroy(new Error("timeout")));
req.on("error", e => { console.log(e.code || e.message); agent.destroy(); });' "$1"
    echo "exit=$?"
}
client_perl() {
    perl -MHTTP::Tiny -e 'my $r = HTTP::Tiny->new(timeout => 1, verify_SSL => 0)->get($ARGV[0]);
if ($r->{status} == 599) { my ($l) = split /\n/, $r->{content}; print "$l\n" }
else { my $b = $r->{content}; chomp $b; print "$r->{status}", $r->{status} == 200 ? " $b" : "", "\n" }' "$1"
    echo "exit=$?"
}
# vm_runs: false under ThreadSanitizer, which stops the JVM at races of its
# own (halt_on_error) before it makes a request, and deadlocks in its race
# report inside node's V8 threads; the clients of those two are left out then.
vm_runs() {
    [[ "${SANITIZE:-}" != *thread* ]]
}
client_java() {
    java "$JAVA_GET" "$1" 1000 2>>"$BATS_TEST_TMPDIR/java.err"
    echo "exit=$?"
}
client_curl() {
    local out rc
    out=$(curl -sS -k --max-time 1 -w '\n%{http_code}' "$1" 2>&1)
    rc=$?
    if [ "$rc" -eq 0 ]; then
        local status=${out##*$'\n'}
        echo "$status$([ "$status" = 200 ] && echo " ${out%%$'\n'*}")"
    else
        head -n 1 <<<"$out"
    fi
    echo "exit=$rc"
}

# word LINE: what a client's line says, in one word: the status (with the
# body for 200), or timeout, refused or reset.
word() {
    set -- "$(sed 's/[[:space:]]*$//' <<<"$1")"
    case "$1" in
    *"circuit open"* | *efused* | *REFUSED*) echo refused ;;
    # Java's HttpClient (OpenJDK 17) against a refusing host, with or without
    # fusebox: a ConnectException whose cause is a ClosedChannelException
    "ConnectException: ClosedChannelException"*) echo refused ;;
    "ERROR "[1-5][0-9][0-9]*) echo "${1#ERROR }" ;;
    *imeout* | *"timed out"* | *"Timed out"*) echo timeout ;;
    *eset* | *ECONNRESET* | *"hang up"* | *RemoteDisconnected* | *UND_ERR_SOCKET* | *"terminated the handshake"* | *"closed the channel"* | *"closed connection"* | *"non-properly terminated"* | *EOF*) echo reset ;;
    [1-5][0-9][0-9]*) echo "$1" ;;
    *) echo "other: $1" ;;
    esac
}

# attempts CLIENT URL N: runs the shimmed client N times; prints the word of
# each attempt, one a line.
attempts() {
    local i out
    for ((i = 0; i < $3; i++)); do
        out=$(shimmed "client_$1" "$2")
        word "$(head -n 1 <<<"$out")"
    done
}

# rule PORT [POLICY...]: a breaker "api" for 127.0.0.1:PORT, fail_max
# $FAIL_MAX (2 unless set).
rule() {
    local port=$1 extra=""
    shift
    [ $# -gt 0 ] && extra=", $*"
    write_rules "{\"version\": 1, \"breakers\": [{\"name\": \"api\", \"hosts\": [\"127.0.0.1:$port\"], \"fail_max\": ${FAIL_MAX:-2}, \"reset_timeout\": 60$extra}]}"
}

# opened_after_two: breaker api is open after two failures and no success,
# with its rejections counted as calls (Java's HttpClient tries a refused
# connect twice, so one attempt may be two rejections).
opened_after_two() {
    local rejected
    rejected=$(breaker_field api rejected)
    [ "$rejected" -ge 1 ] &&
        [ "$(breaker_counts)" = "open calls=$((2 + rejected)) ok=0 failed=2 rejected=$rejected" ] ||
        { breaker_counts >&2; return 1; }
}

# breaker_counts: "STATE calls=N ok=N failed=N rejected=N" of breaker api.
breaker_counts() {
    echo "$(breaker_field api state) calls=$(breaker_field api calls) ok=$(breaker_field api successes)" \
        "failed=$(breaker_field api failures) rejected=$(breaker_field api rejected)"
}

# failing_cell CLIENT SCHEME FACE WORD REQUESTS [POLICY...]: against a
# server of FACE (a testserver mode with its arguments, quoted), two
# attempts say WORD and open the breaker; the third is refused at once; the
# server saw REQUESTS requests.
failing_cell() {
    local client=$1 scheme=$2 face=$3 want=$4 requests=$5
    shift 5
    start_server srv $face
    local port=$srv_PORT
    if [ "$scheme" = https ]; then
        tls_front srv
        port=$front_PORT
    fi
    rule "$port" "$@"
    run attempts "$client" "$scheme://127.0.0.1:$port/" 3
    assert_output "$(printf '%s\n%s\nrefused' "$want" "$want")"
    opened_after_two
    server_saw srv requests "$requests"
}

# healthy_cell CLIENT SCHEME: against a healthy server, three attempts say
# "200 hello", as without the shim; three successes.
healthy_cell() {
    local client=$1 scheme=$2
    start_server srv http 200 --body hello
    local port=$srv_PORT
    if [ "$scheme" = https ]; then
        tls_front srv
        port=$front_PORT
    fi
    rule "$port"
    local plain
    plain=$("client_$client" "$scheme://127.0.0.1:$port/")
    run attempts "$client" "$scheme://127.0.0.1:$port/" 3
    assert_output "$(printf '200 hello\n200 hello\n200 hello')"
    [ "$(word "$(head -n 1 <<<"$plain")")" = "200 hello" ]
    [ "$(breaker_counts)" = "closed calls=3 ok=3 failed=0 rejected=0" ] || { breaker_counts >&2; return 1; }
    server_saw srv requests 4
}

# tls_front NAME: a TLS front (self-signed certificate made here) for server
# NAME; sets front_PORT.
tls_front() {
    local dir=$BATS_TEST_TMPDIR
    if [ ! -f "$dir/cert.pem" ]; then
        openssl req -x509 -newkey rsa:2048 -nodes -keyout "$dir/key.pem" -out "$dir/cert.pem" \
            -days 1 -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 2>/dev/null
    fi
    local backend_var=${1}_PORT
    python3 "$TLS_FRONT" "$dir/cert.pem" "$dir/key.pem" "${!backend_var}" "$dir/front.port" 300 3>&- &
    SERVER_PIDS+=("$!")
    wait_for 30 test -s "$dir/front.port"
    front_PORT=$(cat "$dir/front.port")
}

# all_faces CLIENT: the six faces over http.
all_faces() {
    local c=$1
    failing_cell "$c" http listen timeout 0
    teardown_servers
    failing_cell "$c" http stall timeout 0
    teardown_servers
    failing_cell "$c" http "http 503 --header Retry-After:120" 503 2
    teardown_servers
    failing_cell "$c" http resethead reset 2
    teardown_servers
    failing_cell "$c" http "http 200 --body hello --hold-ms 400" "200 hello" 2 \
        '"failure_on": ["slow"], "slow_call": {"threshold_ms": 200}'
    teardown_servers
    healthy_cell "$c" http
}

# teardown_servers: stops this test's servers and forgets the breakers, so
# the next cell starts afresh.
teardown_servers() {
    common_teardown
    SERVER_PIDS=()
    rm -f "$FUSEBOX_STATE" "$BATS_TEST_TMPDIR"/*.port "$BATS_TEST_TMPDIR"/*.count
}

@test "python urllib: hung, silent, 503, reset mid-head, slow, healthy" {
    all_faces urllib
}

@test "python http.client: hung, silent, 503, reset mid-head, slow, healthy" {
    all_faces http_client
}

@test "wget: hung, silent, 503, reset mid-head, slow, healthy" {
    require_preloadable wget
    all_faces wget
}

@test "node fetch: hung, silent, 503, reset mid-head, slow, healthy" {
    vm_runs || skip "ThreadSanitizer cannot run the JVM or node here, even without fusebox"
    all_faces node_fetch
}

@test "node http.get with a keep-alive agent: hung, silent, 503, reset mid-head, slow, healthy" {
    vm_runs || skip "ThreadSanitizer cannot run the JVM or node here, even without fusebox"
    all_faces node_http
}

@test "perl HTTP::Tiny: hung, silent, 503, reset mid-head, slow, healthy" {
    all_faces perl
}

@test "Java HttpClient: hung, silent, 503, reset mid-head, slow, healthy" {
    vm_runs || skip "ThreadSanitizer cannot run the JVM or node here, even without fusebox"
    all_faces java
}

@test "Java HttpClient: an open breaker gives what a refusing host gives, word for word" {
    vm_runs || skip "ThreadSanitizer cannot run the JVM or node here, even without fusebox"
    start_server dead refuse
    write_rules "{\"version\": 1, \"breakers\": [{\"name\": \"dead\", \"hosts\": [\"127.0.0.1:$dead_PORT\"], \"fail_max\": 1, \"reset_timeout\": 60}]}"
    plain=$(client_java "http://127.0.0.1:$dead_PORT/")
    shimmed "$TESTCLIENT" connect 127.0.0.1 "$dead_PORT" > /dev/null # opens the breaker
    [ "$(breaker_field dead state)" = open ]
    run shimmed java "$JAVA_GET" "http://127.0.0.1:$dead_PORT/" 1000
    echo "plain: $plain" && echo "open:  $output"
    [ "$output
exit=$status" = "$plain" ]
    [ "$(breaker_field dead rejected)" -ge 1 ] # (HttpClient may try again)
    [ "$(breaker_field dead failures)" -eq 1 ]
}

@test "curl: each transfer counts once (libcurl's hooks), not again per request" {
    require_preloadable curl
    all_faces curl
}

@test "a 503 with Retry-After keeps the breaker open that long (honor_retry_after)" {
    start_server srv http 503 --header 'Retry-After: 120'
    write_rules "{\"version\": 1, \"breakers\": [{\"name\": \"api\", \"hosts\": [\"127.0.0.1:$srv_PORT\"], \"fail_max\": 1, \"reset_timeout\": 1}]}"
    local since
    since=$(now_ms)
    run attempts urllib "http://127.0.0.1:$srv_PORT/" 1
    assert_output 503
    [ "$(breaker_field api state)" = open ]
    retry_is api 120000 "$since"
}

# keepalive_cell CLIENT: ten requests on one connection; the server answers
# three 200s, then 503s; fail_max 3: the breaker opens after the sixth, the
# seventh fails on its reused connection with ECONNRESET before a byte is
# sent and the rest are refused at connect; requests 7-10 never reach the
# server.
keepalive_cell() {
    start_server srv http 200 --after 3:503
    write_rules "{\"version\": 1, \"breakers\": [{\"name\": \"api\", \"hosts\": [\"127.0.0.1:$srv_PORT\"], \"fail_max\": 3, \"reset_timeout\": 60}]}"
    run shimmed "$@" "$srv_PORT"
    assert_output "$(printf '200\n200\n200\n503\n503\n503\nECONNRESET\nECONNREFUSED\nECONNREFUSED\nECONNREFUSED')"
    [ "$(breaker_counts)" = "open calls=10 ok=3 failed=3 rejected=4" ] || { breaker_counts >&2; return 1; }
    server_saw srv requests 6
    [ "$(server_count srv connections)" -eq 1 ]
}

@test "keep-alive, node http.get: 10 requests on one connection, three 200 then 503s" {
    vm_runs || skip "ThreadSanitizer cannot run the JVM or node here, even without fusebox"
    keepalive_cell node -e 'const http = require("http");
const agent = new http.Agent({keepAlive: true, maxSockets: 1});
let n = 0;
function one() {
  if (n++ >= 10) return agent.destroy();
  http.get({host: "127.0.0.1", port: process.argv[1], agent}, res => {
    res.resume(); res.on("end", () => { console.log(res.statusCode); one(); });
  }).on("error", e => { console.log(e.code); one(); });
}
one();'
}

@test "keep-alive, python http.client: 10 requests on one connection, three 200 then 503s" {
    keepalive_cell python3 -c 'import errno, http.client, sys
c = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]), timeout=5)
for i in range(10):
    try:
        c.request("GET", "/")
        r = c.getresponse()
        r.read()
        print(r.status)
    except OSError as e:
        print(errno.errorcode[e.errno])
        c.close()'
}

@test "https at the socket level, node fetch, node https.get, Java, python: hung, silent, closed at the ClientHello, healthy" {
    local c clients=urllib
    vm_runs && clients+=" node_fetch node_http java"
    for c in $clients; do
        echo "client $c" >&2
        failing_cell "$c" http listen timeout 0 # plain listeners: the ClientHello is all they get
        teardown_servers
        start_server srv stall
        rule "$srv_PORT"
        run attempts "$c" "https://127.0.0.1:$srv_PORT/" 3
        assert_output "$(printf 'timeout\ntimeout\nrefused')"
        opened_after_two
        teardown_servers
        start_server srv drop
        rule "$srv_PORT"
        run attempts "$c" "https://127.0.0.1:$srv_PORT/" 3
        # Java's HttpClient tries a failed handshake twice: its first attempt may be both failures.
        [[ "$output" =~ ^reset$'\n'(reset|refused)$'\n'refused$ ]] || { echo "$output" >&2; return 1; }
        opened_after_two
        teardown_servers
        healthy_cell "$c" https
        teardown_servers
    done
}

# https_faces CLIENT RESET_WORD: over https, through the TLS front, the
# faces as over http; the client's TLS library (OpenSSL, GnuTLS) is hooked,
# so each request over the session counts as over http. RESET_WORD is what
# the client says of a head cut off by a reset behind the front (the front
# ends the TLS session cleanly, and some clients take the cut head as it is).
https_faces() {
    local c=$1
    failing_cell "$c" https listen timeout 0
    teardown_servers
    failing_cell "$c" https stall timeout 0
    teardown_servers
    failing_cell "$c" https "http 503 --header Retry-After:120" 503 2
    teardown_servers
    failing_cell "$c" https resethead "$2" 2
    teardown_servers
    failing_cell "$c" https "http 200 --body hello --hold-ms 400" "200 hello" 2 \
        '"failure_on": ["slow"], "slow_call": {"threshold_ms": 200}'
    teardown_servers
    healthy_cell "$c" https
}

@test "https through OpenSSL, python urllib: each request counts as over http" {
    https_faces urllib 200
}

@test "https through OpenSSL, python http.client: each request counts as over http" {
    https_faces http_client 200
}

@test "https through GnuTLS, wget: each request counts as over http" {
    require_preloadable wget
    https_faces wget reset
}

@test "https, a 503 behind TLS is not seen at the socket level (node's own OpenSSL): the handshake succeeded" {
    vm_runs || skip "ThreadSanitizer cannot run the JVM or node here, even without fusebox"
    start_server srv http 503
    tls_front srv
    rule "$front_PORT"
    run attempts node_fetch "https://127.0.0.1:$front_PORT/" 3
    assert_output "$(printf '503\n503\n503')"
    [ "$(breaker_counts)" = "closed calls=3 ok=3 failed=0 rejected=0" ]
}

@test "a log shipper that writes to a sink and closes records a success, no failure" {
    start_server sink stall
    rule "$sink_PORT"
    shimmed python3 -c 'import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
for i in range(3):
    s.sendall(b"<14>app: something happened %d\n" % i)
s.close()' "$sink_PORT"
    [ "$(breaker_counts)" = "closed calls=1 ok=1 failed=0 rejected=0" ]
}

@test "protocol tcp: a 503 server is a successful connect, as before requests were seen" {
    start_server srv http 503
    rule "$srv_PORT" '"protocol": "tcp"'
    run attempts urllib "http://127.0.0.1:$srv_PORT/" 3
    assert_output "$(printf '503\n503\n503')"
    [ "$(breaker_counts)" = "closed calls=3 ok=3 failed=0 rejected=0" ]
}

# raw SCRIPT: runs python3 under the shim with s, a socket connected to the
# server srv, and PORT defined.
raw() {
    shimmed python3 -c "import socket
PORT = $srv_PORT
s = socket.create_connection(('127.0.0.1', PORT))
def get(method='GET'):
    return (method + ' / HTTP/1.1\r\nHost: x\r\n\r\n').encode()
$1"
}

@test "a byte-by-byte reader, MSG_PEEK, HEAD and 100-continue each count one call" {
    start_server srv http 503
    FAIL_MAX=10 rule "$srv_PORT"
    raw 's.sendall(get())
head = b""
while not head.endswith(b"\r\n\r\n"):
    head += s.recv(1)
print(head.split()[1].decode())'
    [ "$(breaker_counts)" = "closed calls=1 ok=0 failed=1 rejected=0" ]
    raw 's.sendall(get())
s.recv(100, socket.MSG_PEEK)
print(s.recv(4096).split()[1].decode())'
    [ "$(breaker_counts)" = "closed calls=2 ok=0 failed=2 rejected=0" ]
    raw 's.sendall(get("HEAD"))
print(s.recv(4096).split()[1].decode())'
    [ "$(breaker_counts)" = "closed calls=3 ok=0 failed=3 rejected=0" ]
    raw 's.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n")
interim = s.recv(4096)
assert interim.startswith(b"HTTP/1.1 100"), interim
s.sendall(b"body")
print(s.recv(4096).split()[1].decode())'
    [ "$(breaker_counts)" = "closed calls=4 ok=0 failed=4 rejected=0" ]
    server_saw srv requests 4
}

@test "pipelined requests: the first answer counts, the connection is then connection-level" {
    start_server srv http 503
    FAIL_MAX=10 rule "$srv_PORT"
    raw 's.sendall(get() + get())
got = b""
while got.count(b"HTTP/1.1 503") < 2:
    got += s.recv(4096)
s.close()'
    [ "$(breaker_counts)" = "closed calls=1 ok=0 failed=1 rejected=0" ]
    server_saw srv requests 2
}

# greeter NAME BYTES: a server on 127.0.0.1 that sends BYTES (a python
# expression) to each connection as soon as it is accepted, then closes it;
# sets NAME_PORT.
greeter() {
    local dir=$BATS_TEST_TMPDIR
    python3 -c 'import os, socket, sys
l = socket.socket(); l.bind(("127.0.0.1", 0)); l.listen(8)
open(sys.argv[1] + ".tmp", "w").write("%d\n" % l.getsockname()[1]); os.rename(sys.argv[1] + ".tmp", sys.argv[1])
data = eval(sys.argv[2])
while True:
    c, _ = l.accept(); c.sendall(data); c.close()' "$dir/$1.port" "$2" 3>&- &
    SERVER_PIDS+=("$!")
    wait_for 30 test -s "$dir/$1.port"
    printf -v "${1}_PORT" '%s' "$(cat "$dir/$1.port")"
}

@test "binary data on port 80, a response before the request, and garbage answers are no failure" {
    start_server srv accept
    rule "$srv_PORT"
    raw 's.sendall(b"\x00\x01\x02binary\xff" * 100)
s.close()'
    [ "$(breaker_counts)" = "closed calls=1 ok=1 failed=0 rejected=0" ]
    teardown_servers
    greeter srv 'b"HTTP/1.1 503 Early\r\n\r\n"'
    rule "$srv_PORT"
    raw 'print(s.recv(100).split()[1].decode())
try:
    s.sendall(get())
except OSError:
    pass
s.close()'
    [ "$(breaker_counts)" = "closed calls=1 ok=1 failed=0 rejected=0" ]
    teardown_servers
    greeter srv 'bytes(range(256)) * 4000 + b"HTTP/1.1 503 x\r\n\r\n"'
    rule "$srv_PORT"
    raw 's.sendall(get())
try:
    while s.recv(65536):
        pass
except OSError:
    pass'
    [ "$(breaker_counts)" = "closed calls=1 ok=1 failed=0 rejected=0" ]
}
