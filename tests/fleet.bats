#!/usr/bin/env bats
# Fleet mode: breakers shared across hosts through Redis by `fusebox sync`.
# Each simulated host is a state file with its own agent (host id); Redis is
# a redis-server this suite starts on a loopback port, without persistence.

load common

setup() {
    common_setup
    command -v redis-server >/dev/null ||
        skip "redis-server is not installed (scripts/install-deps.sh installs it)"
    REDIS_PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    start_redis
}

teardown() { common_teardown; }

# start_redis: starts redis-server on 127.0.0.1:$REDIS_PORT and waits for it.
start_redis() {
    redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no \
        --dir "$BATS_TEST_TMPDIR" > "$BATS_TEST_TMPDIR/redis.log" 2>&1 3>&- &
    REDIS_PID=$!
    SERVER_PIDS+=("$REDIS_PID")
    wait_for 30 redis_up
}

redis_up() { [ "$(redis-cli -p "$REDIS_PORT" ping 2>/dev/null)" = PONG ]; }

# shared_rules QUORUM: rules with breaker payments for the api server, shared.
shared_rules() {
    write_rules "{\"version\": 1, \"breakers\": [{\"name\": \"payments\",
      \"hosts\": [\"127.0.0.1:$api_PORT\"], \"fail_max\": 3, \"reset_timeout\": 30,
      \"failure_on\": [\"refused\", \"http_5xx\"], \"fleet\": {\"share\": true, \"quorum\": $1}}]}"
}

state_of_host() { echo "$BATS_TEST_TMPDIR/$1.state"; }

# start_agent HOST: runs fusebox sync for HOST's state file; waits until it is connected.
start_agent() {
    rm -f "$BATS_TEST_TMPDIR/$1.agent.log" # a previous agent's "connected" must not count
    "$FUSEBOX" sync --redis "redis://127.0.0.1:$REDIS_PORT" --host-id "$1" \
        -s "$(state_of_host "$1")" 2> "$BATS_TEST_TMPDIR/$1.agent.log" 3>&- &
    SERVER_PIDS+=("$!")
    printf -v "agent_$1" '%s' "$!"
    wait_for 30 agent_says "$1" 'connected to redis'
}

agent_says() { grep -q "$2" "$BATS_TEST_TMPDIR/$1.agent.log" 2>/dev/null; }

# on HOST COMMAND...: runs COMMAND as a process of HOST (its state file).
on() {
    local host=$1
    shift
    FUSEBOX_STATE=$(state_of_host "$host") "$@"
}

# curl_on HOST N: N shimmed curl runs of HOST against the api server, each
# bounded; each run's exit code as a line "exit=CODE" in $output.
curl_on() {
    run bash -c 'for i in $(seq "$3"); do
        FUSEBOX_STATE=$1 LD_PRELOAD=$2 timeout 10 curl -sS -o /dev/null "$4"; echo "exit=$?"
    done 2>&1' _ "$(state_of_host "$1")" "$PRELOAD" "$2" "http://127.0.0.1:$api_PORT/"
}

state_on() { on "$1" breaker_field payments state; }
state_on_is() { [ "$(state_on "$1")" = "$2" ]; }
status_on_has() { on "$1" "$FUSEBOX" status | grep -q "$2"; }

@test "host A trips payments with curl: host B hears of it and fails fast without reaching the server" {
    require_preloadable curl
    start_server api http 503
    shared_rules 1
    start_agent a
    start_agent b
    since=$(now_ms)
    curl_on a 3
    [ "$(grep -c '^exit=0$' <<<"$output")" -eq 3 ]
    [ "$(state_on a)" = open ]
    wait_for 30 state_on_is b fleet_open
    requests=$(server_count api requests)
    connections=$(server_count api connections)
    curl_on b 2
    assert_line --index 0 --regexp "^curl: \(7\) circuit open: breaker 'payments'"
    [ "$(grep -c '^exit=7$' <<<"$output")" -eq 2 ]
    [ "$(server_count api requests)" -eq "$requests" ]
    [ "$(server_count api connections)" -eq "$connections" ]
    # what the operator sees on B
    run on b "$FUSEBOX" events
    assert_output --regexp "payments  closed -> fleet_open  1 host of the fleet has it open  \[fusebox [0-9]+\]"
    run on b "$FUSEBOX" status
    assert_output --partial "fleet: host 'b' connected to Redis since"
    assert_output --partial "fleet: payments 1/1 hosts open"
    [ "$(on b breaker_field payments rejected)" -eq 2 ]
    [ "$(on b breaker_field payments trips)" -eq 0 ]
    # B's opening ends when A's does: never later, and no sooner than
    # A's 30 s less what has passed since A's calls began
    remaining_is "$(on b breaker_field payments retry_in_ms)" 30000 "$since"
    run on b "$FUSEBOX" status --json
    assert_output --partial '"state": "fleet_open"'
    assert_output --partial '"fleet": {"hosts_open": 1, "quorum": 1}'
    run on b "$FUSEBOX" metrics
    assert_line 'fusebox_fleet_hosts_open{breaker="payments"} 1'
    assert_line 'fusebox_breaker_state{breaker="payments",state="fleet_open"} 1'
    # and what Redis holds: A's opening, with its remaining time as the TTL
    remaining_is "$(redis-cli -p "$REDIS_PORT" pttl fusebox:open:payments:a)" 30000 "$since"
    run redis-cli -p "$REDIS_PORT" hkeys fusebox:breaker:payments
    assert_output a
}

