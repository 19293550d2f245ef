#!/usr/bin/env bats
# fusebox fsck / status --verify and reset --all --recreate: every kind of
# broken state file is named, the shim passes everything through with one
# warning, and --recreate makes the shim work again.

load common

RULE='{"version": 1, "breakers": [{"name": "x", "hosts": ["127.0.0.1"], "fail_max": 1}]}'

setup() {
    common_setup
    write_rules "$RULE"
}


# fsck_says TEXT: fusebox fsck and status --verify exit 1 and name TEXT.
fsck_says() {
    run "$FUSEBOX" fsck
    [ "$status" -eq 1 ]
    assert_output --partial "$1"
    run "$FUSEBOX" status --verify
    [ "$status" -eq 1 ]
    assert_output --partial "$1"
}

# recreate_repairs: reset --all --recreate makes a fresh private file, fsck
# says ok, and the shim protects again (the second connect is rejected).
recreate_repairs() {
    run "$FUSEBOX" reset --all --recreate
    assert_success
    [ -f "$FUSEBOX_STATE" ] && [ ! -L "$FUSEBOX_STATE" ]
    [ "$(stat -c '%a %u' "$FUSEBOX_STATE")" = "600 $(id -u)" ]
    run "$FUSEBOX" fsck
    assert_success
    assert_output "ok: 0 breakers, 0 events"
    shimmed "$TESTCLIENT" connect 127.0.0.1 "$dead_PORT" --count 2
    [ "$(breaker_field x state)" = open ]
    [ "$(breaker_field x rejected)" = 1 ]
    run "$FUSEBOX" fsck
    assert_success
    assert_output "ok: 1 breaker, 1 event"
}

# make_state: a healthy state file with breaker x in it.
make_state() {
    "$FUSEBOX" open x >/dev/null
    "$FUSEBOX" close x >/dev/null
}

# poke_slot NAME OFFSET FORMAT VALUE: writes VALUE (struct FORMAT) at OFFSET
# into the slot named NAME.
poke_slot() {
    python3 - "$FUSEBOX_STATE" "$@" <<'PY'
import struct, sys
path, name, offset, fmt, value = sys.argv[1], sys.argv[2].encode(), int(sys.argv[3]), sys.argv[4], int(sys.argv[5])
with open(path, "r+b") as f:
    data = f.read()
    for i in range(4096):
        base = 4096 + i * 512
        if data[base + 16:base + 16 + 128].rstrip(b"\0") == name:
            f.seek(base + offset)
            f.write(struct.pack(fmt, value))
            break
    else:
        sys.exit("no slot " + sys.argv[2])
PY
}

@test "a healthy file: fsck and status --verify say ok with the counts" {
    make_state
    run "$FUSEBOX" fsck
    assert_success
    assert_output "ok: 1 breaker, 2 events"
    run "$FUSEBOX" status --verify
    assert_success
    assert_output "ok: 1 breaker, 2 events"
    run "$FUSEBOX" fsck -s "$BATS_TEST_TMPDIR/absent.state"
    [ "$status" -eq 1 ]
    assert_output --partial "No such file"
}

@test "a truncated file" {
    make_state
    truncate -s 100000 "$FUSEBOX_STATE"
    runs_unprotected "wrong size"
    fsck_says "file is 100000 bytes, its header says 2166784"
    recreate_repairs
}

@test "a file shorter than the header" {
    printf 'FUSEBOX\0' > "$FUSEBOX_STATE"
    chmod 600 "$FUSEBOX_STATE"
    runs_unprotected "wrong size"
    fsck_says "file is 8 bytes, shorter than the 4096-byte header"
    recreate_repairs
}

@test "random bytes" {
    head -c 2166784 /dev/urandom > "$FUSEBOX_STATE"
    chmod 600 "$FUSEBOX_STATE"
    runs_unprotected "not a fusebox state file"
    fsck_says 'no magic "FUSEBOX"'
    recreate_repairs
}

@test "a wrong layout version" {
    make_state
    printf '\x63' | dd of="$FUSEBOX_STATE" bs=1 seek=8 conv=notrunc status=none
    runs_unprotected "not a fusebox state file of this layout version"
    fsck_says "header: layout version is 99, this fusebox reads 2"
    recreate_repairs
}

