#!/bin/sh
# Run every unit test binary in BUILD/tests and every integration test in
# tests/integration against the programs of BUILD. Prints one line per test and a
# closing "N passed, N failed" line; exits non-zero when anything failed.
# An integration test exits 0 (pass), 77 (skipped: it says why) or anything else.
# Usage: scripts/run-tests.sh BUILD [name-filter]
set -u
build=${1:-build}
filter=${2:-}
root=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "$build" && pwd)
logdir="$build/test-logs"
mkdir -p "$logdir"
export S2SD="$build/s2sd" S2SCTL="$build/s2sctl" S2SD_SRC="$root" S2SD_BUILD="$build"
export CK_FORK=yes CK_DEFAULT_TIMEOUT=${CK_DEFAULT_TIMEOUT:-60}
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:exitcode=23:strict_string_checks=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:exitcode=24"
pass=0; fail=0; skip=0; failed=""

run_one() { # name logfile cmd...
	name=$1; log=$2; shift 2
	start=$(date +%s)
	"$@" >"$log" 2>&1
	rc=$?
	secs=$(( $(date +%s) - start ))
	# A sanitizer report fails the test even when the exit code hides it.
	if [ $rc -ne 77 ] && grep -qE 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$log"; then
		rc=99
	fi
	case $rc in
	0)  pass=$((pass + 1)); echo "PASS $name (${secs}s)" ;;
	77) skip=$((skip + 1)); echo "SKIP $name: $(tail -n 1 "$log")" ;;
	*)  fail=$((fail + 1)); failed="$failed $name"
	    echo "FAIL $name (exit $rc, ${secs}s); last lines of $log:"
	    tail -n 30 "$log" | sed 's/^/    /' ;;
	esac
}

for t in "$build"/tests/check_*; do
	[ -x "$t" ] || continue
	name=$(basename "$t")
	case "$name" in *"$filter"*) ;; *) continue ;; esac
	run_one "$name" "$logdir/$name.log" "$t"
done
for t in "$root"/tests/integration/test_*; do
	[ -x "$t" ] || continue
	name=$(basename "$t")
	case "$name" in *"$filter"*) ;; *) continue ;; esac
	run_one "$name" "$logdir/$name.log" "$t"
done
echo "tests in $build:"
echo "$pass passed, $fail failed, $skip skipped"
[ $fail -eq 0 ] || { echo "failed:$failed"; exit 1; }
