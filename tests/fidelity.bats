#!/usr/bin/env bats
# An open breaker looks like the failure programs already handle: each
# program says and exits exactly as it does facing a real refusing host, and
# nothing reaches the host behind the breaker. A non-blocking connect is
# refused as a remote refusal is: EINPROGRESS, the socket ready at once,
# SO_ERROR ECONNREFUSED.

load common

setup() {
    common_setup
    start_server dead refuse
    start_server up accept
    write_rules "{\"version\": 1, \"breakers\": [{\"name\": \"up\", \"hosts\": [\"127.0.0.1:$up_PORT\"]}]}"
    "$FUSEBOX" open up >/dev/null
}

# both_say CLIENT: runs client_CLIENT PORT against the refusing server
# without fusebox, then against the open breaker's server with it: the two
# say the same (the port written PORT) and exit the same, and the second
# made no connect at all. Prints what they said.
both_say() {
    local real open before
    real=$("client_$1" "$dead_PORT" 2>&1; echo "exit=$?")
    before=$(tcp_connects)
    open=$(shimmed "client_$1" "$up_PORT" 2>&1; echo "exit=$?")
    [ "$(tcp_connects)" -eq "$before" ] || { echo "a connect reached the kernel" >&2; return 1; }
    [ "$(server_count up connections)" -eq 0 ]
    real=${real//$dead_PORT/PORT}
    open=${open//$up_PORT/PORT}
    [ "$real" = "$open" ] || { diff <(echo "$real") <(echo "$open") >&2; return 1; }
    echo "$open"
}

# apt-get update against a mirror at 127.0.0.1:PORT, with a sources list,
# lists and cache of its own in the test's directory: the machine's apt
# state is neither read nor touched.
client_apt() {
    local dir=$BATS_TEST_TMPDIR/apt-$1
    mkdir -p "$dir/parts" "$dir/prefs" "$dir/lists/partial" "$dir/cache/archives/partial"
    echo "deb [trusted=yes] http://127.0.0.1:$1/debian stable main" >"$dir/sources.list"
    apt-get update -o Dir::Etc::SourceList="$dir/sources.list" -o Dir::Etc::SourceParts="$dir/parts" \
        -o Dir::Etc::PreferencesParts="$dir/prefs" -o Dir::State::Lists="$dir/lists" \
        -o Dir::Cache="$dir/cache" -o Dir::State::Status=/dev/null -o Debug::NoLocking=1 \
        -o APT::Sandbox::User=root -o Acquire::Retries=0
}
client_wget() { wget --tries=1 -O- "http://127.0.0.1:$1/" 2>&1 | grep -v '^--'; return "${PIPESTATUS[0]}"; }
client_wget_timeout() {
    wget --tries=1 --connect-timeout=10 -O- "http://127.0.0.1:$1/" 2>&1 | grep -v '^--'
    return "${PIPESTATUS[0]}"
}
client_python_blocking() {
    python3 -c 'import sys, urllib.request
urllib.request.urlopen("http://127.0.0.1:%s/" % sys.argv[1], timeout=10)' "$1"
}
client_python_asyncio() {
    python3 -c 'import asyncio, sys
async def main():
    await asyncio.wait_for(asyncio.open_connection("127.0.0.1", int(sys.argv[1])), 10)
asyncio.run(main())' "$1"
}
client_node() {
    node -e 'require("http").get("http://127.0.0.1:" + process.argv[1] + "/")
    .on("error", e => { console.log(e.code, e.message); process.exit(3); })' "$1"
}
client_ssh() {
    ssh -o BatchMode=yes -o ConnectTimeout=10 -o StrictHostKeyChecking=no \
        -o UserKnownHostsFile=/dev/null -p "$1" 127.0.0.1 true
}
client_psql() { psql -h 127.0.0.1 -p "$1" -U fusebox -d fusebox -w -c 'select 1'; }

@test "apt-get update against a refusing mirror: the same warnings and exit status 0 with an open breaker" {
    require_preloadable apt-get
    run both_say apt
    assert_success
    assert_line 'exit=0'
    assert_line '  Could not connect to 127.0.0.1:PORT (127.0.0.1). - connect (111: Connection refused)'
    assert_line 'W: Some index files failed to download. They have been ignored, or old ones used instead.'
}

@test "wget, with and without --connect-timeout: the same refusal" {
    require_preloadable wget
    run both_say wget
    assert_success
    assert_line 'exit=4'
    assert_output --partial 'failed: Connection refused.'
    run both_say wget_timeout
    assert_success
    assert_line 'exit=4'
}

@test "python, blocking (urllib) and non-blocking (asyncio): the same ConnectionRefusedError" {
    run both_say python_blocking
    assert_success
    assert_line 'exit=1'
    assert_line --partial 'ConnectionRefusedError: [Errno 111] Connection refused'
    run both_say python_asyncio
    assert_success
    assert_line 'exit=1'
    assert_line "ConnectionRefusedError: [Errno 111] Connect call failed ('127.0.0.1', PORT)"
}

@test "node http.get: the same ECONNREFUSED" {
    run both_say node
    assert_success
    assert_output $'ECONNREFUSED connect ECONNREFUSED 127.0.0.1:PORT\nexit=3'
}

@test "ssh with ConnectTimeout (a non-blocking connect): the same refusal, exit 255" {
    run both_say ssh
    assert_success
    assert_line --partial 'ssh: connect to host 127.0.0.1 port PORT: Connection refused' # ends in CR LF
    assert_line 'exit=255'
}

@test "psql (libpq, non-blocking): the same refusal, exit 2" {
    require_preloadable psql
    run both_say psql
    assert_success
    assert_line 'psql: error: connection to server at "127.0.0.1", port PORT failed: Connection refused'
    assert_line 'exit=2'
}

@test "curl: exit 7 as against a refusing host, with fusebox's own message" {
    require_preloadable curl
    run curl -sS --max-time 10 "http://127.0.0.1:$dead_PORT/"
    [ "$status" -eq 7 ]
    run shimmed curl -sS --max-time 10 "http://127.0.0.1:$up_PORT/"
    [ "$status" -eq 7 ]
    assert_output --partial "curl: (7) circuit open: breaker 'up'"
    [ "$(server_count up connections)" -eq 0 ]
}

# refusal_seen PORT: what a non-blocking connect to 127.0.0.1:PORT shows, step
# by step: connect, poll, epoll, select, SO_ERROR twice, a repeated connect
# on a second socket, and a blocking connect.
refusal_seen() {
    python3 -c '
import errno, select, socket, sys
port = int(sys.argv[1])
def attempt(s):
    try:
        s.connect(("127.0.0.1", port))
        return "connected"
    except OSError as e:
        return errno.errorcode[e.errno]
s = socket.socket()
s.setblocking(False)
print("connect", attempt(s))
p = select.poll()
p.register(s, select.POLLOUT)
print("poll POLLOUT", bool(p.poll(10000)[0][1] & select.POLLOUT)) # hang guard: ready at once
e = select.epoll()
e.register(s.fileno(), select.EPOLLOUT | select.EPOLLET)
print("epoll", len(e.poll(10)))
print("select writable", len(select.select([], [s], [], 10)[1]))
print("SO_ERROR", errno.errorcode[s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)])
print("SO_ERROR again", s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR))
t = socket.socket()
t.setblocking(False)
print("connect", attempt(t), "again", attempt(t))
print("blocking", attempt(socket.socket()))' "$1"
}

