#!/usr/bin/env bats
# Fleet mode through Redis Sentinel, and an agent that follows its rules.
# Each test that needs Sentinel starts its own: a primary, a replica and
# three sentinels (redis-server --sentinel), each with a config file in
# $BATS_TEST_TMPDIR, on loopback ports, without persistence. Hosts are state
# files with their own agent, as in fleet.bats; their programs are
# testclient (so that the suite runs under the sanitizers too), and the
# servers they call refuse.

load common

MASTER=mymaster

setup() {
    common_setup
    command -v redis-server >/dev/null ||
        skip "redis-server is not installed (scripts/install-deps.sh installs it)"
    read -r PRIMARY_PORT REPLICA_PORT S1_PORT S2_PORT S3_PORT < <(python3 -c '
import socket
socks = [socket.socket() for _ in range(5)]
for s in socks: s.bind(("127.0.0.1", 0))
print(*(s.getsockname()[1] for s in socks))')
    SENTINELS="127.0.0.1:$S1_PORT,127.0.0.1:$S2_PORT,127.0.0.1:$S3_PORT"
    URL="redis+sentinel://$SENTINELS/$MASTER"
}

teardown() { common_teardown; }

# start_redis NAME PORT [CONFIG LINE...]: a redis-server with its own config
# file NAME.conf; remembers its pid as NAME_PID.
start_redis() {
    local name=$1 port=$2 line
    shift 2
    {
        printf 'port %s\nbind 127.0.0.1\nsave ""\nappendonly no\ndir %s\n' "$port" "$BATS_TEST_TMPDIR"
        for line in "$@"; do printf '%s\n' "$line"; done
    } > "$BATS_TEST_TMPDIR/$name.conf"
    redis-server "$BATS_TEST_TMPDIR/$name.conf" > "$BATS_TEST_TMPDIR/$name.log" 2>&1 3>&- &
    SERVER_PIDS+=("$!")
    printf -v "${name}_PID" '%s' "$!"
}

# start_sentinel NAME PORT [CONFIG LINE...]: a sentinel of the primary, quick
# to act (down after 500 ms, a failover retried after 3 s).
start_sentinel() {
    local name=$1 port=$2
    shift 2
    {
        printf 'port %s\nbind 127.0.0.1\ndir %s\n' "$port" "$BATS_TEST_TMPDIR"
        printf 'sentinel monitor %s 127.0.0.1 %s 2\n' "$MASTER" "$PRIMARY_PORT"
        printf 'sentinel down-after-milliseconds %s 500\n' "$MASTER"
        printf 'sentinel failover-timeout %s 3000\n' "$MASTER"
        for line in "$@"; do printf '%s\n' "$line"; done
    } > "$BATS_TEST_TMPDIR/$name.conf"
    redis-server "$BATS_TEST_TMPDIR/$name.conf" --sentinel > "$BATS_TEST_TMPDIR/$name.log" 2>&1 3>&- &
    SERVER_PIDS+=("$!")
}

# cli PORT ARGS...: redis-cli against a node (AUTH from $CLI_AUTH, if set).
cli() {
    local port=$1
    shift
    redis-cli -p "$port" ${CLI_AUTH:+--no-auth-warning -a "$CLI_AUTH"} "$@" 2>/dev/null
}

# start_topology [DATA CONFIG LINE...]: primary, replica, three sentinels;
# waits until the replica is in sync and every sentinel sees the replica
# and the two other sentinels, so a failover can be authorised.
start_topology() {
    start_redis primary "$PRIMARY_PORT" "$@"
    start_redis replica "$REPLICA_PORT" "replicaof 127.0.0.1 $PRIMARY_PORT" "$@"
    local s
    for s in 1 2 3; do
        local port_var="S${s}_PORT"
        start_sentinel "s$s" "${!port_var}" "${SENTINEL_CONFIG[@]}"
    done
    wait_for 60 replica_in_sync
    for s in "$S1_PORT" "$S2_PORT" "$S3_PORT"; do
        wait_for 60 sentinel_ready "$s"
    done
}

# cli_says PORT ANSWER ARGS...: redis-cli ARGS answers ANSWER (for wait_for).
cli_says() {
    local port=$1 answer=$2
    shift 2
    [ "$(cli "$port" "$@")" = "$answer" ]
}

replica_in_sync() { cli "$REPLICA_PORT" info replication | grep -q '^master_link_status:up'; }

sentinel_ready() {
    CLI_AUTH=$SENTINEL_AUTH cli "$1" sentinel ckquorum "$MASTER" | grep -q '^OK 3 usable' &&
        CLI_AUTH=$SENTINEL_AUTH cli "$1" sentinel replicas "$MASTER" | grep -qx "127.0.0.1:$REPLICA_PORT"
}

# primary_is PORT: the first sentinel names 127.0.0.1:PORT as the primary.
primary_is() {
    [ "$(CLI_AUTH=$SENTINEL_AUTH cli "$S1_PORT" sentinel get-master-addr-by-name "$MASTER" | tr '\n' ' ')" = "127.0.0.1 $1 " ]
}

# two_shared_rules: payments (api server) and ledger (books server), both shared.
two_shared_rules() {
    write_rules "{\"version\": 1, \"breakers\": [
      {\"name\": \"payments\", \"hosts\": [\"127.0.0.1:$api_PORT\"], \"fail_max\": 3,
       \"reset_timeout\": 30, \"fleet\": {\"share\": true}},
      {\"name\": \"ledger\", \"hosts\": [\"127.0.0.1:$books_PORT\"], \"fail_max\": 3,
       \"reset_timeout\": 30, \"fleet\": {\"share\": true}}]}"
}

state_of_host() { echo "$BATS_TEST_TMPDIR/$1.state"; }

# start_agent HOST [URL]: fusebox sync for HOST's state file (through the
# sentinels unless URL says otherwise); waits until it is connected.
start_agent() {
    rm -f "$BATS_TEST_TMPDIR/$1.agent.log"
    "$FUSEBOX" sync --redis "${2:-$URL}" --host-id "$1" -s "$(state_of_host "$1")" \
        2> "$BATS_TEST_TMPDIR/$1.agent.log" 3>&- &
    SERVER_PIDS+=("$!")
    printf -v "agent_$1" '%s' "$!"
    wait_for 30 agent_says "$1" 'connected to redis'
}

agent_says() { grep -q -- "$2" "$BATS_TEST_TMPDIR/$1.agent.log" 2>/dev/null; }
agent_count() { grep -c -- "$2" "$BATS_TEST_TMPDIR/$1.agent.log"; }

on() {
    local host=$1
    shift
    FUSEBOX_STATE=$(state_of_host "$host") "$@"
}

# trip HOST BREAKER SERVER: three refused connects of HOST to the refusing
# SERVER, enough to open BREAKER there.
trip() {
    local port_var="${3}_PORT"
    run on "$1" shimmed "$TESTCLIENT" connect 127.0.0.1 "${!port_var}" --count 3
    [ "$(grep -c ECONNREFUSED <<<"$output")" -eq 3 ]
    [ "$(on "$1" breaker_field "$2" state)" = open ]
}

state_on_is() { [ "$(on "$1" breaker_field "$2" state)" = "$3" ]; }
status_on_has() { on "$1" "$FUSEBOX" status | grep -q -- "$2"; }

# agent_json HOST EXPR: EXPR (python) of status --json's fleet_agent object a.
agent_json() {
    on "$1" "$FUSEBOX" status --json |
        python3 -c 'import json, sys; a = json.load(sys.stdin)["fleet_agent"]; print(eval(sys.argv[1]))' "$2"
}

@test "a Sentinel failover: openings made before it stay, a trip after it reaches the others, a host started after it learns them all" {
    start_server api refuse
    start_server books refuse
    two_shared_rules
    start_topology
    start_agent a
    start_agent b
    agent_says a "connected to redis 127.0.0.1:$PRIMARY_PORT/0 (primary of '$MASTER') as host 'a'"
    # before the failover: a trip on A opens B
    since=$(now_ms)
    trip a payments api
    wait_for 30 state_on_is b payments fleet_open
    # the opening is on the replica too (Redis replicates asynchronously)
    wait_for 30 cli_says "$REPLICA_PORT" 1 exists fusebox:open:payments:a

    kill -9 "$primary_PID"
    killed=$(now_ms)
    wait_for 60 primary_is "$REPLICA_PORT" # hang guard: a failover here takes about 2 s
    promoted=$(now_ms)
    # after it: a new trip on A reaches B
    trip a ledger books
    # hang guard: ≥ 10× the 1 s the agents are meant to need after the promotion
    wait_for 30 state_on_is b ledger fleet_open
    reached=$(now_ms)
    echo "# failover: promotion visible $((promoted - killed)) ms after the kill;" \
        "a trip on A opened B $((reached - promoted)) ms after that" >&3

    # what was open before is still open, on B and in the new primary
    [ "$(on b breaker_field payments state)" = fleet_open ]
    remaining_is "$(on b breaker_field payments retry_in_ms)" 30000 "$since"
    remaining_is "$(cli "$REPLICA_PORT" pttl fusebox:open:payments:a)" 30000 "$since"
    # a host that starts after the failover learns both openings
    start_agent c
    wait_for 30 state_on_is c payments fleet_open
    wait_for 30 state_on_is c ledger fleet_open
    before=$(tcp_connects)
    run on c shimmed "$TESTCLIENT" connect 127.0.0.1 "$api_PORT"
    assert_output --regexp '^ECONNREFUSED'
    [ "$(tcp_connects)" -eq "$before" ] # refused by C's breaker: no connect left the host

    # the agents' logs name the failover; status and metrics show it
    for host in a b; do
        agent_says "$host" 'lost redis'
        agent_says "$host" "+switch-master '$MASTER' from 127.0.0.1:$PRIMARY_PORT to 127.0.0.1:$REPLICA_PORT"
        agent_says "$host" "failover: the primary of '$MASTER' is now 127.0.0.1:$REPLICA_PORT/0 (was 127.0.0.1:$PRIMARY_PORT/0; sentinel 127.0.0.1:"
    done
    wait_for 30 status_on_has b "fleet: host 'b' connected to Redis since"
    run on b "$FUSEBOX" status
    assert_line "fleet: redis 127.0.0.1:$REPLICA_PORT/0 (role master), primary of '$MASTER' by Sentinel, 1 failover followed"
    run on c "$FUSEBOX" status
    assert_line "fleet: redis 127.0.0.1:$REPLICA_PORT/0 (role master), primary of '$MASTER' by Sentinel, 0 failovers followed"
    [ "$(agent_json b '(a["pid"], a["connected"], a["redis"], a["role"], a["sentinel_master"], a["failovers"])')" = \
        "($agent_b, True, '127.0.0.1:$REPLICA_PORT/0', 'master', '$MASTER', 1)" ]
    run on b "$FUSEBOX" metrics
    assert_line 'fusebox_fleet_connected 1'
    assert_line 'fusebox_fleet_failovers_total 1'
    assert_line 'fusebox_fleet_quorum{breaker="payments"} 1'
}

@test "an opening whose agent stopped before the failover lives on through the replica" {
    start_server api refuse
    books_PORT=1
    two_shared_rules
    start_topology
    start_agent a
    since=$(now_ms)
    trip a payments api
    wait_for 30 cli_says "$REPLICA_PORT" 1 exists fusebox:open:payments:a
    kill -TERM "$agent_a" # nobody rewrites A's opening after the failover
    wait "$agent_a"
    kill -9 "$primary_PID"
    wait_for 60 primary_is "$REPLICA_PORT" # hang guard
    start_agent c
    wait_for 30 state_on_is c payments fleet_open
    remaining_is "$(on c breaker_field payments retry_in_ms)" 30000 "$since"
}

@test "sentinels are asked in turn; a replica is never taken for the primary; users and passwords for both" {
    api_PORT=1 books_PORT=2
    two_shared_rules
    SENTINEL_CONFIG=("requirepass sentpw" "user watcher on >watchpw +@all"
        "sentinel auth-user $MASTER agent" "sentinel auth-pass $MASTER datapw")
    SENTINEL_AUTH=sentpw
    start_topology "user agent on >datapw ~* &* +@all" "masteruser agent" "masterauth datapw"
    auth="agent:datapw@"
    query="?sentinel_username=watcher&sentinel_password=watchpw"
    # a dead sentinel first, then a live one: the agent goes on to the next
    start_agent a "redis+sentinel://${auth}127.0.0.1:1,$SENTINELS/$MASTER$query"
    agent_says a "connected to redis 127.0.0.1:$PRIMARY_PORT/0 (primary of '$MASTER')"
    # the sentinels' password alone also does (the default user)
    start_agent b "redis+sentinel://${auth}$SENTINELS/$MASTER?sentinel_password=sentpw&db=2"
    agent_says b "connected to redis 127.0.0.1:$PRIMARY_PORT/2 (primary of '$MASTER')"
    # without the sentinels' password no sentinel answers; with a wrong data
    # password the primary refuses; an unknown master is nobody's
    agent_fails "redis+sentinel://${auth}$SENTINELS/$MASTER" \
        "no sentinel named the primary of '$MASTER' (127.0.0.1:$S1_PORT: NOAUTH Authentication required.; 127.0.0.1:$S2_PORT: NOAUTH" \
        "sentinel 127.0.0.1:$S1_PORT: cannot watch it for failovers (NOAUTH Authentication required.)"
    agent_fails "redis+sentinel://agent:nope@$SENTINELS/$MASTER$query" 'redis: AUTH: WRONGPASS' \
        "127.0.0.1:$PRIMARY_PORT refused the credentials"
    agent_fails "redis+sentinel://${auth}$SENTINELS/other$query" \
        "no sentinel named the primary of 'other' (127.0.0.1:$S1_PORT: does not monitor it; "
    # a redis:// URL at the replica: refused after ROLE, never used
    agent_fails "redis://agent:datapw@127.0.0.1:$REPLICA_PORT" \
        "127.0.0.1:$REPLICA_PORT is a replica, not the primary (point the URL at the primary, or use redis+sentinel://)"
}

# agent_fails URL TEXT...: an agent of host x on URL logs every TEXT and does
# not connect; it is stopped then.
agent_fails() {
    local url=$1 text
    shift
    rm -f "$BATS_TEST_TMPDIR/x.state"* "$BATS_TEST_TMPDIR/x.agent.log"
    "$FUSEBOX" sync --redis "$url" --host-id x -s "$BATS_TEST_TMPDIR/x.state" \
        2> "$BATS_TEST_TMPDIR/x.agent.log" 3>&- &
    local pid=$!
    SERVER_PIDS+=("$pid")
    for text in "$@"; do
        wait_for 30 agent_says x "$text" || { cat "$BATS_TEST_TMPDIR/x.agent.log" >&2; return 1; }
    done
    kill "$pid"
    wait "$pid"
    ! agent_says x 'connected to redis'
}

@test "sync: redis+sentinel:// URLs that cannot work are refused at start" {
    run "$FUSEBOX" sync --redis "redis+sentinel://127.0.0.1:1"
    [ "$status" -eq 1 ]
    assert_output --partial 'redis URL: no /MASTER after the sentinels'
    run "$FUSEBOX" sync --redis "redis+sentinel://127.0.0.1:1/m?password=x"
    [ "$status" -eq 1 ]
    assert_output --partial "unknown parameter 'password' (db, sentinel_username, sentinel_password)"
    run "$FUSEBOX" sync --redis "rediss+sentinel://127.0.0.1:1/m"
    [ "$status" -eq 1 ]
    assert_output --partial 'rediss+sentinel:// needs hiredis with TLS'
    run "$FUSEBOX" open x --fleet --redis "redis+sentinel://127.0.0.1:1/m"
    [ "$status" -eq 1 ]
    assert_output --partial "open --fleet: no sentinel named the primary of 'm' (cannot connect to 127.0.0.1:1: Connection refused)"
}

# rules_with QUORUM [LEDGER_SHARED]: payments shared with QUORUM; ledger shared
# when LEDGER_SHARED is true. Written to a new file renamed over the old one.
rules_with() {
    printf '%s\n' "{\"version\": 1, \"breakers\": [
      {\"name\": \"payments\", \"hosts\": [\"127.0.0.1:$api_PORT\"], \"fail_max\": 3,
       \"fleet\": {\"share\": true, \"quorum\": $1}},
      {\"name\": \"ledger\", \"hosts\": [\"127.0.0.1:$books_PORT\"], \"fail_max\": 3,
       \"fleet\": {\"share\": ${2:-false}}}]}" \
        > "$BATS_TEST_TMPDIR/rules.json.new"
    mv "$BATS_TEST_TMPDIR/rules.json.new" "$BATS_TEST_TMPDIR/rules.json"
}

@test "the agent follows its rules: an edit within a second, SIGHUP at once, a broken edit keeps the last good rules" {
    start_server api refuse
    start_server books refuse
    start_redis plain "$PRIMARY_PORT"
    wait_for 30 cli_says "$PRIMARY_PORT" PONG ping
    export FUSEBOX_RULES=$BATS_TEST_TMPDIR/rules.json
    rules_with 1
    start_agent a "redis://127.0.0.1:$PRIMARY_PORT"
    start_agent b "redis://127.0.0.1:$PRIMARY_PORT"
    run on b "$FUSEBOX" status
    refute_output --partial 'fleet: ledger'
    # an edit: ledger shared too (hang guard: the agents look once a second)
    rules_with 1 true
    edited=$(now_ms)
    wait_for 30 status_on_has b 'fleet: ledger 0/1 hosts open'
    echo "# rules: an edit picked up $(($(now_ms) - edited)) ms after it was made" >&3
    agent_says b "rules $FUSEBOX_RULES reloaded (the file changed): 2 shared breakers"
    trip a ledger books
    wait_for 30 state_on_is b ledger fleet_open

    # SIGHUP: an edit that keeps the file's size and modification time, which
    # the once-a-second look cannot see, is read at once on SIGHUP
    # (B is stopped meanwhile, so that it cannot look between the two steps)
    cp -p "$FUSEBOX_RULES" "$BATS_TEST_TMPDIR/rules.ref"
    sed 's/"quorum": 1/"quorum": 2/' "$BATS_TEST_TMPDIR/rules.ref" > "$BATS_TEST_TMPDIR/rules.edit"
    kill -STOP "$agent_b"
    cat "$BATS_TEST_TMPDIR/rules.edit" > "$FUSEBOX_RULES"
    touch -r "$BATS_TEST_TMPDIR/rules.ref" "$FUSEBOX_RULES"
    kill -CONT "$agent_b"
    sleep 2.5 # two looks at the file: neither sees the edit
    status_on_has b 'fleet: payments 0/1 hosts open'
    kill -HUP "$agent_b"
    wait_for 30 status_on_has b 'fleet: payments 0/2 hosts open'
    agent_says b "rules $FUSEBOX_RULES reloaded (SIGHUP): 2 shared breakers"
    kill -0 "$agent_b"

    # a broken edit: one warning naming file:line:col; the last good rules stay
    printf '{"version": 1,\n "breakers": [{"name": "payments", "hosts": 7}]}\n' \
        > "$BATS_TEST_TMPDIR/rules.json.new"
    mv "$BATS_TEST_TMPDIR/rules.json.new" "$FUSEBOX_RULES"
    wait_for 30 agent_says b "rules not reloaded, keeping the last good ones: $FUSEBOX_RULES:2:"
    sleep 2.5 # two more looks: no more warnings
    [ "$(agent_count b 'rules not reloaded')" -eq 1 ]
    [ "$(agent_count a 'rules not reloaded')" -eq 1 ]
    run on b "$FUSEBOX" status
    assert_line 'fleet: payments 0/2 hosts open'
    assert_line --regexp '^fleet: ledger 1/1 hosts open$'
    # payments still shared, with quorum 2: one host is not enough (the shim
    # itself would pass a broken file's calls through: it runs on good rules)
    FUSEBOX_RULES=$BATS_TEST_TMPDIR/rules.edit trip a payments api
    wait_for 30 status_on_has b 'fleet: payments 1/2 hosts open'
    [ "$(on b breaker_field payments state)" = closed ]
    kill -0 "$agent_a" && kill -0 "$agent_b"
}
