#!/usr/bin/env bats
# Non-interference: with rules loaded that match nothing (one breaker for
# 127.0.0.99:1), real programs give exactly the results they give without
# the shim, and a connect costs the same system calls. FUSEBOX_LOG=debug in
# the shimmed runs proves that the shim was there and had loaded the rules.

load common

setup() {
    common_setup
    write_rules '{"version": 1, "breakers": [{"name": "elsewhere", "hosts": ["127.0.0.99:1"]}]}'
}

# shim_was_active FILE: FILE (a shimmed run's stderr) shows the rules loaded.
shim_was_active() {
    grep -q '^fusebox: 1 breakers, 1 host patterns from ' "$1"
}

# start_http_dir NAME DIR: serves DIR with python3's http.server on 127.0.0.1
# (a free port; at most 300 s); sets NAME_PORT.
start_http_dir() {
    local name=$1 dir=$2
    timeout 300 python3 -c '
import functools, http.server, os, sys
handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=sys.argv[1])
handler.log_message = lambda *args: None
server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
with open(sys.argv[2] + ".tmp", "w") as f:
    f.write(str(server.server_address[1]))
os.rename(sys.argv[2] + ".tmp", sys.argv[2])
server.serve_forever()' "$dir" "$BATS_TEST_TMPDIR/$name.port" 3>&- &
    SERVER_PIDS+=("$!")
    wait_for 30 test -s "$BATS_TEST_TMPDIR/$name.port"
    printf -v "${name}_PORT" '%s' "$(cat "$BATS_TEST_TMPDIR/$name.port")"
}

@test "git clone over http (dumb protocol, python3 http.server): the same commits and tree as without the shim" {
    require_preloadable curl # git's http transport is libcurl
    local src=$BATS_TEST_TMPDIR/src i
    git init -q -b main "$src"
    for i in $(seq 30); do
        mkdir -p "$src/dir$((i % 5))"
        head -c $((i * 997)) /dev/urandom | base64 > "$src/dir$((i % 5))/file$i"
        git -C "$src" add -A
        git -C "$src" -c user.name=t -c user.email=t@example.invalid commit -q -m "commit $i"
    done
    git clone -q --bare "$src" "$BATS_TEST_TMPDIR/www/repo.git"
    git -C "$BATS_TEST_TMPDIR/www/repo.git" update-server-info
    start_http_dir www "$BATS_TEST_TMPDIR/www"
    local url="http://127.0.0.1:$www_PORT/repo.git"
    git clone -q "$url" "$BATS_TEST_TMPDIR/plain"
    FUSEBOX_LOG=debug LD_PRELOAD="$PRELOAD" git clone -q "$url" "$BATS_TEST_TMPDIR/shimmed" \
        2> "$BATS_TEST_TMPDIR/shimmed.err"
    shim_was_active "$BATS_TEST_TMPDIR/shimmed.err"
    local c
    for c in plain shimmed; do
        git -C "$BATS_TEST_TMPDIR/$c" fsck --full --strict
        [ "$(git -C "$BATS_TEST_TMPDIR/$c" rev-parse HEAD)" = "$(git -C "$src" rev-parse HEAD)" ]
        [ "$(git -C "$BATS_TEST_TMPDIR/$c" rev-list --count HEAD)" -eq 30 ]
    done
    [ "$(git -C "$BATS_TEST_TMPDIR/plain" ls-tree -r HEAD)" = "$(git -C "$BATS_TEST_TMPDIR/shimmed" ls-tree -r HEAD)" ]
    diff -r --exclude=.git "$BATS_TEST_TMPDIR/plain" "$BATS_TEST_TMPDIR/shimmed"
    diff -r --exclude=.git "$src" "$BATS_TEST_TMPDIR/shimmed"
    # nothing was decided: the one breaker was never used
    run "$FUSEBOX" status --json
    [[ "$output" != *'"name": "elsewhere"'* ]]
}

@test "a 100 MB download from python3 -m http.server with curl: the same sha256 as the file" {
    require_preloadable curl
    mkdir "$BATS_TEST_TMPDIR/www"
    head -c 100M /dev/urandom > "$BATS_TEST_TMPDIR/www/big"
    local want got_plain got_shimmed
    want=$(sha256sum < "$BATS_TEST_TMPDIR/www/big")
    start_http_dir www "$BATS_TEST_TMPDIR/www"
    local url="http://127.0.0.1:$www_PORT/big"
    got_plain=$(curl -sS --max-time 120 "$url" | sha256sum)
    got_shimmed=$(FUSEBOX_LOG=debug LD_PRELOAD="$PRELOAD" curl -sS --max-time 120 "$url" \
        2> "$BATS_TEST_TMPDIR/curl.err" | sha256sum)
    shim_was_active "$BATS_TEST_TMPDIR/curl.err"
    [ "$got_plain" = "$want" ]
    [ "$got_shimmed" = "$want" ]
}