@test "quorum 2: one host's opening keeps the others closed; a second host's opens the third" {
    require_preloadable curl
    start_server api http 503
    shared_rules 2
    start_agent a
    start_agent b
    start_agent c
    curl_on a 3
    [ "$(state_on a)" = open ]
    wait_for 30 status_on_has c "fleet: payments 1/2 hosts open"
    requests=$(server_count api requests)
    curl_on c 1
    assert_output 'exit=0'
    [ "$(server_count api requests)" -eq $((requests + 1)) ]
    [ "$(state_on c)" = closed ]
    [ "$(state_on b)" = closed ]
    curl_on b 3
    [ "$(state_on b)" = open ]
    wait_for 30 state_on_is c fleet_open
    requests=$(server_count api requests)
    curl_on c 1
    assert_output --partial 'exit=7'
    [ "$(server_count api requests)" -eq "$requests" ]
    run on c "$FUSEBOX" events
    assert_output --partial "closed -> fleet_open  2 hosts of the fleet have it open"
}

@test "Redis killed while both hosts run: local breakers go on, nothing hangs, the agents resync after a restart" {
    require_preloadable curl
    start_server api http 503
    shared_rules 1
    start_agent a
    start_agent b
    kill -9 "$REDIS_PID"
    wait_for 30 status_on_has a "fleet: disconnected since"
    wait_for 30 status_on_has b "fleet: disconnected since"
    # nothing waits for the lost Redis: curl_on's 10 s timeout would say
    # exit=124, and every run ends as it would without fleet mode
    curl_on a 4
    [ "$(grep -c '^exit=0$' <<<"$output")" -eq 3 ]
    assert_line --index 3 --regexp "^curl: \(7\) circuit open"
    refute_line exit=124
    [ "$(state_on a)" = open ]
    [ "$(state_on b)" = closed ] # no way to hear of it yet
    kill -0 "$agent_a" && kill -0 "$agent_b"
    agent_says a 'lost redis'
    start_redis
    wait_for 30 status_on_has a "fleet: host 'a' connected to Redis since"
    wait_for 30 state_on_is b fleet_open
    requests=$(server_count api requests)
    curl_on b 1
    assert_output --partial 'exit=7'
    [ "$(server_count api requests)" -eq "$requests" ]
}

@test "one agent per state file: a second is refused; after kill -9 the lock is free again" {
    api_PORT=1
    shared_rules 1
    start_agent a
    run on a "$FUSEBOX" sync --redis "redis://127.0.0.1:$REDIS_PORT" --host-id a2
    [ "$status" -eq 1 ]
    assert_output --regexp "sync: another agent \(pid $agent_a\) already serves .*a\.state \(lock .*a\.state\.sync\.lock\)"
    kill -9 "$agent_a"
    wait "$agent_a" 2>/dev/null || true
    start_agent a
    kill -TERM "$agent_a"
    wait "$agent_a"
    agent_says a stopping
    run on a "$FUSEBOX" status
    assert_output --partial "fleet: agent not running (host 'a' stopped at"
}

@test "fusebox open NAME --fleet opens it on every host's agent" {
    write_rules '{"version": 1, "breakers": [
      {"name": "payments", "hosts": ["127.0.0.1:1"], "fleet": {"share": true}},
      {"name": "other", "hosts": ["127.0.0.1:2"]}]}'
    start_agent a
    start_agent b
    run "$FUSEBOX" open payments --fleet --redis "redis://127.0.0.1:$REDIS_PORT"
    assert_success
    assert_output 'payments: forced_open sent to the fleet (2 agents)'
    wait_for 30 state_on_is a forced_open
    wait_for 30 state_on_is b forced_open
    since=$(now_ms)
    FUSEBOX_REDIS="redis://127.0.0.1:$REDIS_PORT" run "$FUSEBOX" open other --fleet --for 1m
    assert_success
    wait_for 30 on b breaker_is other state forced_open
    remaining_is "$(on b breaker_field other retry_in_ms)" 60000 "$since"
}

