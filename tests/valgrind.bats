#!/usr/bin/env bats
# Memcheck over real programs under the shim: curl, wget and python3 against
# a local server, on a healthy breaker and on an open one, must give no
# valgrind error (--error-exitcode=1) and no leak that the shim owns; the
# results must be those of the same runs without the shim. No suppression
# file is needed: with the defaults Debian's valgrind ships, these programs
# run clean.

load common

setup() {
    common_setup
    [ -z "$SANITIZE" ] || skip "valgrind cannot run programs that have a sanitizer runtime preloaded"
    command -v valgrind >/dev/null || skip "valgrind is not installed (scripts/install-deps.sh installs it)"
    start_server api http 200 --body 'fusebox under memcheck'
    write_rules "{\"version\": 1, \"breakers\": [
        {\"name\": \"api\", \"hosts\": [\"127.0.0.1:$api_PORT\"], \"fail_max\": 3},
        {\"name\": \"shut\", \"hosts\": [\"localhost:$api_PORT\"]}]}"
    "$FUSEBOX" open shut >/dev/null
}

# memcheck EXPECTED_STATUS COMMAND...: runs COMMAND under memcheck with the
# shim preloaded; its exit status must be EXPECTED_STATUS (memcheck's own
# errors make it 1) and the log must show no leak through the shim. Leaks of
# the programs themselves (python3 keeps its interned objects to the end)
# are theirs, not errors here; any shim frame in a leak record is (the full
# source paths that --fullpath-after= prints name shim/ROOM/*.c).
# Sets output (the program's stdout) and VGLOG.
memcheck() {
    local expected=$1
    shift
    VGLOG=$(mktemp "$BATS_TEST_TMPDIR/memcheck.XXXXXX")
    run --separate-stderr env LD_PRELOAD="$PRELOAD" valgrind -q --error-exitcode=1 \
        --leak-check=full --show-leak-kinds=definite,indirect --errors-for-leak-kinds=none \
        --fullpath-after= --log-file="$VGLOG" "$@"
    if [ "$status" -ne "$expected" ] || grep -Eq 'libfusebox|/shim/([a-z]+/)*[a-z_]+\.[ch]:' "$VGLOG"; then
        echo "exit $status (expected $expected); memcheck said:"
        cat "$VGLOG"
        return 1
    fi
    ! grep -q 'ERROR SUMMARY: [1-9]' "$VGLOG"
}

@test "valgrind: curl, a healthy breaker and an open one" {
    require_preloadable curl
    memcheck 0 curl -sS --max-time 60 "http://127.0.0.1:$api_PORT/"
    assert_output 'fusebox under memcheck'
    memcheck 7 curl -sS --max-time 60 "http://localhost:$api_PORT/"
    [[ "$stderr" == *"circuit open: breaker 'shut'"* ]]
    [ "$(breaker_field api successes)" -eq 1 ]
    [ "$(breaker_field shut rejected)" -eq 1 ]
    [ "$(server_count api requests)" -eq 1 ]
}

@test "valgrind: wget, a healthy breaker and an open one" {
    require_preloadable wget
    memcheck 0 wget -q -O - --tries=1 --timeout=60 "http://127.0.0.1:$api_PORT/"
    assert_output 'fusebox under memcheck'
    memcheck 4 wget -q -O - --tries=1 --timeout=60 "http://localhost:$api_PORT/"
    [ "$(breaker_field api successes)" -eq 1 ]
    [ "$(breaker_field shut rejected)" -eq 1 ]
    [ "$(server_count api requests)" -eq 1 ]
}

@test "valgrind: python3 urllib, a refused connect and a non-blocking connect with a timeout" {
    # Debian's interpreter (the python3 package that install-deps.sh
    # installs), not whatever python3 is first in PATH: a pyenv shim there is
    # a bash script (memcheck would check bash), and pyenv's own 3.11 build
    # gives uninitialised-value reports under PYTHONMALLOC=malloc with no
    # shim at all. PYTHONMALLOC=malloc so that memcheck sees Python's
    # allocations instead of pymalloc's arenas.
    local python=/usr/bin/python3
    start_server dead refuse
    PYTHONMALLOC=malloc memcheck 0 "$python" -c '
import socket, sys, urllib.request
port, dead = sys.argv[1], int(sys.argv[2])
print(urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=60).read().decode())
try:
    socket.create_connection(("127.0.0.1", dead), timeout=30)
except ConnectionRefusedError as e:
    print("refused")
try:
    urllib.request.urlopen(f"http://localhost:{port}/", timeout=60)
except OSError as e:
    print("rejected:", type(e.reason).__name__)' "$api_PORT" "$dead_PORT"
    assert_output $'fusebox under memcheck\nrefused\nrejected: ConnectionRefusedError'
    [ "$(breaker_field api successes)" -eq 1 ]
    [ "$(breaker_field shut rejected)" -ge 1 ]
}

@test "valgrind: the fusebox command itself, no error and no lost block in any command" {
    # lost: definite, indirect or possible; "still reachable" is the loader's
    # own record of the dlopen'ed cJSON, kept until exit by design
    local c
    for c in status "status --json" "status --verify" fsck events "events --json" metrics \
        "explain http://127.0.0.1:$api_PORT/" "check $FUSEBOX_RULES" "open api" "close api" \
        "reset --all"; do
        run valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite,indirect,possible "$FUSEBOX" $c
        [ "$status" -eq 0 ] || { echo "fusebox $c: exit $status: $output"; false; }
    done
}
