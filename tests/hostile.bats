#!/usr/bin/env bats
# Hostile environments: secure execution, planted symlinks, other users'
# state files, bad environment values, rules files that change underfoot.
# The shim must never let a setting it should not trust steer it, never
# write where it was not meant to, and never break the program.

load common

TORTURE="$BUILD/helpers/connect_torture"

setup() {
    common_setup
    SECURE_DIR=
}

teardown() {
    common_teardown
    [ -z "$SECURE_DIR" ] || rm -rf "$SECURE_DIR"
}

# as_nobody COMMAND...: runs COMMAND as nobody:nogroup with no supplementary
# groups and no capabilities.
as_nobody() {
    setpriv --reuid=nobody --regid=nogroup --clear-groups -- "$@"
}

# make_shared_dir: a directory under /tmp that nobody can enter (the bats
# temporary directories are private to root); sets SECURE_DIR, removed by
# teardown.
make_shared_dir() {
    SECURE_DIR=$(mktemp -d /tmp/fusebox-hostile.XXXXXX)
    chmod 755 "$SECURE_DIR"
}

# ---- secure execution ------------------------------------------------------
#
# What is testable and how. For a program in secure-execution mode (setuid,
# setgid, or file capabilities that raise its privileges: the kernel sets
# AT_SECURE) the dynamic loader itself ignores LD_PRELOAD entries that
# contain a slash, and loads a bare name only from the system library
# directories and only when that file has the set-user-ID bit. So pointing
# LD_PRELOAD at build/libfusebox.so would prove only the loader's rule, not
# fusebox's. To get the shim really loaded into a secure program without
# touching the machine, the test runs in a private mount namespace (unshare
# --mount) where an overlay puts a setuid copy of libfusebox.so into
# /usr/lib/x86_64-linux-gnu; nothing outside that namespace sees it. Then:
#   - a control, a plain copy of testclient run as nobody with the same
#     LD_PRELOAD and FUSEBOX_* values, is rejected by the forced-open breaker
#     (the shim is loaded by that name and obeys FUSEBOX_*);
#   - a setuid copy (owned by nobody, run by root: euid nobody, AT_SECURE)
#     and a file-capability copy (cap_net_bind_service+ep, run by nobody)
#     have the shim mapped and still connect: FUSEBOX_RULES, FUSEBOX_STATE
#     and FUSEBOX_LOG=debug are all ignored (no state file appears, nothing
#     is logged), which is shim/preload/runtime.c's getauxval(AT_SECURE) check.
# /etc/ld.so.preload would be machine-wide and is not used. A sanitizer build
# cannot be tested this way: its runtime sits in LD_PRELOAD with a slash,
# which the loader drops, and the instrumented shim cannot load without it.

# in_overlay SCRIPT ARGS...: runs bash SCRIPT in a private mount namespace
# where /usr/lib/x86_64-linux-gnu also holds $SECURE_DIR/upper/$LIBNAME.
in_overlay() {
    local script=$1
    shift
    unshare --mount --propagation private -- bash -c '
        set -e
        libdir=$(dirname "$(ldconfig -p | awk "/libc.so.6 .*x86-64/ { print \$NF; exit }")")
        mount -t overlay fusebox-test \
            -o "lowerdir=$libdir,upperdir=$SECURE_DIR/upper,workdir=$SECURE_DIR/work" "$libdir"
        '"$script" _ "$@"
}

