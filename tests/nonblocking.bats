#!/usr/bin/env bats
# Non-blocking connects, completely: the outcome is taken from SO_ERROR, a
# repeated connect, the first read or write (event loops), or the fd's end
# (close, close_range, dup2 over it, exit); a fork child never reports its
# parent's attempt.

load common

setup() {
    common_setup
    start_server up accept
    start_server hole blackhole
    write_rules "{\"version\": 1, \"breakers\": [
        {\"name\": \"up\", \"hosts\": [\"127.0.0.1:$up_PORT\"], \"fail_max\": 100},
        {\"name\": \"hole\", \"hosts\": [\"127.0.0.1:$hole_PORT\"], \"fail_max\": 100}]}"
}

# py SCRIPT: runs python3 under the shim with UP and HOLE (ports) defined and
# a helper start(port) that starts a non-blocking connect.
py() {
    shimmed python3 -c "import os, select, socket
UP, HOLE = $up_PORT, $hole_PORT
def start(port):
    s = socket.socket()
    s.setblocking(False)
    try:
        s.connect(('127.0.0.1', port))
    except BlockingIOError:
        pass
    return s
$1"
}

@test "an event loop that polls and then writes, never asking SO_ERROR, counts a success at the write" {
    py '
s = start(UP)
select.select([], [s], [], 5)
s.send(b"x")
os._exit(0)  # no close, no exit handlers: only the write can have told
'
    [ "$(breaker_field up successes)" -eq 1 ]
    [ "$(breaker_field up failures)" -eq 0 ]
}

@test "a repeated connect settles the attempt: EISCONN is a success" {
    py '
s = start(UP)
select.select([], [s], [], 5)
try:
    s.connect(("127.0.0.1", UP))
except OSError as e:
    print(e)
s.close()  # a connect that succeeded is recorded once its bytes or its end say what it speaks
os._exit(0)
'
    [ "$(breaker_field up successes)" -eq 1 ]
    [ "$(breaker_field up calls)" -eq 1 ]
}

@test "close_range over a pending connect counts a timeout" {
    py '
s = start(HOLE)
fd = s.detach()
os.closerange(fd, fd + 1)
'
    [ "$(breaker_field hole failures)" -eq 1 ]
}

@test "dup2 over a pending connect settles it (a timeout: it was still connecting)" {
    py '
s = start(HOLE)
t = start(UP)
select.select([], [t], [], 5)
os.dup2(t.fileno(), s.fileno())
os._exit(0)
'
    [ "$(breaker_field hole failures)" -eq 1 ]
}

@test "a connect still pending at exit counts a timeout" {
    py 'keep = start(HOLE)'
    [ "$(breaker_field hole failures)" -eq 1 ]
}

@test "a fork child that closes its copy of a pending socket reports nothing" {
    run py '
s = start(HOLE)
pid = os.fork()
if pid == 0:
    s.close()
    os._exit(0)
os.waitpid(pid, 0)
print("child done")
os._exit(0)
'
    assert_output 'child done'
    [ "$(breaker_field hole calls)" -eq 0 ]
}

# refused_io OPS: a non-blocking connect to the refusing server "dead", then
# each of OPS (send or recv) at once, never asking SO_ERROR; prints what each
# gave, and the exit status (SIGPIPE kills with 141).
refused_io() {
    python3 -c '
import errno, signal, socket, sys
signal.signal(signal.SIGPIPE, signal.SIG_DFL)
s = socket.socket()
s.setblocking(False)
print("connect", errno.errorcode.get(s.connect_ex(("127.0.0.1", int(sys.argv[1])))), flush=True)
for op in sys.argv[2:]:
    try:
        getattr(s, op)(b"x") if op == "send" else s.recv(1)
        print(op, "ok", flush=True)
    except OSError as e:
        print(op, errno.errorcode.get(e.errno), flush=True)' "$dead_PORT" "$@"
    echo "exit $?"
}

@test "an open breaker's refused socket answers a read or write before SO_ERROR as a refused one does" {
    start_server dead refuse
    write_rules "{\"version\": 1, \"breakers\": [{\"name\": \"dead\", \"hosts\": [\"127.0.0.1:$dead_PORT\"], \"fail_max\": 1, \"reset_timeout\": 60}]}"
    shimmed "$TESTCLIENT" connect 127.0.0.1 "$dead_PORT" > /dev/null # opens the breaker
    [ "$(breaker_field dead state)" = open ]
    for ops in "send send" "recv send" "recv recv"; do
        plain=$(refused_io $ops)
        run env LD_PRELOAD="$PRELOAD" bash -c "$(declare -f refused_io); dead_PORT=$dead_PORT refused_io $ops"
        echo "plain: $plain" && echo "open:  $output"
        [ "$output" = "$plain" ]
    done
    [ "$(breaker_field dead rejected)" -eq 3 ]
}
