#!/usr/bin/env bats
# The Debian package, as root: make deb (twice, and an older version), the
# package's contents and lintian, dpkg -i over the older one with an edited
# rules conffile, the installed fusebox run, the man pages, a program of
# another user in root's fusebox status --all, the shared /run/fusebox/state,
# and dpkg -r / dpkg -P leaving nothing behind. The tests run in order and
# share the installed package; teardown_file purges it and removes the users
# made here, so later suites find the machine as it was.

load common

setup_file() {
    # (bats 1.8 cannot skip in setup_file: setup skips every test instead)
    export PACKAGE_SKIP=
    [ "$(id -u)" -eq 0 ] || PACKAGE_SKIP="needs root: dpkg -i, users, /run/fusebox"
    # The package is built without sanitizers; the plain run tests it.
    [ -z "${SANITIZE:-}" ] || PACKAGE_SKIP="the package is built without sanitizers: the plain run tests it"
    [ -z "$PACKAGE_SKIP" ] || return 0
    if dpkg-query -W -f='${Status}' fusebox 2>/dev/null | grep -q 'ok installed'; then
        echo "# a fusebox package is installed on this machine: purge it before this suite" >&3
        return 1
    fi
    export ROOT=$BATS_TEST_DIRNAME/..
    export DEBS=$BATS_FILE_TMPDIR/debs USERS_MADE=$BATS_FILE_TMPDIR/users
    mkdir -p "$DEBS"
    : > "$USERS_MADE"
    export ARCH=$(dpkg --print-architecture) MULTIARCH=$(dpkg-architecture -qDEB_HOST_MULTIARCH)
    export VERSION=$(awk '$1 == "VERSION" { print $3 }' "$ROOT/Makefile")
    # this version, an older one (which rebuilds every object), this one again
    local log=$BATS_FILE_TMPDIR/make.log
    { make -C "$ROOT" --no-print-directory deb &&
        cp "$ROOT/build/deb/fusebox_${VERSION}_$ARCH.deb" "$DEBS/first.deb" &&
        make -C "$ROOT" --no-print-directory deb VERSION=0.0.1 &&
        mv "$ROOT/build/deb/fusebox_0.0.1_$ARCH.deb" "$DEBS/old.deb" &&
        make -C "$ROOT" --no-print-directory deb &&
        cp "$ROOT/build/deb/fusebox_${VERSION}_$ARCH.deb" "$DEBS/new.deb"; } > "$log" 2>&1 ||
        { sed 's/^/# /' "$log" >&3; return 1; }
    dpkg-deb -c "$DEBS/new.deb" | awk '{ print substr($6, 2) }' > "$DEBS/contents"
}

teardown_file() {
    [ -z "$PACKAGE_SKIP" ] || return 0
    dpkg -P fusebox >/dev/null 2>&1 || true
    local user
    while read -r user; do
        rm -f "/dev/shm/fusebox-$(id -u "$user" 2>/dev/null).state"
        userdel "$user" 2>/dev/null || true
    done < "${USERS_MADE:-/dev/null}"
    # a group the purge kept (because of a member made here) goes too
    ! getent group fusebox >/dev/null || [ -n "$(getent group fusebox | cut -d: -f4)" ] ||
        groupdel fusebox 2>/dev/null || true
}

setup() {
    [ -z "$PACKAGE_SKIP" ] || skip "$PACKAGE_SKIP"
    common_setup
    # the users made here must reach the helpers and rules these tests use
    WORLD=$(mktemp -d /tmp/fusebox-package.XXXXXX)
    chmod 755 "$WORLD"
}

teardown() {
    common_teardown
    rm -rf "$WORLD"
}

# make_user: makes a system user of its own for this suite; prints its name.
make_user() {
    local user=fbtest$$x$RANDOM
    useradd --system --no-create-home --shell /usr/sbin/nologin "$user"
    echo "$user" >> "$USERS_MADE"
    echo "$user"
}

@test "make deb builds the same package twice; lintian reports no error and no warning" {
    [ "$(sha256sum < "$DEBS/first.deb")" = "$(sha256sum < "$DEBS/new.deb")" ]
    run lintian "$DEBS/new.deb"
    assert_success
    refute_line --regexp '^[EW]: '
    echo "# package: $(stat -c %s "$DEBS/new.deb") bytes" >&3
}

