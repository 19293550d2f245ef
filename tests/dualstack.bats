#!/usr/bin/env bats
# One logical call per attempt to reach a name: a program that tries the
# addresses of a dual-stack name in turn makes one call of the breaker. The
# name dual.fusebox.test resolves to ::1 and 127.0.0.1 through an /etc/hosts
# of the test's own, bind-mounted in a private mount namespace (the
# machine's file is never touched).

load common

setup() {
    common_setup
    [ "$(id -u)" -eq 0 ] || skip "needs root: bind-mounts a hosts file in a private mount namespace"
    HOSTS=$BATS_TEST_TMPDIR/hosts
    printf '127.0.0.1 localhost\n::1 localhost\n::1 dual.fusebox.test\n127.0.0.1 dual.fusebox.test\n' >"$HOSTS"
    export HOSTS
    write_rules '{"version": 1, "breakers": [{"name": "dual", "hosts": ["dual.fusebox.test"], "fail_max": 1, "reset_timeout": 60}]}'
}

# with_hosts COMMAND...: runs COMMAND in a private mount namespace whose
# /etc/hosts is $HOSTS.
with_hosts() {
    unshare --mount --propagation private -- bash -c 'mount --bind "$HOSTS" /etc/hosts && exec "$@"' _ "$@"
}

client_wget() { wget --tries=1 -q -O- "http://dual.fusebox.test:$1/"; }
client_python() {
    python3 -c 'import sys, urllib.request
print(urllib.request.urlopen("http://dual.fusebox.test:%s/" % sys.argv[1], timeout=10).status)' "$1"
}
client_node() {
    node -e 'require("http").get("http://dual.fusebox.test:" + process.argv[1] + "/",
        r => { console.log(r.statusCode); process.exit(0); }) // not kept alive for its agent
    .on("error", e => { console.log(e.code); process.exit(3); })' "$1"
}
client_perl() {
    perl -MHTTP::Tiny -e 'my $r = HTTP::Tiny->new(timeout => 10)->get("http://dual.fusebox.test:$ARGV[0]/");
print "$r->{status}\n"; exit($r->{success} ? 0 : 1)' "$1"
}

@test "the name resolves to ::1 first, then 127.0.0.1 (the order the clients try)" {
    run with_hosts python3 -c 'import socket
print(" ".join(a[4][0] for a in socket.getaddrinfo("dual.fusebox.test", 80, type=socket.SOCK_STREAM)))'
    assert_success
    assert_output '::1 127.0.0.1'
}

@test "::1 refuses, 127.0.0.1 answers: wget, python, node and perl succeed; the breaker stays closed with fail_max 1" {
    start_server web http 200 --dual --v6-mode refuse
    local client clients=(python node perl)
    if preloadable wget; then clients+=(wget); fi # not in a sanitizer run where it hangs alone
    for client in "${clients[@]}"; do
        run with_hosts env LD_PRELOAD="$PRELOAD" bash -c "$(declare -f "client_$client"); client_$client $web_PORT"
        assert_success
        [ "$(breaker_field dual state)" = closed ] || { echo "$client opened it" >&2; return 1; }
    done
    [ "$(breaker_field dual failures)" -eq 0 ]
    [ "$(breaker_field dual successes)" -eq "${#clients[@]}" ]
    [ "$(breaker_field dual calls)" -eq "${#clients[@]}" ]
    [ "$(server_count web requests)" -eq "${#clients[@]}" ]
}

@test "both addresses refuse: one failure, not two; the next call is refused at both without a connect" {
    start_server dead refuse --dual
    run with_hosts env LD_PRELOAD="$PRELOAD" bash -c "$(declare -f client_python); client_python $dead_PORT"
    assert_failure
    assert_output --partial 'Connection refused'
    [ "$(breaker_field dual failures)" -eq 1 ]
    [ "$(breaker_field dual state)" = open ]
    local before
    before=$(tcp_connects)
    run with_hosts env LD_PRELOAD="$PRELOAD" bash -c "$(declare -f client_python); client_python $dead_PORT"
    assert_failure
    assert_output --partial 'Connection refused'
    [ "$(tcp_connects)" -eq "$before" ]
    [ "$(breaker_field dual failures)" -eq 1 ]
    [ "$(breaker_field dual rejected)" -eq 2 ] # each address refused at once
}

@test "a program that gives up after the first address: its held failure counts at its exit" {
    start_server web http 200 --dual --v6-mode refuse
    run with_hosts env LD_PRELOAD="$PRELOAD" python3 -c 'import socket, sys
first = socket.getaddrinfo("dual.fusebox.test", int(sys.argv[1]), type=socket.SOCK_STREAM)[0]
s = socket.socket(first[0], first[1])
try:
    s.connect(first[4])
except OSError as e:
    print(e.strerror)' "$web_PORT"
    assert_success
    assert_output 'Connection refused'
    [ "$(breaker_field dual failures)" -eq 1 ]
    [ "$(breaker_field dual state)" = open ]
}
