#!/usr/bin/env bats
# make bench-smoke: the benchmark programs still run (tiny counts; the figures
# themselves are measurements for `make bench`, never asserted here).
load common

@test "bench-smoke: every benchmark case runs and writes its results" {
    [ -z "${SANITIZE:-}" ] || skip "benchmarks run against the plain build"
    BENCH_OUT="$BATS_TEST_TMPDIR/bench" BUILD="$BUILD" \
        run bash "$BATS_TEST_DIRNAME/../scripts/bench.sh" --smoke
    assert_success
    assert_output --partial "== 6. contention"
    assert_output --regexp 'trip on h1 -> fleet_open elsewhere: median [0-9]+ ms.*, 0 missing\)'
    [ -s "$BATS_TEST_TMPDIR/bench/results.md" ]
    [ -s "$BATS_TEST_TMPDIR/bench/curl-loop.svg" ]
    [ "$(grep -c ',' "$BATS_TEST_TMPDIR/bench/results.csv")" -gt 20 ]
}