@test "the package holds the command, the shim, the man pages, completion, examples and units; Depends from dpkg-shlibdeps" {
    for path in /usr/bin/fusebox "/usr/lib/$MULTIARCH/fusebox/libfusebox.so" \
        /usr/share/man/man1/fusebox.1.gz /usr/share/man/man5/fusebox-rules.5.gz \
        /usr/share/bash-completion/completions/fusebox /usr/share/doc/fusebox/examples/example.json \
        /usr/share/doc/fusebox/examples/Dockerfile /lib/systemd/system/fusebox-sync@.service \
        /usr/lib/tmpfiles.d/fusebox.conf /etc/fusebox/rules.json /usr/share/doc/fusebox/copyright; do
        grep -qx "$path" "$DEBS/contents" || { echo "missing: $path"; return 1; }
    done
    [ "$(dpkg-deb -f "$DEBS/new.deb" Version)" = "$VERSION" ]
    run dpkg-deb -f "$DEBS/new.deb" Depends
    assert_output --regexp '^libc6 \(>= [0-9.]+\), libhiredis[0-9.]+ \(>= [^)]+\), libmicrohttpd[0-9]+ \(>= [^)]+\), libcjson1, adduser$'
    run dpkg-deb -I "$DEBS/new.deb" conffiles
    assert_output /etc/fusebox/rules.json
}

@test "dpkg -i over an older package: the edited rules conffile survives the upgrade" {
    run dpkg -i "$DEBS/old.deb" </dev/null
    assert_success
    [ "$(fusebox --version)" = "fusebox 0.0.1" ]
    # the shipped rules rule nothing (a name under .invalid)
    run fusebox check /etc/fusebox/rules.json
    assert_success
    assert_output --partial '1 breaker'
    printf '{"version": 1, "breakers": [{"name": "edited", "hosts": ["127.0.0.1:1"]}]}\n' \
        > /etc/fusebox/rules.json
    run dpkg -i "$DEBS/new.deb" </dev/null
    assert_success
    [ "$(fusebox --version)" = "fusebox $VERSION" ]
    grep -q '"edited"' /etc/fusebox/rules.json
    [ "$(dpkg-query -W -f='${Version}' fusebox)" = "$VERSION" ]
    # the group and the shared state the package makes
    getent group fusebox
    [ "$(stat -c '%a %U %G' /run/fusebox)" = "2770 root fusebox" ]
    [ "$(stat -c '%a %U %G' /run/fusebox/state)" = "660 root fusebox" ]
    run fusebox fsck -s /run/fusebox/state
    assert_success
}

@test "the installed fusebox run protects a program, started from another directory, with no shim path and no rules given" {
    start_server dead refuse
    before=$(tcp_connects)
    printf '{"version": 1, "breakers": [{"name": "sys", "hosts": ["127.0.0.1:%s"], "fail_max": 1}]}\n' \
        "$dead_PORT" > /etc/fusebox/rules.json
    cd "$WORLD"
    run --separate-stderr env -u LD_PRELOAD fusebox run -- "$TESTCLIENT" connect 127.0.0.1 "$dead_PORT" --count 3 --loading
    assert_success
    [ -z "$stderr" ]
    assert_line 'libfusebox mapped'
    [ "$(breaker_field sys rejected)" -eq 2 ]
    [ $(($(tcp_connects) - before)) -eq 1 ]
    run env -u LD_PRELOAD fusebox run -- sh -c 'echo "$LD_PRELOAD ${FUSEBOX_RULES-unset}"'
    assert_output "/usr/lib/$MULTIARCH/fusebox/libfusebox.so unset"
}

@test "man -w finds fusebox(1) and fusebox-rules(5); man renders both without a warning" {
    [ "$(man -w fusebox)" = /usr/share/man/man1/fusebox.1.gz ]
    [ "$(man -w 5 fusebox-rules)" = /usr/share/man/man5/fusebox-rules.5.gz ]
    for page in fusebox fusebox-rules; do
        run --separate-stderr env LC_ALL=C.UTF-8 MANROFFSEQ='' MANWIDTH=80 man --warnings -E UTF-8 -Tutf8 "$page"
        assert_success
        [ -z "$stderr" ]
    done
    # every command is in fusebox(1)
    text=$(MANWIDTH=200 man fusebox 2>/dev/null)
    for c in run status events metrics open close disable enable reset explain check fsck serve sync systemd-dropin; do
        grep -q "fusebox $c" <<<"$text" || { echo "fusebox(1) lacks $c"; return 1; }
    done
}