prepare_secure() {
    [ -z "$PRELOAD_BEFORE_SHIM" ] || skip "a sanitizer runtime preloaded by path is dropped by the loader in secure-execution mode"
    [ "$(id -u)" -eq 0 ] || skip "needs root: setuid and file-capability copies, a mount namespace"
    unshare --mount true 2>/dev/null || skip "cannot create a mount namespace here"
    make_shared_dir
    export SECURE_DIR
    mkdir "$SECURE_DIR/upper" "$SECURE_DIR/work" "$SECURE_DIR/state"
    chown nobody:nogroup "$SECURE_DIR/state"
    LIBNAME="libfusebox-securetest-$$.so"
    export LIBNAME
    install -m 4755 "$SHIM" "$SECURE_DIR/upper/$LIBNAME"
    in_overlay 'test -u "$libdir/$LIBNAME"' 2>/dev/null || skip "no overlay file system to mount here"
    install -m 0755 "$TESTCLIENT" "$SECURE_DIR/plain"
    install -m 4755 -o nobody "$TESTCLIENT" "$SECURE_DIR/setuid"
    install -m 0755 "$TESTCLIENT" "$SECURE_DIR/capable"
    setcap cap_net_bind_service+ep "$SECURE_DIR/capable"
    install -m 0755 "$FUSEBOX" "$SECURE_DIR/fusebox"

    start_server up accept
    printf '{"version": 1, "breakers": [{"name": "sec", "hosts": ["127.0.0.1:%s"]}]}\n' \
        "$up_PORT" > "$SECURE_DIR/rules.json"
    chmod 644 "$SECURE_DIR/rules.json"
    export FUSEBOX_RULES="$SECURE_DIR/rules.json" FUSEBOX_STATE="$SECURE_DIR/state/nobody.state"
    # nobody's own breaker, forced open: whoever obeys FUSEBOX_* is rejected
    as_nobody "$SECURE_DIR/fusebox" open sec
    [ "$(stat -c %U "$FUSEBOX_STATE")" = nobody ]
}

# secure_runs PORT: in the overlay, runs the control and both secure copies
# with the shim preloaded by name, FUSEBOX_LOG=debug and, for the secure
# ones, a FUSEBOX_STATE that does not exist yet; each one's stdout and
# stderr go to $BATS_TEST_TMPDIR/NAME.out and NAME.err.
secure_runs() {
    local out=$BATS_TEST_TMPDIR
    in_overlay '
        export LD_PRELOAD=$LIBNAME FUSEBOX_LOG=debug
        nobody=(setpriv --reuid=nobody --regid=nogroup --clear-groups --)
        "${nobody[@]}" "$SECURE_DIR/plain" connect 127.0.0.1 "$1" --loading \
            > "$2/control.out" 2> "$2/control.err"
        export FUSEBOX_STATE=$SECURE_DIR/state/secure.state
        "$SECURE_DIR/setuid" connect 127.0.0.1 "$1" --loading > "$2/setuid.out" 2> "$2/setuid.err"
        "${nobody[@]}" "$SECURE_DIR/capable" connect 127.0.0.1 "$1" --loading \
            > "$2/capable.out" 2> "$2/capable.err"
    ' "$1" "$out"
}

@test "secure execution: the control run obeys FUSEBOX_* through the same preloaded library" {
    prepare_secure
    secure_runs "$up_PORT"
    run cat "$BATS_TEST_TMPDIR/control.out"
    assert_line --index 0 --regexp '^ECONNREFUSED [0-9]+us$'
    assert_line --index 1 'at_secure 0'
    assert_line --index 2 'libfusebox mapped'
    # FUSEBOX_LOG=debug was obeyed too
    grep -q '^fusebox: 1 breakers, 1 host patterns' "$BATS_TEST_TMPDIR/control.err"
}

@test "secure execution: a setuid copy has the shim mapped and ignores every FUSEBOX_*" {
    prepare_secure
    secure_runs "$up_PORT"
    run cat "$BATS_TEST_TMPDIR/setuid.out"
    assert_output --regexp $'^ok [0-9]+us\nat_secure 1\nlibfusebox mapped$'
    [ ! -s "$BATS_TEST_TMPDIR/setuid.err" ]
    [ ! -e "$SECURE_DIR/state/secure.state" ]
}

@test "secure execution: a file-capability copy has the shim mapped and ignores every FUSEBOX_*" {
    prepare_secure
    secure_runs "$up_PORT"
    run cat "$BATS_TEST_TMPDIR/capable.out"
    assert_output --regexp $'^ok [0-9]+us\nat_secure 1\nlibfusebox mapped$'
    [ ! -s "$BATS_TEST_TMPDIR/capable.err" ]
    [ ! -e "$SECURE_DIR/state/secure.state" ]
    # two secure connects reached the server, the control's did not
    server_saw up connections 2
}

# ---- planted links and other users' files ----------------------------------

