#!/usr/bin/env bats
# System-wide use with the build tree's shim and command: the system rules
# /etc/fusebox/rules.json, /etc/ld.so.preload (a setuid program included),
# state files shared by the group fusebox, and fusebox systemd-dropin.
#
# Nothing here touches the machine's /etc or /dev/shm: each case that needs
# them runs in a private mount namespace (unshare --mount) where an overlay
# puts a writable layer, in this test's own directory, over /etc, and a tmpfs
# is mounted on /dev/shm. An overlay rather than a bind mount: bind-mounting
# a file over /etc/ld.so.preload needs it to exist, and it usually does not,
# and creating it on the real /etc is what these tests must never do.

load common

setup() {
    common_setup
    [ "$(id -u)" -eq 0 ] || skip "needs root: mount namespaces, setuid copies, groups"
    # not in BATS_TEST_TMPDIR: the overlay's upper layer and the copies that
    # run as nobody need a directory that everyone may enter
    SYSDIR=$(mktemp -d /tmp/fusebox-system.XXXXXX)
    chmod 755 "$SYSDIR"
    mkdir "$SYSDIR/upper" "$SYSDIR/work"
    export SYSDIR
    MADE_GROUP=
}

teardown() {
    common_teardown
    [ -z "${SYSDIR:-}" ] || rm -rf "$SYSDIR"
    [ -z "${MADE_GROUP:-}" ] || groupdel fusebox
}

# in_etc SCRIPT ARGS...: runs bash SCRIPT in a private mount namespace with
# the overlay on /etc and a fresh /dev/shm; SCRIPT may write /etc freely.
in_etc() {
    local script=$1
    shift
    unshare --mount --propagation private -- bash -c '
        set -e
        mount -t overlay fusebox-test \
            -o "lowerdir=/etc,upperdir=$SYSDIR/upper,workdir=$SYSDIR/work" /etc
        mount -t tmpfs fusebox-test /dev/shm
        '"$script" _ "$@"
}