@test "node: 1000 concurrent sockets to a local server complete identically" {
    # 1000 sockets in each process, more than the usual soft limit of 1024
    ulimit -n 4096 || skip "cannot raise the descriptor limit to 4096 (hard limit $(ulimit -Hn))"
    cat > "$BATS_TEST_TMPDIR/thousand.js" <<'JS'
// node thousand.js server PORTFILE | client PORT N
const net = require('net'), fs = require('fs'), crypto = require('crypto');
const [mode, arg, count] = process.argv.slice(2);
if (mode === 'server') {
  const server = net.createServer((s) => {
    let got = '';
    s.on('data', (d) => {
      got += d;
      if (got.endsWith('\n')) s.end(crypto.createHash('sha256').update(got).digest('hex') + '\n');
    });
    s.on('error', () => {});
  });
  server.maxConnections = 5000;
  server.listen({ host: '127.0.0.1', port: 0, backlog: 2048 }, () => {
    fs.writeFileSync(arg + '.tmp', String(server.address().port));
    fs.renameSync(arg + '.tmp', arg);
  });
  setTimeout(() => process.exit(0), 300000).unref();
} else {
  const n = Number(count), answers = new Array(n);
  let open = 0, peak = 0, done = 0;
  for (let i = 0; i < n; i++) {
    const s = net.connect({ host: '127.0.0.1', port: Number(arg) }, () => {
      peak = Math.max(peak, ++open);
      s.write(`socket ${i} ${'x'.repeat(i % 100)}\n`);
    });
    let got = '';
    s.on('data', (d) => { got += d; });
    s.on('error', (e) => { answers[i] = 'error ' + e.code; });
    s.on('close', () => {
      answers[i] = answers[i] || got.trim();
      if (++done === n) {
        console.log(`sockets ${n} peak_open ${peak >= n ? 'all' : peak}`);
        console.log(crypto.createHash('sha256').update(answers.join('\n')).digest('hex'));
      }
    });
  }
}
JS
    node "$BATS_TEST_TMPDIR/thousand.js" server "$BATS_TEST_TMPDIR/node.port" 3>&- &
    SERVER_PIDS+=("$!")
    wait_for 30 test -s "$BATS_TEST_TMPDIR/node.port"
    local port
    port=$(cat "$BATS_TEST_TMPDIR/node.port")
    run timeout 120 node "$BATS_TEST_TMPDIR/thousand.js" client "$port" 1000
    assert_success
    assert_line --index 0 'sockets 1000 peak_open all'
    local plain=$output
    run --separate-stderr timeout 120 env FUSEBOX_LOG=debug LD_PRELOAD="$PRELOAD" \
        node "$BATS_TEST_TMPDIR/thousand.js" client "$port" 1000
    assert_success
    [ "$output" = "$plain" ]
    [[ "$stderr" == *"fusebox: 1 breakers, 1 host patterns from "* ]]
}

# ---- system calls per connect ----------------------------------------------
#
# strace -c -f counts the system calls of testclient doing N blocking
# connects (socket, setsockopt SO_SNDTIMEO, connect, close, and one write(2)
# of its result line each) for N = 100 and N = 200; the difference divided by
# 100 is what one connect costs, free of the start-up (mapping the compiled
# rules, mapping the state file: once per process; a first run
# creates the file, as the first program of a user does). In a sanitizer run
# both sides carry the sanitizer runtime (testclient is built with it too),
# whose own system calls are start-up only, so the same counts hold there.