# sticky_dir: a world-writable sticky directory like /tmp (its own, so the
# test plants links where nobody else looks); prints its path.
sticky_dir() {
    make_shared_dir
    mkdir -m 1777 "$SECURE_DIR/sticky"
    echo "$SECURE_DIR/sticky"
}

@test "a symlink planted by another user in a sticky directory is not followed, nothing lands at its target" {
    dir=$(sticky_dir)
    echo precious > "$BATS_TEST_TMPDIR/target"
    before=$(stat -c '%s %Y %a %U' "$BATS_TEST_TMPDIR/target")
    ln -s "$BATS_TEST_TMPDIR/target" "$dir/fusebox.state"
    ln -s "$BATS_TEST_TMPDIR/not-there" "$dir/dangling.state"
    chown -h nobody "$dir/fusebox.state" "$dir/dangling.state"
    write_rules '{"version": 1, "breakers": [{"name": "x", "hosts": ["127.0.0.1"], "fail_max": 1}]}'
    export FUSEBOX_STATE="$dir/fusebox.state"
    runs_unprotected "is a symbolic link"
    # the CLI neither writes through it nor replaces another user's link
    run "$FUSEBOX" open x
    assert_failure
    run "$FUSEBOX" reset --all --recreate
    assert_failure
    assert_output --partial "owned by uid $(id -u nobody)"
    [ "$(cat "$BATS_TEST_TMPDIR/target")" = precious ]
    [ "$(stat -c '%s %Y %a %U' "$BATS_TEST_TMPDIR/target")" = "$before" ]
    [ -L "$dir/fusebox.state" ]
    # a dangling link: its target is not created either
    export FUSEBOX_STATE="$dir/dangling.state"
    runs_unprotected "is a symbolic link"
    [ ! -e "$BATS_TEST_TMPDIR/not-there" ]
    [ -L "$dir/dangling.state" ]
    # and no temporary file is left behind in the shared directory (the
    # compiled rules are this user's own, 0600, made by rename)
    [ "$(ls -A "$dir" | grep -cv "\.state\.rules-$(id -u)-")" -eq 2 ]
    ! find "$dir" -name "*.rules-*" ! -perm 600 | grep .
}

@test "a hard link planted to another file of this user is refused and left unchanged" {
    dir=$(sticky_dir)
    head -c 100 /dev/urandom > "$BATS_TEST_TMPDIR/mine"
    chmod 600 "$BATS_TEST_TMPDIR/mine"
    sum=$(sha256sum < "$BATS_TEST_TMPDIR/mine")
    ln "$BATS_TEST_TMPDIR/mine" "$dir/fusebox.state"
    write_rules '{"version": 1, "breakers": [{"name": "x", "hosts": ["127.0.0.1"], "fail_max": 1}]}'
    export FUSEBOX_STATE="$dir/fusebox.state"
    runs_unprotected "wrong size"
    [ "$(sha256sum < "$BATS_TEST_TMPDIR/mine")" = "$sum" ]
}

@test "another user's state file: the shim passes through with one warning, the CLI neither reads nor changes it" {
    start_server up accept
    write_rules "{\"version\": 1, \"breakers\": [{\"name\": \"x\", \"hosts\": [\"127.0.0.1:$up_PORT\"]}]}"
    "$FUSEBOX" open x >/dev/null
    run shimmed "$TESTCLIENT" connect 127.0.0.1 "$up_PORT"
    assert_output --regexp '^ECONNREFUSED '
    chown nobody "$FUSEBOX_STATE"
    sum=$(sha256sum < "$FUSEBOX_STATE")
    # the breaker in that file is open, yet both connects reach the server
    run --separate-stderr shimmed "$TESTCLIENT" connect 127.0.0.1 "$up_PORT" --count 2
    assert_success
    [ "$(grep -c '^ok ' <<<"$output")" -eq 2 ]
    [ "$stderr" = "fusebox: state file $FUSEBOX_STATE: owned by another user; everything passes through" ]
    server_saw up connections 2
    local c
    for c in status "status --json" events "events --json" metrics "open x" "close x" \
        "disable x" "enable x" "reset x" "reset --all" "reset --all --recreate" fsck; do
        run --separate-stderr "$FUSEBOX" $c
        [ "$status" -eq 1 ] || { echo "fusebox $c: exit $status"; false; }
        # fsck names the problem on stdout; nothing else prints a breaker
        [ -z "$output" ] || [ "$c" = fsck ] || { echo "fusebox $c printed: $output"; false; }
        [[ "$stderr$output" == *"owned by"* ]]
    done
    [ "$(sha256sum < "$FUSEBOX_STATE")" = "$sum" ]
    # the other way round: nobody can neither read nor change root's file
    chown root "$FUSEBOX_STATE"
    make_shared_dir
    cp -p "$FUSEBOX_STATE" "$SECURE_DIR/root.state"
    run as_nobody "$FUSEBOX" status -s "$SECURE_DIR/root.state"
    assert_failure
    assert_output --partial 'Permission denied'
    run as_nobody "$FUSEBOX" reset --all -s "$SECURE_DIR/root.state"
    assert_failure
    assert_output --partial 'Permission denied'
    cmp "$FUSEBOX_STATE" "$SECURE_DIR/root.state"
}

