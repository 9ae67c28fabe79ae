#!/bin/sh
# Run every benchmark program in BUILD/bench; each prints its own table.
set -eu
build=${1:-build}
for b in "$build"/bench/bench_*; do
	[ -x "$b" ] || continue
	echo "== $(basename "$b")"
	"$b"
done