@test "sync: usage errors, and rediss:// says this hiredis has no TLS" {
    run "$FUSEBOX" sync
    [ "$status" -eq 2 ]
    assert_output --partial 'sync: give --redis URL (or set FUSEBOX_REDIS)'
    run "$FUSEBOX" sync --redis http://x
    [ "$status" -eq 1 ]
    assert_output --partial "redis URL: 'http://x' is not a redis:// or rediss:// URL"
    run "$FUSEBOX" sync --redis rediss://127.0.0.1:6380
    [ "$status" -eq 1 ]
    assert_output --partial 'rediss:// needs hiredis with TLS'
    run "$FUSEBOX" sync --redis redis://127.0.0.1:1 --host-id 'bad id'
    [ "$status" -eq 1 ]
    assert_output --partial "host id 'bad id'"
    run "$FUSEBOX" open x --fleet --redis "redis://127.0.0.1:1"
    [ "$status" -eq 1 ]
    assert_output --partial 'open --fleet: cannot connect to 127.0.0.1:1'
}

# start_fake_redis: starts tests/helpers/fake_redis.py, which answers SUBSCRIBE
# with the messages in $BATS_TEST_TMPDIR/with-subscribe in the same write;
# points REDIS_PORT at it.
start_fake_redis() {
    local dir=$BATS_TEST_TMPDIR
    python3 "$BATS_TEST_DIRNAME/helpers/fake_redis.py" --port-file "$dir/fake.port" \
        --log "$dir/fake.log" --with-subscribe "$dir/with-subscribe" 3>&- &
    SERVER_PIDS+=("$!")
    wait_for 30 test -s "$dir/fake.port"
    REDIS_PORT=$(cat "$dir/fake.port")
}

@test "sync: messages that come with the SUBSCRIBE reply are applied; a fleet opening lasts at most the breaker's own longest opening" {
    write_rules '{"version": 1, "breakers": [
      {"name": "payments", "hosts": ["127.0.0.1:1"], "reset_timeout": 30, "backoff": {"max": 45},
       "fleet": {"share": true}},
      {"name": "search", "hosts": ["127.0.0.1:2"]}]}'
    # another host says payments stays open for 10 days; someone opens search
    printf '%s\n' 'fusebox1 open far payments 864000000 3 consecutive failures (refused)' \
        'fusebox1 force_open - search 0 ' > "$BATS_TEST_TMPDIR/with-subscribe"
    start_fake_redis
    since=$(now_ms)
    start_agent b
    wait_for 30 state_on_is b fleet_open
    wait_for 30 on b breaker_is search state forced_open
    remaining_is "$(on b breaker_field payments retry_in_ms)" 45000 "$since"
    grep -qx SUBSCRIBE "$BATS_TEST_TMPDIR/fake.log"
}

@test "sync: names from the channel are checked as rule names are; no escape reaches status, no name outside the rules takes a slot" {
    api_PORT=1
    shared_rules 1
    start_agent b
    on b "$FUSEBOX" close elsewhere # a breaker of the state file, in no rule
    publish() { redis-cli -p "$REDIS_PORT" publish fusebox:events "$1" >/dev/null; }
    publish $'fusebox1 force_open - \e[2J\e[31mevil 0 x'
    publish $'fusebox1 open x \e]0;owned\a 30000 x'
    publish $'fusebox1 open x payments 30000 \e[31mred'
    for i in $(seq 300); do
        printf 'PUBLISH fusebox:events "fusebox1 force_open - junk%s 0 x"\n' "$i"
    done | redis-cli -p "$REDIS_PORT" >/dev/null
    publish 'fusebox1 force_open - elsewhere 0 x'
    publish 'fusebox1 open x payments 30000 2 consecutive failures (refused)'
    # messages are handled in order: once payments is fleet_open, all were
    wait_for 30 state_on_is b fleet_open
    [ "$(on b breaker_field elsewhere state)" = forced_open ]
    run on b "$FUSEBOX" status
    refute_output --partial $'\e'
    refute_output --partial junk
    assert_line --partial '2 breakers: 2 open, 0 closed'
    run on b "$FUSEBOX" fsck
    assert_output 'ok: 2 breakers, 3 events'
    local log=$BATS_TEST_TMPDIR/b.agent.log
    ! grep -q $'\e' "$log"
    grep -qF "ignored a message that is not fusebox's: \"fusebox1 force_open - \\x1b[2J" "$log"
    [ "$(grep -c 'junk[0-9]*: in no rule of this agent and not in the state file: not opened' "$log")" -eq 300 ]
}