# ---- bad environment values ------------------------------------------------
#
# FUSEBOX_RULES, FUSEBOX_STATE, FUSEBOX_LOG, FUSEBOX_SYSLOG and
# FUSEBOX_DISABLE (every getenv of the shim) get a huge value, bytes that are
# not UTF-8, and an empty value. Through exec a single environment string
# can be at most 128 KiB (the kernel's MAX_ARG_STRLEN; execve fails with
# E2BIG past it), so that is the huge value there; a program can still
# setenv a larger one before its first connect, which the python3 test does
# with 1 MiB. A value cannot hold a NUL: environment strings are C strings,
# so execve and setenv end the value at the first NUL and the shim never
# sees one.
#
# What "rejected cleanly" means for each: a bad FUSEBOX_RULES or
# FUSEBOX_STATE leaves no rules or no state file to use, so the program runs
# exactly as without the shim (same output, same exit status) after one
# `fusebox:` line; a bad FUSEBOX_LOG, FUSEBOX_SYSLOG or FUSEBOX_DISABLE is one
# `fusebox:` line and is ignored, the rules still apply (a typo in a logging
# setting must not switch protection off). Empty is the same as unset: no
# line. Each case runs against a breaker forced open in front of a healthy
# server, so "protected" (3 refused) and "as without the shim" (3 ok) differ.

HUGE_EXEC=$(printf '%*s' 131000 '' | tr ' ' a)

# bad_value_setup: a healthy server behind a forced-open breaker, rules in a
# file, the state file also the default one (XDG_RUNTIME_DIR).
bad_value_setup() {
    start_server up accept
    write_rules "{\"version\": 1, \"breakers\": [{\"name\": \"up\", \"hosts\": [\"127.0.0.1:$up_PORT\"]}]}"
    "$FUSEBOX" open up >/dev/null
    chmod 700 "$BATS_TEST_TMPDIR"
    export XDG_RUNTIME_DIR=$BATS_TEST_TMPDIR
    PLAIN='ok 3 refused 0 other 0'
    PROTECTED='ok 0 refused 3 other 0'
    run "$TORTURE" threads "$up_PORT" 1 3
    assert_output "$PLAIN"
    run shimmed "$TORTURE" threads "$up_PORT" 1 3
    assert_output "$PROTECTED"
}

# with_value VAR VALUE EXPECTED WARNINGS [TEXT]: three connects with VAR=VALUE
# print EXPECTED, exit 0, and stderr has WARNINGS lines, each a `fusebox:`
# line (containing TEXT).
with_value() {
    run --separate-stderr env "$1=$2" LD_PRELOAD="$PRELOAD" "$TORTURE" threads "$up_PORT" 1 3
    assert_success
    assert_output "$3"
    [ "$(grep -c '' <<<"$stderr")" -eq "$4" ] || [ "$4" -eq 0 -a -z "$stderr" ] ||
        { echo "$1: stderr: ${stderr:0:300}"; false; }
    [ "$4" -eq 0 ] || [ "$(grep -c '^fusebox: ' <<<"$stderr")" -eq "$4" ]
    [ -z "${5:-}" ] || [[ "$stderr" == *"$5"* ]]
}

