#!/bin/sh
# make bench: every micro-benchmark in BUILD/bench (each prints its own
# table), then the load comparison of s2sd against Prosody and ejabberd
# (bench/run.py, as root: network namespace; results in bench/results/).
# BENCH_ARGS passes options to bench/run.py (e.g. "--quick", "--only s2sd").
set -eu
build=${1:-build}
for b in "$build"/bench/bench_*; do
	[ -x "$b" ] || continue
	echo "== $(basename "$b")"
	"$b"
done
here=$(dirname "$0")/..
# Debian's python3: the interop harness it reuses is written for it.
# shellcheck disable=SC2086
exec /usr/bin/python3 -B "$here/bench/run.py" "$build" ${BENCH_ARGS:-}