@test "a slot with an impossible state: fsck names it, the breaker lets calls through with a warning" {
    make_state
    poke_slot x 144 '<Q' 7
    start_server dead refuse
    run --separate-stderr shimmed "$TESTCLIENT" connect 127.0.0.1 "$dead_PORT" --count 2
    [ "$(grep -c ECONNREFUSED <<<"$output")" -eq 2 ]
    [ "$(grep -c "^fusebox: .*breaker 'x' is in an impossible state" <<<"$stderr")" -eq 1 ]
    fsck_says "'x': state word has impossible state 7"
    recreate_repairs
}

@test "slot damage: a wrong key, probe fields outside half-open, garbage counters" {
    make_state
    poke_slot x 0 '<Q' 12345
    fsck_says "'x': key 0x3039 is not the hash of the name"
    "$FUSEBOX" reset --all --recreate
    make_state
    poke_slot x 144 '<Q' $((5 << 11))
    fsck_says "'x': state closed with 5 probes in flight"
    poke_slot x 144 '<Q' 0
    poke_slot x 168 '<Q' $((1 << 60))
    fsck_says "'x': failures counter 1152921504606846976 is implausible"
}

@test "a file owned by another user" {
    [ "$(id -u)" -eq 0 ] || skip "needs root to chown"
    make_state
    chown 65534:65534 "$FUSEBOX_STATE"
    runs_unprotected "owned by another user"
    fsck_says "is owned by uid 65534, not by this user"
    run "$FUSEBOX" reset --all --recreate
    [ "$status" -eq 1 ]
    assert_output --partial "owned by uid 65534, not by this user; not replacing it"
    rm -f "$FUSEBOX_STATE"
    recreate_repairs
}

@test "mode 0666" {
    make_state
    chmod 666 "$FUSEBOX_STATE"
    runs_unprotected "writable by group or others"
    fsck_says "has mode 0666: writable by group or others"
    recreate_repairs
}

@test "a symlink: never followed, and --recreate replaces the link, not its target" {
    echo precious > "$BATS_TEST_TMPDIR/target"
    ln -s "$BATS_TEST_TMPDIR/target" "$FUSEBOX_STATE"
    runs_unprotected "is a symbolic link"
    fsck_says "is a symbolic link (never followed), not a regular file"
    recreate_repairs
    [ "$(cat "$BATS_TEST_TMPDIR/target")" = precious ]
}

@test "a directory: --recreate refuses it" {
    mkdir "$FUSEBOX_STATE"
    runs_unprotected "state file $FUSEBOX_STATE"
    fsck_says "is a directory, not a regular file"
    run "$FUSEBOX" reset --all --recreate
    [ "$status" -eq 1 ]
    assert_output --partial "is a directory; not replacing it"
    [ -d "$FUSEBOX_STATE" ]
}

@test "a FIFO: nothing blocks on it" {
    mkfifo -m 600 "$FUSEBOX_STATE"
    runs_unprotected "not a regular file"
    run timeout 10 "$FUSEBOX" fsck
    [ "$status" -eq 1 ]
    assert_output --partial "is a FIFO, not a regular file"
    recreate_repairs
}

@test "reset --recreate goes with --all" {
    run "$FUSEBOX" reset --recreate x
    [ "$status" -eq 2 ]
}

@test "a full slot table: new breakers pass through with one warning, fsck still ok" {
    python3 -c '
import json
hosts = [["127.1.%d.%d" % (i // 256, i % 256)] for i in range(4100)]
print(json.dumps({"version": 1, "breakers": [{"name": "b%d" % i, "hosts": h} for i, h in enumerate(hosts)]}))' \
        > "$BATS_TEST_TMPDIR/rules.json"
    run --separate-stderr shimmed python3 -c '
import socket
refused = 0
for i in range(4100):
    s = socket.socket()
    try:
        s.connect(("127.1.%d.%d" % (i // 256, i % 256), 9))
    except ConnectionRefusedError:
        refused += 1
    s.close()
print(refused)'
    assert_success
    assert_output 4100
    [ "$(grep -c '^fusebox: ' <<<"$stderr")" -eq 1 ]
    [[ "$stderr" == *"has no free slot; breaker 'b"*"' and later new ones pass through"* ]]
    run "$FUSEBOX" fsck
    assert_success
    assert_output "ok: 4096 breakers, 0 events"
}
