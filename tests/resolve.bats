#!/usr/bin/env bats
# Name resolution: getaddrinfo and the gethostbyname family record names the
# same way; "fail_dns": true makes the lookups themselves fail while open.

load common

# Trips breaker "api" (hosts localhost:PORT of a refused server) and prints
# nothing; $1 adds policy keys.
trip_by_name() {
    start_server dead refuse
    write_rules "{\"version\": 1, \"breakers\": [{\"name\": \"api\", \"hosts\": [\"localhost:$dead_PORT\", \"localhost\"], \"fail_max\": 1${1:+, $1}}]}"
    shimmed python3 -c 'import socket, sys
try:
    socket.create_connection(("localhost", int(sys.argv[1])))
except OSError:
    pass' "$dead_PORT"
    [ "$(breaker_field api state)" = open ]
}

@test "every resolver API records names: perl's gethostbyname, then a connect by address is matched by name" {
    start_server dead refuse
    write_rules "{\"version\": 1, \"breakers\": [{\"name\": \"api\", \"hosts\": [\"localhost:$dead_PORT\"], \"fail_max\": 1}]}"
    run shimmed perl -MSocket -e '
        my $addr = gethostbyname("localhost") or die "no address";
        socket(my $s, PF_INET, SOCK_STREAM, 0) or die;
        connect($s, sockaddr_in($ARGV[0], $addr)) or print "refused\n";
        socket(my $t, PF_INET, SOCK_STREAM, 0) or die;
        connect($t, sockaddr_in($ARGV[0], $addr)) or print "refused\n";' "$dead_PORT"
    [ "$(grep -c refused <<<"$output")" -eq 2 ]
    [ "$(breaker_field api failures)" -eq 1 ]
    [ "$(breaker_field api rejected)" -eq 1 ]
}

@test "fail_dns: while open, getaddrinfo of the name fails at once with EAI_SYSTEM/ECONNREFUSED" {
    trip_by_name '"fail_dns": true'
    # Python turns EAI_SYSTEM into the OSError of errno.
    run shimmed python3 -c 'import socket, sys
try:
    socket.getaddrinfo("localhost", int(sys.argv[1]))
    print("resolved")
except OSError as e:
    print(type(e).__name__)' "$dead_PORT"
    assert_output 'ConnectionRefusedError'
    run shimmed python3 -c 'import socket
print(socket.getaddrinfo("127.0.0.1", 80)[0][4][0])'
    assert_output '127.0.0.1'
    [ "$(breaker_field api rejected)" -eq 1 ]
}

@test "fail_dns: gethostbyname fails with TRY_AGAIN while open; other names still resolve" {
    trip_by_name '"fail_dns": true'
    run shimmed perl -e 'print defined(gethostbyname("localhost")) ? "resolved\n" : "failed $?\n"'
    assert_output --regexp '^failed'
    run shimmed perl -e 'print defined(gethostbyname("127.0.0.1")) ? "resolved\n" : "failed\n"'
    assert_output 'resolved'
}

@test "without fail_dns an open breaker leaves name lookups alone" {
    trip_by_name
    run shimmed python3 -c 'import socket
print(socket.getaddrinfo("localhost", 80)[0][4][0])'
    assert_output --regexp '^(127\.0\.0\.1|::1)$'
    [ "$(breaker_field api rejected)" -eq 0 ]
}

@test "fail_dns must be true or false" {
    write_rules '{"version": 1, "breakers": [{"name": "x", "hosts": ["a.test"], "fail_dns": "yes"}]}'
    run "$FUSEBOX" check "$FUSEBOX_RULES"
    [ "$status" -eq 1 ]
    assert_output --regexp ':1:[0-9]+: breakers\[0\]\.fail_dns: must be true or false$'
}
