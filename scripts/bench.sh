#!/usr/bin/env bash
# make bench: what fusebox costs a program, measured side by side in one run.
# Each case runs as interleaved rounds (A B C A B C …) and reports medians;
# instruction counts from callgrind are printed too, as they do not depend on
# how busy the machine is. Loopback only. Usage: bench.sh [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-$PWD/build}
ROUNDS=${1:-5}
SHIM=$BUILD/libfusebox.so
CONNECT=$BUILD/helpers/bench_connect
SPAWN=$BUILD/helpers/bench_spawn
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export FUSEBOX_STATE=$work/state

median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

rules() { # FILE HOSTS: one breaker "bench" guarding HOSTS, fail_max 1
    printf '{"version": 1, "breakers": [{"name": "bench", "hosts": %s, "fail_max": 1, "reset_timeout": 3600}]}\n' "$2" > "$1"
}
rules "$work/unruled.json" '["192.0.2.1"]'
rules "$work/ruled.json" '["127.0.0.1"]'
{
    printf '{"version": 1, "breakers": ['
    for i in $(seq 10); do
        printf '%s{"name": "b%d", "hosts": ["svc%d.example", "10.%d.0.0/16"]}' "$([ "$i" = 1 ] || echo ,)" "$i" "$i" "$i"
    done
    printf ']}\n'
} > "$work/ten.json"

# run_case NAME COMMAND...: one measurement, appended to $work/NAME.
run_case() {
    local name=$1
    shift
    "$@" >> "$work/$name"
}

echo "fusebox bench: $ROUNDS interleaved rounds, medians; $(nproc) cores, $(uname -r)"
echo
echo "== connect() + close() to a loopback listener (ns per call, 20000 calls)"
for _ in $(seq "$ROUNDS"); do
    run_case plain "$CONNECT" accept 20000
    run_case unruled env LD_PRELOAD="$SHIM" FUSEBOX_RULES="$work/unruled.json" "$CONNECT" accept 20000
    run_case ruled env LD_PRELOAD="$SHIM" FUSEBOX_RULES="$work/ruled.json" "$CONNECT" accept 20000
done
plain=$(median < "$work/plain")
for c in plain unruled ruled; do
    m=$(median < "$work/$c")
    printf '  %-28s %10.0f ns   ratio %.3f\n' "$c" "$m" "$(echo "$m / $plain" | bc -l)"
done

echo
echo "== a rejected connect (open breaker, no syscall) vs a real refused loopback connect (ns per call)"
for _ in $(seq "$ROUNDS"); do
    run_case refused "$CONNECT" repeat 200000
    rm -f "$FUSEBOX_STATE"
    run_case rejected env LD_PRELOAD="$SHIM" FUSEBOX_RULES="$work/ruled.json" "$CONNECT" repeat 200000
done
refused=$(median < "$work/refused")
rejected=$(median < "$work/rejected")
printf '  %-28s %10.1f ns\n  %-28s %10.1f ns   %.0fx faster\n' "real refused connect" "$refused" \
    "rejected by fusebox" "$rejected" "$(echo "$refused / $rejected" | bc -l)"

echo
echo "== start-up: /bin/true (us per run, 1000 runs; user-space instructions of one run)"
# The floor: what preloading any library at all costs.
echo 'void fusebox_bench_nothing(void) {}' > "$work/empty.c"
${CC:-cc} -shared -fPIC -o "$work/empty.so" "$work/empty.c"
declare -A start_env=([no shim]="" [empty preload]="LD_PRELOAD=$work/empty.so"
                      [shim, 10-breaker rules]="LD_PRELOAD=$SHIM FUSEBOX_RULES=$work/ten.json")
start_cases=("no shim" "empty preload" "shim, 10-breaker rules")
for _ in $(seq "$ROUNDS"); do
    for c in "${start_cases[@]}"; do
        # shellcheck disable=SC2086 # the settings are words on purpose
        env ${start_env[$c]} "$SPAWN" 1000 /bin/true >> "$work/start-${c// /_}"
    done
done
t0=$(median < "$work/start-no_shim")
for c in "${start_cases[@]}"; do
    t=$(median < "$work/start-${c// /_}")
    # shellcheck disable=SC2086
    ir=$(env ${start_env[$c]} valgrind --tool=callgrind --callgrind-out-file=/dev/null /bin/true 2>&1 |
        awk '/ refs:/ { gsub(",", "", $NF); print $NF }')
    printf '  %-28s %10.1f us   ratio %.3f   %8d instructions\n' "$c" "$t" \
        "$(echo "$t / $t0" | bc -l)" "$ir"
done

# program_instructions CALLS [ENV...]: user-space instructions of a whole
# bench_connect run of CALLS connects.
program_instructions() {
    local calls=$1
    shift
    rm -f "$FUSEBOX_STATE"
    env "$@" valgrind --tool=callgrind --callgrind-out-file=/dev/null \
        "$CONNECT" accept "$calls" 2>&1 >/dev/null | awk '/ refs:/ { gsub(",", "", $NF); print $NF }'
}

echo
echo "== user-space instructions per socket + connect + close (callgrind: the difference between"
echo "   runs of 3000 and 1000 calls, so one-off costs such as parsing the rules drop out)"
base=
for c in plain unruled ruled; do
    env=()
    [ "$c" = plain ] || env=(LD_PRELOAD="$SHIM" FUSEBOX_RULES="$work/$c.json")
    few=$(program_instructions 1000 "${env[@]}")
    many=$(program_instructions 3000 "${env[@]}")
    per=$(((many - few) / 2000))
    base=${base:-$per}
    printf '  %-28s %10d instructions   %+d\n' "$c" "$per" $((per - base))
done