@test "bad FUSEBOX_RULES values: huge, huge JSON, not UTF-8, empty" {
    bad_value_setup
    with_value FUSEBOX_RULES "$HUGE_EXEC" "$PLAIN" 1 "rules not loaded"
    with_value FUSEBOX_RULES "{$HUGE_EXEC" "$PLAIN" 1 "FUSEBOX_RULES:1:3: JSON syntax error"
    with_value FUSEBOX_RULES $'{"version": 1, "breakers": [{"name": "\xff\xfe"}]}' "$PLAIN" 1 "rules not loaded"
    with_value FUSEBOX_RULES $'/\xff\xfe/rules.json' "$PLAIN" 1 "cannot read"
    with_value FUSEBOX_RULES '' "$PLAIN" 0
}

@test "bad FUSEBOX_STATE values: huge, not UTF-8, relative, empty (the default path)" {
    bad_value_setup
    with_value FUSEBOX_STATE "/$HUGE_EXEC" "$PLAIN" 1 "FUSEBOX_STATE must be an absolute path"
    with_value FUSEBOX_STATE $'\xff\xfe' "$PLAIN" 1 "FUSEBOX_STATE must be an absolute path"
    with_value FUSEBOX_STATE $'/\xff\xfe/fusebox.state' "$PLAIN" 1 "No such file or directory"
    with_value FUSEBOX_STATE '' "$PROTECTED" 0
}

@test "bad FUSEBOX_LOG, FUSEBOX_SYSLOG and FUSEBOX_DISABLE values: one warning each, the rules still apply" {
    bad_value_setup
    local var
    for var in FUSEBOX_LOG FUSEBOX_SYSLOG FUSEBOX_DISABLE; do
        with_value "$var" "$HUGE_EXEC" "$PROTECTED" 1 "$var=aaaaaaaa"
        with_value "$var" $'\xff\xfe' "$PROTECTED" 1 "$var="
        with_value "$var" '' "$PROTECTED" 0
    done
}

@test "1 MiB values set inside a program before its first connect (python3 setenv)" {
    bad_value_setup
    local script='
import os, socket, sys
var, kind, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
value = {"huge": b"a" * (1 << 20), "json": b"{" + b"a" * (1 << 20),
         "path": b"/" + b"a" * (1 << 20), "bytes": b"\xff\xfe" * (1 << 19),
         "good": os.environb.get(b"GOOD_RULES", b"")}[kind]
os.environb[var.encode()] = value
results = []
for _ in range(3):
    s = socket.socket()
    try:
        s.connect(("127.0.0.1", port))
        results.append("ok")
    except ConnectionRefusedError:
        results.append("refused")
    s.close()
print(" ".join(results))'
    # control: the shim reads the environment at the first connect, not
    # before, so a value set by the program itself is the one it sees
    run --separate-stderr env -u FUSEBOX_RULES GOOD_RULES="$FUSEBOX_RULES" LD_PRELOAD="$PRELOAD" \
        python3 -c "$script" FUSEBOX_RULES good "$up_PORT"
    assert_success
    assert_output 'refused refused refused'
    [ -z "$stderr" ]
    local kind var expected
    for var in FUSEBOX_RULES FUSEBOX_STATE FUSEBOX_LOG FUSEBOX_SYSLOG FUSEBOX_DISABLE; do
        for kind in huge json path bytes; do
            expected='refused refused refused'
            case $var in FUSEBOX_RULES | FUSEBOX_STATE) expected='ok ok ok' ;; esac
            run --separate-stderr env LD_PRELOAD="$PRELOAD" python3 -c "$script" "$var" "$kind" "$up_PORT"
            [ "$status" -eq 0 ] && [ "$output" = "$expected" ] ||
                { echo "$var $kind: exit $status, output $output, stderr ${stderr:0:300}"; false; }
            [ "$(grep -c '' <<<"$stderr")" -eq 1 ] && [[ "$stderr" == "fusebox: "* ]] ||
                { echo "$var $kind: stderr ${stderr:0:300}"; false; }
            [ "${#stderr}" -lt 512 ]
        done
    done
}

# ---- rules that change underfoot -------------------------------------------

