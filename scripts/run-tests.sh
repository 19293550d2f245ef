#!/usr/bin/env bash
# Runs fusebox's test suites (C unit tests, then the bats suites) and ends
# with one line "N passed, N failed, N skipped".
# Usage: run-tests.sh [unit|bats|all|tests/NAME.bats]...  (default: all)
# Expects the build in $BUILD (make test sets it); SANITIZE as given to make.
set -u
cd "$(dirname "$0")/.."
BUILD=${BUILD:-$PWD/build}
SANITIZE=${SANITIZE:-}
[ $# -gt 0 ] || set -- all
run_unit=false
suites=()
for what in "$@"; do
    case $what in
    all) run_unit=true; suites+=(tests/*.bats) ;;
    unit) run_unit=true ;;
    bats) suites+=(tests/*.bats) ;;
    *.bats) [ -f "$what" ] || { echo "run-tests.sh: no suite $what" >&2; exit 2; }
            suites+=("$what") ;;
    *) echo "usage: run-tests.sh [unit|bats|all|tests/NAME.bats]..." >&2; exit 2 ;;
    esac
done
export BUILD SANITIZE

# How a sanitized shim gets into uninstrumented programs: its runtime must be
# preloaded first, and those programs' own leaks are not ours to report.
preload="$BUILD/libfusebox.so"
case ",$SANITIZE," in
*,address,*) preload="$(${CC:-cc} -print-file-name=libasan.so):$preload"
             export ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 ;;
esac
case ",$SANITIZE," in
*,thread,*) preload="$(${CC:-cc} -print-file-name=libtsan.so):$preload"
            export TSAN_OPTIONS="halt_on_error=1:report_signal_unsafe=0:suppressions=$PWD/tests/tsan.supp" ;;
esac
case ",$SANITIZE," in
*,undefined,*) export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 ;;
esac
export FUSEBOX_TEST_PRELOAD="$preload"
# A test that hangs (a program that deadlocks under a sanitizer runtime) fails
# after this long instead of holding the whole run up.
export BATS_TEST_TIMEOUT=${BATS_TEST_TIMEOUT:-600}

# Each bats suite runs in a private network namespace with only loopback up:
# test traffic cannot leave the machine, and the kernel's TCP counters count
# only the suite's own connects. Without the privilege for that, the suites
# still run, in the machine's namespace.
isolate=(unshare --net -- bash -c 'ip link set lo up && exec "$@"' isolate)
if ! "${isolate[@]}" true 2>/dev/null; then
    echo "# cannot create a network namespace (not root?): suites share the machine's network"
    isolate=()
fi

passed=0 failed=0 skipped=0
log=$(mktemp)
trap 'rm -f "$log"' EXIT

# Runs one TAP producer, shows its output, and adds up its ok / not ok lines;
# a producer that exits non-zero without a failing line (a crash) is a failure.
tally() {
    "$@" 2>&1 | tee "$log"
    local status=${PIPESTATUS[0]} ok bad skip
    ok=$(grep -c '^ok ' "$log")
    bad=$(grep -c '^not ok ' "$log")
    skip=$(grep -ci '^ok .* # skip' "$log")
    if [ "$ok" -eq 0 ] && [ "$bad" -eq 0 ]; then
        echo "not ok - $* produced no test results"
        bad=1
    elif [ "$status" -ne 0 ] && [ "$bad" -eq 0 ]; then
        echo "not ok - $* exited with status $status after $ok results"
        bad=1
    fi
    passed=$((passed + ok - skip))
    failed=$((failed + bad))
    skipped=$((skipped + skip))
}

if $run_unit; then
    for t in "$BUILD"/tests/test_*; do
        [ -x "$t" ] || continue
        echo "# unit: $(basename "$t")"
        tally "$t"
    done
fi

for suite in "${suites[@]}"; do
    echo "# bats: $suite"
    tally "${isolate[@]}" bats --tap "$suite"
done

echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