# seen_alike SCRIPT: runs SCRIPT PORT against the refusing server without
# fusebox, then against the open breaker's server with it; fails unless both
# print the same and the second made no connect. $output is what they print.
seen_alike() {
    run "$1" "$dead_PORT"
    assert_success
    local real=$output before
    before=$(tcp_connects)
    run shimmed "$1" "$up_PORT"
    assert_success
    [ "$output" = "$real" ]
    [ "$(tcp_connects)" -eq "$before" ]
}

@test "a non-blocking connect to an open breaker: EINPROGRESS, ready for poll, epoll and select, SO_ERROR and a repeated connect ECONNREFUSED, as a refusing host" {
    seen_alike refusal_seen
    assert_output "connect EINPROGRESS
poll POLLOUT True
epoll 1
select writable 1
SO_ERROR ECONNREFUSED
SO_ERROR again 0
connect EINPROGRESS again ECONNREFUSED
blocking ECONNREFUSED"
    [ "$(server_count up connections)" -eq 0 ]
    [ "$(breaker_field up rejected)" -eq 3 ] # a repeated connect is the same call
}

# flags_seen PORT: connect(2) itself (through libc, as a C program calls
# it) on sockets made non-blocking, and blocking again, in each way a
# program can: socket(SOCK_NONBLOCK), fcntl(F_SETFL), ioctl(FIONBIO), and
# through a copy (dup, dup2) whose open file the socket shares. Prints the
# errno of each connect.
flags_seen() {
    python3 -c '
import ctypes, errno, fcntl, os, socket, struct, sys, termios
port = int(sys.argv[1])
libc = ctypes.CDLL(None, use_errno=True)
where = struct.pack("=H", socket.AF_INET) + struct.pack("!H4s8x", port, socket.inet_aton("127.0.0.1"))
def attempt(fd):
    if libc.connect(fd, where, len(where)) == 0:
        return "connected"
    return errno.errorcode[ctypes.get_errno()]
def set_nonblocking(fd, on):
    flags = fcntl.fcntl(fd, fcntl.F_GETFL)
    fcntl.fcntl(fd, fcntl.F_SETFL, flags | os.O_NONBLOCK if on else flags & ~os.O_NONBLOCK)
def fionbio(fd, on):
    fcntl.ioctl(fd, termios.FIONBIO, struct.pack("i", on))
def fresh():
    return socket.socket().detach()
print("SOCK_NONBLOCK", attempt(socket.socket(socket.AF_INET, socket.SOCK_STREAM | socket.SOCK_NONBLOCK).detach()))
print("blocking", attempt(fresh()))
fd = fresh(); set_nonblocking(fd, True); print("fcntl on", attempt(fd))
fd = fresh(); set_nonblocking(fd, True); set_nonblocking(fd, False); print("fcntl off", attempt(fd))
fd = fresh(); fionbio(fd, 1); print("ioctl on", attempt(fd))
fd = fresh(); fionbio(fd, 1); fionbio(fd, 0); print("ioctl off", attempt(fd))
fd = fresh(); copy = os.dup(fd); set_nonblocking(copy, True); print("dup, on through the copy", attempt(fd))
fd = fresh(); os.dup2(fd, 200); set_nonblocking(200, True); print("dup2, on through the copy", attempt(fd))
fd = fresh(); set_nonblocking(fd, True); copy = os.dup(fd); set_nonblocking(copy, False); print("dup, off through the copy", attempt(fd))' "$1"
}

@test "a connect on a socket made non-blocking or blocking again, by any call or through a copy, is refused as a refusing host refuses it" {
    seen_alike flags_seen
    assert_output "SOCK_NONBLOCK EINPROGRESS
blocking ECONNREFUSED
fcntl on EINPROGRESS
fcntl off ECONNREFUSED
ioctl on EINPROGRESS
ioctl off ECONNREFUSED
dup, on through the copy EINPROGRESS
dup2, on through the copy EINPROGRESS
dup, off through the copy ECONNREFUSED"
    [ "$(breaker_field up rejected)" -eq 9 ]
}