# A python3 program that connects to 127.0.0.1:PORT in a loop until the file
# STOP exists (at most 120 s), then prints "CONNECTS REFUSED".
LOOPER='
import os, socket, sys, time
port, stop = int(sys.argv[1]), sys.argv[2]
made = refused = 0
deadline = time.monotonic() + 120
while not os.path.exists(stop) and time.monotonic() < deadline:
    s = socket.socket()
    try:
        s.connect(("127.0.0.1", port))
    except ConnectionRefusedError:
        refused += 1
    s.close()
    made += 1
print(made, refused)'

@test "a rules file replaced (rename) and rewritten in place while programs run: all take up each whole file, a half-written one keeps the last good rules" {
    start_server dead refuse
    local rules=$BATS_TEST_TMPDIR/rules.json
    rules_named() {
        printf '{"version": 1, "breakers": [{"name": "%s", "hosts": ["127.0.0.1:%s"], "fail_max": 10000}]}\n' \
            "$1" "$dead_PORT"
    }
    rules_named a > "$rules"
    export FUSEBOX_RULES=$rules
    local stop=$BATS_TEST_TMPDIR/stop pids=() p i
    for p in 1 2; do
        env LD_PRELOAD="$PRELOAD" python3 -c "$LOOPER" "$dead_PORT" "$stop" \
            > "$BATS_TEST_TMPDIR/long$p.out" 2> "$BATS_TEST_TMPDIR/long$p.err" 3>&- &
        pids+=("$!")
    done
    # each has loaded rules "a": the state file is mapped only after that
    for p in "${pids[@]}"; do
        wait_for 30 grep -q "$FUSEBOX_STATE" "/proc/$p/maps"
    done
    # 40 changes to rules "b", a new program started at each: odd ones
    # replace the file by rename (the new program must load "b"), even ones
    # rewrite it in place and start the program when half of it is written
    # (it must keep the last good rules, "b", with one warning)
    local text half
    text=$(rules_named b)
    half=$((${#text} / 2))
    for i in $(seq 40); do
        if ((i % 2)); then
            printf '%s\n' "$text" > "$rules.new"
            mv "$rules.new" "$rules"
        else
            printf '%s' "${text:0:half}" > "$rules"
        fi
        env LD_PRELOAD="$PRELOAD" "$TORTURE" threads "$dead_PORT" 1 5 \
            > "$BATS_TEST_TMPDIR/short$i.out" 2> "$BATS_TEST_TMPDIR/short$i.err"
        ((i % 2)) || printf '%s\n' "${text:half}" >> "$rules"
    done
    for p in "${pids[@]}"; do
        kill -0 "$p" # still running through all the changes
    done
    touch "$stop"
    local made=0 n r
    for p in 1 2; do
        wait "${pids[$((p - 1))]}"
        read -r n r < "$BATS_TEST_TMPDIR/long$p.out"
        [ "$n" -gt 0 ] && [ "$n" -eq "$r" ]
        # a running program warns of each half-written version it met, and
        # kept the last good rules meanwhile
        ! grep -v '^fusebox: rules do not compile, the last good rules stay in force: ' \
            "$BATS_TEST_TMPDIR/long$p.err"
        made=$((made + n))
    done
    for i in $(seq 40); do
        [ "$(cat "$BATS_TEST_TMPDIR/short$i.out")" = 'ok 0 refused 5 other 0' ]
        if ((i % 2)); then
            [ ! -s "$BATS_TEST_TMPDIR/short$i.err" ]
        else
            [ "$(grep -c '' "$BATS_TEST_TMPDIR/short$i.err")" -eq 1 ]
            grep -q '^fusebox: rules do not compile, the last good rules stay in force: ' \
                "$BATS_TEST_TMPDIR/short$i.err"
        fi
    done
    # every connect counted once, on "a" until the running programs took up
    # "b"; all 40 new programs counted on "b", whole file or last good rules
    [ "$(breaker_field a calls)" -gt 0 ]
    [ $(($(breaker_field a calls) + $(breaker_field b calls))) -eq $((made + 200)) ]
    # a program started now has rules "b"
    run shimmed "$TORTURE" threads "$dead_PORT" 1 5
    assert_output 'ok 0 refused 5 other 0'
    [ $(($(breaker_field a calls) + $(breaker_field b calls))) -eq $((made + 205)) ]
}
