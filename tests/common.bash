# Shared setup for the bats suites: every test gets its own state file,
# starts its own loopback servers, and polls with deadlines instead of
# sleeping. Loaded with `load common`.
bats_require_minimum_version 1.5.0
load '/usr/lib/bats/bats-support/load'
load '/usr/lib/bats/bats-assert/load'

BUILD=${BUILD:-$BATS_TEST_DIRNAME/../build}
FUSEBOX="$BUILD/fusebox"
SHIM="$BUILD/libfusebox.so"
TESTSERVER="$BUILD/helpers/testserver"
TESTCLIENT="$BUILD/helpers/testclient"
PRELOAD=${FUSEBOX_TEST_PRELOAD:-$SHIM}
# What must come before the shim in LD_PRELOAD (a sanitizer runtime), for
# programs that add the shim themselves (fusebox run).
PRELOAD_BEFORE_SHIM=${PRELOAD%"$SHIM"}
PRELOAD_BEFORE_SHIM=${PRELOAD_BEFORE_SHIM%:}

common_setup() {
    export FUSEBOX_STATE="$BATS_TEST_TMPDIR/fusebox.state"
    unset FUSEBOX_RULES FUSEBOX_DISABLE FUSEBOX_LOG
    SERVER_PIDS=()
}

common_teardown() {
    local pid
    for pid in "${SERVER_PIDS[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in "${SERVER_PIDS[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
}

setup() { common_setup; }
teardown() { common_teardown; }

# wait_for SECONDS COMMAND...: polls COMMAND every 20 ms until it succeeds;
# fails when the deadline passes.
wait_for() {
    local deadline=$((${EPOCHREALTIME/./} + $1 * 1000000))
    shift
    until "$@"; do
        if [ "${EPOCHREALTIME/./}" -ge "$deadline" ]; then
            echo "timed out waiting for: $*" >&2
            return 1
        fi
        sleep 0.02
    done
}

# now_ms: the wall clock in milliseconds.
now_ms() { echo $((${EPOCHREALTIME/./} / 1000)); }

# remaining_is MS FULL SINCE: MS, the time left of an opening of FULL ms that
# began after SINCE (now_ms taken before the call that opened it), is what it
# must be however loaded the machine: at most FULL, and at least FULL less
# the time since SINCE (10 ms for rounding and the two clocks).
remaining_is() {
    local ms=$1 full=$2 since=$3
    [ "$ms" != null ] && [ "$ms" -le "$full" ] && [ "$ms" -ge $((full - ($(now_ms) - since) - 10)) ] || {
        echo "remaining $ms ms: not within $full ms less the $(($(now_ms) - since)) ms since the call" >&2
        return 1
    }
}

# retry_is NAME FULL SINCE: remaining_is for the breaker's retry_in_ms.
retry_is() { remaining_is "$(breaker_field "$1" retry_in_ms)" "$2" "$3"; }

# start_server NAME MODE [ARGS...]: starts a testserver on 127.0.0.1 (unless
# ARGS say otherwise); sets NAME_PORT and remembers the server's pid.
# Its counters are in $BATS_TEST_TMPDIR/NAME.count.
start_server() {
    local name=$1
    shift
    local dir=$BATS_TEST_TMPDIR
    rm -f "$dir/$name.port"
    "$TESTSERVER" "$@" --port-file "$dir/$name.port" --count-file "$dir/$name.count" \
        --max-seconds 300 3>&- &
    SERVER_PIDS+=("$!")
    wait_for 30 test -s "$dir/$name.port"
    printf -v "${name}_PORT" '%s' "$(cat "$dir/$name.port")"
}

# start_serve [ARGS...]: starts fusebox serve on a free loopback port (on
# $SERVE_LISTEN when set) and sets SERVE_URL and SERVE_PID; its output is
# appended to $BATS_TEST_TMPDIR/serve.out.
start_serve() {
    local port_file=$BATS_TEST_TMPDIR/serve.port
    rm -f "$port_file"
    "$FUSEBOX" serve --listen "${SERVE_LISTEN:-127.0.0.1:0}" --port-file "$port_file" "$@" \
        >>"$BATS_TEST_TMPDIR/serve.out" 2>&1 3>&- &
    SERVE_PID=$!
    SERVER_PIDS+=("$SERVE_PID")
    wait_for 30 test -s "$port_file"
    SERVE_URL=http://127.0.0.1:$(cat "$port_file")
}

# server_count NAME FIELD: prints a counter of a server (connections,
# requests, max_concurrent); 0 before the first one.
server_count() {
    local file=$BATS_TEST_TMPDIR/$1.count
    if [ -f "$file" ]; then
        awk -v k="$2" '$1 == k { print $2; found = 1 } END { if (!found) print 0 }' "$file"
    else
        echo 0
    fi
}

# server_saw NAME FIELD N: the server's counter FIELD is exactly N once it has
# caught up: it counts a connection when it accepts it, which may come after
# the client that made it has exited.
server_saw() {
    wait_for 30 server_count_reached "$1" "$2" "$3"
    [ "$(server_count "$1" "$2")" -eq "$3" ]
}

server_count_reached() {
    [ "$(server_count "$1" "$2")" -ge "$3" ]
}

# write_rules JSON: writes a rules file and exports FUSEBOX_RULES.
write_rules() {
    printf '%s\n' "$1" > "$BATS_TEST_TMPDIR/rules.json"
    export FUSEBOX_RULES="$BATS_TEST_TMPDIR/rules.json"
}

# syslog_receiver SOCKET OUT: a datagram socket at SOCKET that writes the
# first message it gets to OUT (in the background; teardown stops it).
syslog_receiver() {
    python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
s.settimeout(60)
open(sys.argv[2] + ".ready", "w").close()
data = s.recv(4096).decode()
with open(sys.argv[2], "w") as out:
    out.write(data)' "$1" "$2" 3>&- &
    SERVER_PIDS+=("$!")
    wait_for 30 test -e "$2.ready"
}

# shimmed COMMAND...: runs COMMAND with the shim preloaded.
shimmed() {
    LD_PRELOAD="$PRELOAD" "$@"
}

# tcp_connects: how many TCP connects this network namespace has started
# (the kernel's ActiveOpens counter: a connect() that fusebox rejected never
# gets there). run-tests.sh gives each suite a private namespace, so nothing
# else moves it.
tcp_connects() {
    awk '$1 == "Tcp:" { if (!n++) for (i = 2; i <= NF; i++) col[$i] = i; else print $col["ActiveOpens"] }' /proc/net/snmp
}

# breaker_field NAME FIELD: prints a field of a breaker from status --json.
breaker_field() {
    "$FUSEBOX" status --json | python3 -c '
import json, sys
name, field = sys.argv[1], sys.argv[2]
for b in json.load(sys.stdin)["breakers"]:
    if b["name"] == name:
        v = b[field]
        print("null" if v is None else v)
        break
else:
    print("absent")' "$1" "$2"
}

# breaker_is NAME FIELD VALUE: succeeds when the breaker's field has VALUE
# (for wait_for).
breaker_is() {
    [ "$(breaker_field "$1" "$2")" = "$3" ]
}

# require_preloadable PROGRAM: in a sanitizer run, skips the test when the
# sanitizer runtime alone (without fusebox) cannot be preloaded into PROGRAM:
# on Debian 12, ASan preloaded into curl or wget deadlocks in setlocale.
require_preloadable() {
    preloadable "$1" || skip "the sanitizer runtime cannot be preloaded into $1 here, even without fusebox"
}

# preloadable PROGRAM: false when require_preloadable would skip.
preloadable() {
    [ -z "$PRELOAD_BEFORE_SHIM" ] ||
        timeout 10 env LD_PRELOAD="$PRELOAD_BEFORE_SHIM" "$1" --version >/dev/null 2>&1
}

# runs_unprotected TEXT: a refused connect goes through (twice, past fail_max
# 1) and stderr has exactly one fusebox: line containing TEXT.
runs_unprotected() {
    start_server dead refuse
    run --separate-stderr shimmed "$TESTCLIENT" connect 127.0.0.1 "$dead_PORT" --count 2
    assert_success
    [ "$(grep -c ECONNREFUSED <<<"$output")" -eq 2 ]
    [ "$(grep -c '^fusebox: ' <<<"$stderr")" -eq 1 ]
    [[ "$stderr" == *"$1"* ]]
}
