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
#     is logged), which is shim/runtime.c's getauxval(AT_SECURE) check.
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
    [ "$(server_count up connections)" -eq 2 ]
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
    # and no temporary file is left behind in the shared directory
    [ "$(ls -A "$dir" | wc -l)" -eq 2 ]
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
    [ "$(server_count up connections)" -eq 2 ]
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