# syscalls_per_connect PORT [ENV...]: prints "NAME PER-CONNECT" lines, sorted,
# for every system call whose count changes with N. testclient gets the
# options in CLIENT_OPTS (e.g. --nonblock).
CLIENT_OPTS=()
syscalls_per_connect() {
    local port=$1 n
    shift
    # a first run creates the state file, so both counted runs only map it
    env "$@" "$TESTCLIENT" connect 127.0.0.1 "$port" "${CLIENT_OPTS[@]}" >/dev/null
    for n in 100 200; do
        env "$@" strace -f -c -o "$BATS_TEST_TMPDIR/strace.$n" \
            "$TESTCLIENT" connect 127.0.0.1 "$port" --count "$n" "${CLIENT_OPTS[@]}" >/dev/null
    done
    awk '
        # lines: % time, seconds, usecs/call, calls, [errors], syscall
        $1 ~ /^[0-9.]+$/ && $NF != "total" { calls[FILENAME, $NF] = $4; names[$NF] = 1 }
        END {
            for (s in names) {
                d = calls[ARGV[2], s] - calls[ARGV[1], s]
                # the shim looks at its rules file (a stat) once a second at
                # most: that is no cost per connect
                if (s ~ /^(newfstatat|stat|statx)$/ && d / 100 < 0.1) continue
                if (d != 0) printf "%s %g\n", s, d / 100
            }
        }' "$BATS_TEST_TMPDIR/strace.100" "$BATS_TEST_TMPDIR/strace.200" | sort
}

# measure_both PORT: sets PLAIN and SHIMMED, the system calls per connect
# without and with the shim, and shows them.
measure_both() {
    PLAIN=$(syscalls_per_connect "$1")
    SHIMMED=$(syscalls_per_connect "$1" LD_PRELOAD="$PRELOAD")
    echo "without: $PLAIN"
    echo "with:    $SHIMMED"
}

# rule_for_up: a breaker "up" for the server "up".
rule_for_up() {
    write_rules "{\"version\": 1, \"breakers\": [{\"name\": \"up\", \"hosts\": [\"127.0.0.1:$up_PORT\"]}]}"
}

require_strace() {
    command -v strace >/dev/null || skip "strace is not installed (scripts/install-deps.sh installs it)"
    strace -f -c -o /dev/null true 2>/dev/null || skip "ptrace is not allowed here"
}

@test "strace: an unruled destination costs no system call per connect" {
    require_strace
    start_server up accept
    measure_both "$up_PORT"
    [ "$PLAIN" = $'close 1\nconnect 1\nsetsockopt 1\nsocket 1\nwrite 1' ]
    [ "$SHIMMED" = "$PLAIN" ]
}

@test "strace: a ruled destination (breaker closed) costs no system call per connect either" {
    require_strace
    start_server up accept
    rule_for_up
    measure_both "$up_PORT"
    # The design needs none: the decision and the record are atomic
    # operations on the state file mapped once per process, and the clock is
    # read through the vDSO (no system call).
    [ "$SHIMMED" = "$PLAIN" ]
    [ "$(breaker_field up successes)" -eq 301 ]
}

@test "strace: non-blocking connects: none unruled, one getpeername per ruled connect" {
    require_strace
    start_server up accept
    CLIENT_OPTS=(--nonblock)
    local ruled
    measure_both "$up_PORT" # unruled
    rule_for_up
    ruled=$(syscalls_per_connect "$up_PORT" LD_PRELOAD="$PRELOAD")
    echo "ruled:   $ruled"
    # testclient: socket, connect (EINPROGRESS), poll, getsockopt(SO_ERROR),
    # close, and its result line
    [ "$PLAIN" = $'close 1\nconnect 1\ngetsockopt 1\npoll 1\nsocket 1\nwrite 1' ]
    [ "$SHIMMED" = "$PLAIN" ]
    # The one the design needs: the outcome of a pending connect is read
    # when the program reads SO_ERROR, and SO_ERROR 0 means either
    # "connected" or "still in progress"; one getpeername tells which
    # (shim/preload/pending.c, kernel_verdict). Nothing else is added.
    [ "$ruled" = $'close 1\nconnect 1\ngetpeername 1\ngetsockopt 1\npoll 1\nsocket 1\nwrite 1' ]
    [ "$(breaker_field up successes)" -eq 301 ]
}

@test "strace: a rejected connect makes no system call" {
    require_strace
    start_server up accept
    rule_for_up
    "$FUSEBOX" open up >/dev/null
    local shimmed
    shimmed=$(syscalls_per_connect "$up_PORT" LD_PRELOAD="$PRELOAD")
    echo "with, open: $shimmed"
    # socket, setsockopt, close and the result line are testclient's own:
    # whether the socket is non-blocking (refused with EINPROGRESS, then
    # ECONNREFUSED) the shim knows from socket() (fdtrack.h), with no fcntl
    [ "$shimmed" = $'close 1\nsetsockopt 1\nsocket 1\nwrite 1' ]
    [ "$(breaker_field up rejected)" -eq 301 ]
}