# system_rules MODE OWNER PORT: SCRIPT text that writes /etc/fusebox/rules.json
# (one breaker "sys", fail_max 1, for 127.0.0.1:PORT) with that mode and owner.
system_rules() {
    printf 'mkdir -p /etc/fusebox
printf %s > /etc/fusebox/rules.json
chown %s /etc/fusebox/rules.json
chmod %s /etc/fusebox/rules.json
' "'{\"version\": 1, \"breakers\": [{\"name\": \"sys\", \"hosts\": [\"127.0.0.1:$3\"], \"fail_max\": 1}]}'" "$2" "$1"
}

@test "with FUSEBOX_RULES unset the shim uses /etc/fusebox/rules.json; FUSEBOX_RULES still wins" {
    start_server dead refuse
    before=$(tcp_connects)
    run --separate-stderr in_etc "$(system_rules 0644 root:root "$dead_PORT")"'
        LD_PRELOAD=$1 "$2" connect 127.0.0.1 "$3" --count 3
        FUSEBOX_RULES="{\"version\": 1, \"breakers\": []}" LD_PRELOAD=$1 "$2" connect 127.0.0.1 "$3" --count 2
    ' "$PRELOAD" "$TESTCLIENT" "$dead_PORT"
    assert_success
    [ -z "$stderr" ]
    # 1 refused by the server, then 2 rejected; then 2 more that FUSEBOX_RULES
    # left unruled, so the kernel saw 3 connects
    [ "$(breaker_field sys failures)" -eq 1 ]
    [ "$(breaker_field sys rejected)" -eq 2 ]
    [ $(($(tcp_connects) - before)) -eq 3 ]
    # the real /etc was never written
    ! grep -qs '"sys"' /etc/fusebox/rules.json
}

@test "the system rules file is used only when root owns it and neither group nor others may write it" {
    start_server dead refuse
    before=$(tcp_connects)
    for how in "0666 root:root writable by group or others" "0664 root:root writable by group or others" \
        "0644 nobody:root not owned by root"; do
        read -r mode owner why <<<"$how"
        run --separate-stderr in_etc "$(system_rules "$mode" "$owner" "$dead_PORT")"'
            LD_PRELOAD=$1 "$2" connect 127.0.0.1 "$3" --count 2
        ' "$PRELOAD" "$TESTCLIENT" "$dead_PORT"
        assert_success
        # both connects reached the server, with one warning that says why
        [ "$(grep -c ECONNREFUSED <<<"$output")" -eq 2 ]
        [ "$(grep -c '^fusebox: ' <<<"$stderr")" -eq 1 ]
        [[ "$stderr" == *"/etc/fusebox/rules.json: cannot read: $why"* ]]
    done
    [ $(($(tcp_connects) - before)) -eq 6 ]
    [ "$(breaker_field sys calls)" = absent ]
}

@test "/etc/ld.so.preload and the system rules protect every program, with no variable set" {
    start_server dead refuse
    before=$(tcp_connects)
    run --separate-stderr in_etc "$(system_rules 0644 root:root "$dead_PORT")"'
        echo "$1" | tr : " " > /etc/ld.so.preload
        unset LD_PRELOAD
        # a script that starts the program: both load the shim
        sh -c "\"$2\" connect 127.0.0.1 $3 --count 3"
    ' "$PRELOAD" "$TESTCLIENT" "$dead_PORT"
    assert_success
    [ -z "$stderr" ]
    [ "$(breaker_field sys failures)" -eq 1 ]
    [ "$(breaker_field sys rejected)" -eq 2 ]
    [ $(($(tcp_connects) - before)) -eq 1 ]
    [ ! -e /etc/ld.so.preload ]
}

@test "a setuid program under /etc/ld.so.preload follows the system rules and ignores every FUSEBOX_*" {
    [ -z "$PRELOAD_BEFORE_SHIM" ] || skip "a sanitizer runtime cannot be preloaded into a setuid program"
    start_server dead refuse
    before=$(tcp_connects)
    install -m 4755 -o nobody "$TESTCLIENT" "$SYSDIR/setuid"
    install -m 0755 "$FUSEBOX" "$SYSDIR/fusebox"
    run --separate-stderr in_etc "$(system_rules 0644 root:root "$dead_PORT")"'
        echo "$1" > /etc/ld.so.preload
        export FUSEBOX_RULES="{\"version\": 1, \"breakers\": []}" FUSEBOX_DISABLE=1 FUSEBOX_LOG=debug
        export FUSEBOX_STATE=$SYSDIR/ignored.state XDG_RUNTIME_DIR=$SYSDIR
        unset LD_PRELOAD
        "$SYSDIR/setuid" connect 127.0.0.1 "$2" --count 3 --loading
        # euid nobody: its state went to nobody'"'"'s default file
        ls /dev/shm
        setpriv --reuid=nobody --regid=nogroup --clear-groups -- env -u FUSEBOX_STATE \
            -u XDG_RUNTIME_DIR "$SYSDIR/fusebox" status --json
    ' "$SHIM" "$dead_PORT"
    assert_success
    [ -z "$stderr" ]
    assert_line 'at_secure 1'
    assert_line 'libfusebox mapped'
    assert_line "fusebox-$(id -u nobody).state"
    assert_line --partial '"name": "sys", "state": "open", "consecutive_failures": 1, "calls": 3, "successes": 0, "failures": 1, "rejected": 2'
    [ ! -e "$SYSDIR/ignored.state" ] && [ ! -e "$SYSDIR/fusebox.state" ]
    [ $(($(tcp_connects) - before)) -eq 1 ]
}

# fusebox_group: makes the group fusebox unless it exists (the package's);
# teardown removes one made here.
fusebox_group() {
    if ! getent group fusebox >/dev/null; then
        groupadd --system fusebox
        MADE_GROUP=1
    fi
}

# as_member COMMAND...: runs COMMAND as nobody, with fusebox as its only
# supplementary group.
as_member() {
    setpriv --reuid=nobody --regid=nogroup --groups=fusebox -- "$@"
}

@test "a state file of group fusebox and mode 0660 is shared by the group; other group-writable files are refused" {
    fusebox_group
    start_server dead refuse
    before=$(tcp_connects)
    mkdir -m 2770 "$SYSDIR/shared"
    chgrp fusebox "$SYSDIR/shared"
    echo '{"version": 1, "breakers": [{"name": "shared", "hosts": ["127.0.0.1"], "fail_max": 1}]}' \
        > "$SYSDIR/rules.json"
    chmod 644 "$SYSDIR/rules.json"
    export FUSEBOX_RULES=$SYSDIR/rules.json FUSEBOX_STATE=$SYSDIR/shared/state
    # made by a member's program in the set-group-ID directory: 0660, the group's
    as_member env LD_PRELOAD="$PRELOAD" "$TESTCLIENT" connect 127.0.0.1 "$dead_PORT" --count 2
    [ "$(stat -c '%a %U %G' "$FUSEBOX_STATE")" = "660 nobody fusebox" ]
    # root, who owns no part of it, uses it: the breaker nobody opened rejects
    run --separate-stderr shimmed "$TESTCLIENT" connect 127.0.0.1 "$dead_PORT"
    assert_success
    [ -z "$stderr" ]
    [ "$(breaker_field shared rejected)" -eq 2 ]
    [ $(($(tcp_connects) - before)) -eq 1 ]
    run "$FUSEBOX" fsck
    assert_success
    # the same file with another group, or with mode 0664, is refused
    chgrp nogroup "$FUSEBOX_STATE"
    runs_unprotected "writable by group or others (a shared file's group must be fusebox)"
    chgrp fusebox "$FUSEBOX_STATE"
    chmod 0664 "$FUSEBOX_STATE"
    runs_unprotected "state file $FUSEBOX_STATE: writable by group or others; everything"
    run "$FUSEBOX" fsck
    assert_failure
    assert_output --partial "has mode 0664: writable by group or others"
    # outside such a directory a new file is private as ever
    install -d -o nobody "$SYSDIR/own"
    export FUSEBOX_STATE=$SYSDIR/own/private.state
    as_member env LD_PRELOAD="$PRELOAD" "$TESTCLIENT" connect 127.0.0.1 "$dead_PORT"
    [ "$(stat -c '%a %U' "$FUSEBOX_STATE")" = "600 nobody" ]
}

@test "fusebox systemd-dropin prints a drop-in that systemd-analyze verify reads without a complaint" {
    command -v systemd-analyze >/dev/null || skip "systemd-analyze is missing (scripts/install-deps.sh installs systemd)"
    units=$BATS_TEST_TMPDIR/units
    mkdir -p "$units/fbtest.service.d"
    printf '[Unit]\nDescription=fusebox test\n[Service]\nExecStart=/bin/true\n' > "$units/fbtest.service"
    # a rules path with a space, a quote, a backslash and a % to quote
    rules="$BATS_TEST_TMPDIR/100% \"sure\" \\ rules.json"
    echo '{"version": 1, "breakers": []}' > "$rules"
    run "$FUSEBOX" systemd-dropin fbtest -r "$rules" -s state/shared
    assert_success
    printf '%s\n' "$output" > "$units/fbtest.service.d/fusebox.conf"
    assert_line "Environment=\"LD_PRELOAD=$(realpath "$SHIM")\""
    assert_line "Environment=\"FUSEBOX_RULES=${BATS_TEST_TMPDIR}/100%% \\\"sure\\\" \\\\ rules.json\""
    assert_line "Environment=\"FUSEBOX_STATE=$PWD/state/shared\""
    refute_line --partial SupplementaryGroups
    run env SYSTEMD_UNIT_PATH="$units:" systemd-analyze verify "$units/fbtest.service"
    assert_success
    assert_output ''
    # verify does read the drop-in: a bad line in it is reported
    echo 'Environment="UNCLOSED' >> "$units/fbtest.service.d/fusebox.conf"
    run env SYSTEMD_UNIT_PATH="$units:" systemd-analyze verify "$units/fbtest.service"
    assert_output --partial 'fusebox.conf:'
    # not a service, or not a unit name at all
    run "$FUSEBOX" systemd-dropin fbtest.socket
    [ "$status" -eq 1 ]
    run "$FUSEBOX" systemd-dropin 'a b'
    [ "$status" -eq 1 ]
    run "$FUSEBOX" systemd-dropin
    [ "$status" -eq 2 ]
}
