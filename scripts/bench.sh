#!/bin/bash
# Runs every benchmark: each Google Benchmark binary in <build-dir>/manager/bench
# and every executable scripts/bench-*.sh (called with <build-dir>; a script
# exiting 4 is a skip). Prints results as they come and writes a summary table
# to <build-dir>/bench-results.md.
# Env: V6G_BENCH_MIN_TIME (seconds per benchmark, default 0.2) keeps `make bench` quick.
# Usage: scripts/bench.sh <build-dir>
set -uo pipefail

BUILD=${1:?usage: bench.sh <build-dir>}
BUILD=$(cd "$BUILD" && pwd)
SRC=$(cd "$(dirname "$0")/.." && pwd)
MIN_TIME=${V6G_BENCH_MIN_TIME:-0.2}
OUT="$BUILD/bench-results.md"
JSON_DIR="$BUILD/bench-json"
mkdir -p "$JSON_DIR"

{
	echo "# v6guard benchmarks"
	echo
	echo "$(date -u +%Y-%m-%dT%H:%M:%SZ) on $(nproc) CPU(s), $(uname -r)"
	echo
	echo "| binary | benchmark | ns/op (CPU) | items/s |"
	echo "|---|---|---:|---:|"
} >"$OUT"

status=0
shopt -s nullglob
for bin in "$BUILD"/manager/bench/*_bench; do
	[ -x "$bin" ] || continue
	name=$(basename "$bin")
	echo "== $name"
	if ! "$bin" --benchmark_min_time="$MIN_TIME" --benchmark_out="$JSON_DIR/$name.json" \
		--benchmark_out_format=json; then
		echo "FAIL: $name" >&2
		status=1
		continue
	fi
	jq -r --arg bin "$name" '.benchmarks[] |
		"| \($bin) | \(.name) | \((.cpu_time * (if .time_unit == "us" then 1000
			elif .time_unit == "ms" then 1000000 else 1 end)) | floor) | \(
			if .items_per_second then (.items_per_second | floor | tostring) else "" end) |"' \
		"$JSON_DIR/$name.json" >>"$OUT"
done

extra=()
for script in "$SRC"/scripts/bench-*.sh; do
	[ -x "$script" ] && extra+=("$script")
done
if [ ${#extra[@]} -gt 0 ]; then
	printf '\n## Scripts\n\n| script | result |\n|---|---|\n' >>"$OUT"
	for script in "${extra[@]}"; do
		name=$(basename "$script")
		echo "== $name"
		"$script" "$BUILD" 2>&1 | tee "$BUILD/$name.log"
		rc=${PIPESTATUS[0]}
		case $rc in
		0) echo "| $name | ok ($BUILD/$name.log) |" >>"$OUT" ;;
		4) echo "| $name | skipped |" >>"$OUT" ;;
		*) echo "| $name | FAILED rc=$rc |" >>"$OUT"; status=1 ;;
		esac
	done
fi

echo
cat "$OUT"
exit $status