@test "a program run as another user is seen, with its owner, in root's fusebox status --all" {
    user=$(make_user)
    uid=$(id -u "$user")
    start_server dead refuse
    printf '{"version": 1, "breakers": [{"name": "theirs", "hosts": ["127.0.0.1:%s"], "fail_max": 1}]}\n' \
        "$dead_PORT" > "$WORLD/rules.json"
    chmod 644 "$WORLD/rules.json"
    install -m 0755 "$TESTCLIENT" "$WORLD/testclient"
    # the user's own default state file: /dev/shm/fusebox-UID.state
    setpriv --reuid="$user" --regid=nogroup --clear-groups -- env -u FUSEBOX_STATE -u XDG_RUNTIME_DIR \
        -u LD_PRELOAD fusebox run -r "$WORLD/rules.json" -- "$WORLD/testclient" connect 127.0.0.1 "$dead_PORT" --count 2
    [ "$(stat -c %U "/dev/shm/fusebox-$uid.state")" = "$user" ]
    run fusebox status --all
    assert_success
    assert_line "state file: /dev/shm/fusebox-$uid.state  (owner $user, uid $uid)"
    assert_line --regexp '^theirs +open +1/1 +2 +0 +1 +1 '
    assert_line "state file: /run/fusebox/state  (owner root, uid 0, shared by group fusebox)"
    run fusebox status --all --json
    assert_success
    python3 -c '
import json, sys
doc = json.loads(sys.argv[1])
mine = [f for f in doc["state_files"] if f["uid"] == int(sys.argv[2])]
assert len(mine) == 1 and mine[0]["owner"] == sys.argv[3], mine
assert [b["rejected"] for b in mine[0]["breakers"] if b["name"] == "theirs"] == [1], mine' "$output" "$uid" "$user"
    # the user's own status --all shows their file, not root'"'"'s files
    run setpriv --reuid="$user" --regid=nogroup --clear-groups -- env -u FUSEBOX_STATE fusebox status --all
    assert_line "state file: /dev/shm/fusebox-$uid.state  (owner $user, uid $uid)"
    refute_line --partial /run/fusebox/state
}

@test "services of two users share /run/fusebox/state through the group fusebox; the first program remakes it" {
    one=$(make_user)
    two=$(make_user)
    start_server dead refuse
    before=$(tcp_connects)
    printf '{"version": 1, "breakers": [{"name": "mirror", "hosts": ["127.0.0.1:%s"], "fail_max": 2}]}\n' \
        "$dead_PORT" > "$WORLD/rules.json"
    chmod 644 "$WORLD/rules.json"
    install -m 0755 "$TESTCLIENT" "$WORLD/testclient"
    rm /run/fusebox/state
    as() {
        setpriv --reuid="$1" --regid=nogroup --groups=fusebox -- env -u LD_PRELOAD \
            FUSEBOX_STATE=/run/fusebox/state fusebox run -r "$WORLD/rules.json" -- \
            "$WORLD/testclient" connect 127.0.0.1 "$dead_PORT" --count "$2"
    }
    as "$one" 2
    [ "$(stat -c '%a %U %G' /run/fusebox/state)" = "660 $one fusebox" ]
    as "$two" 1
    [ $(($(tcp_connects) - before)) -eq 2 ]
    run fusebox status --all
    assert_line "state file: /run/fusebox/state  (owner $one, uid $(id -u "$one"), shared by group fusebox)"
    assert_line --regexp '^mirror +open +2/2 +3 +0 +2 +1 '
    run fusebox status -s /run/fusebox/state --json
    assert_output --partial '"name": "mirror", "state": "open"'
}

@test "dpkg -r leaves only the conffile; dpkg -P leaves nothing, the group fusebox included" {
    run dpkg -r fusebox
    assert_success
    while read -r path; do
        [ -d "$path" ] && continue # shared directories such as /usr/bin
        [ "$path" = /etc/fusebox/rules.json ] && continue
        [ ! -e "$path" ] || { echo "left after remove: $path"; return 1; }
    done < "$DEBS/contents"
    [ -f /etc/fusebox/rules.json ]
    [ ! -e /run/fusebox ]
    [ ! -e "/usr/lib/$MULTIARCH/fusebox" ] && [ ! -e /usr/share/doc/fusebox ]
    run dpkg -P fusebox
    assert_success
    [ ! -e /etc/fusebox ]
    ! getent group fusebox
    run dpkg-query -W -f='${Status}' fusebox
    refute_output --partial installed
    # and the machine has no fusebox command any more
    ! command -v fusebox
}
