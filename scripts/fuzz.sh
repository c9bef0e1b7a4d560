#!/bin/bash
# Runs every libFuzzer binary in <build-dir>/manager/fuzz for <seconds> each.
# Corpus: seeded from every frame of manager/tests/data/pcap/*.pcap (written
# under the build dir, never into git) plus whatever earlier runs found.
# Fails on the first crash, leak or sanitizer report.
# Usage: scripts/fuzz.sh <build-dir> [seconds]
set -euo pipefail

BUILD=${1:?usage: fuzz.sh <build-dir> [seconds]}
SECONDS_EACH=${2:-60}
SRC=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$(cd "$BUILD" && pwd)
SEED="$BUILD/fuzz-seed"
mkdir -p "$SEED"

# One file per captured frame (Ethernet bytes) and per IPv6 packet in it.
/usr/bin/python3 - "$SRC/manager/tests/data" "$SEED" <<'PY'
import hashlib, pathlib, struct, sys
data, out = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
for pcap in data.rglob("*.pcap"):
    raw = pcap.read_bytes()
    if len(raw) < 24:
        continue
    endian = "<" if raw[:4] in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">"
    off = 24
    while off + 16 <= len(raw):
        incl = struct.unpack(endian + "I", raw[off + 8:off + 12])[0]
        frame = raw[off + 16:off + 16 + incl]
        off += 16 + incl
        for blob in (frame, frame[14:]):
            (out / hashlib.sha1(blob).hexdigest()).write_bytes(blob)
PY

shopt -s nullglob
fuzzers=("$BUILD"/manager/fuzz/*_fuzz)
if [ ${#fuzzers[@]} -eq 0 ]; then
	echo "fuzz.sh: no *_fuzz binaries in $BUILD/manager/fuzz" >&2
	exit 1
fi
status=0
for fuzzer in "${fuzzers[@]}"; do
	name=$(basename "$fuzzer")
	corpus="$BUILD/fuzz-corpus/$name"
	artifacts="$BUILD/fuzz-artifacts/$name/"
	mkdir -p "$corpus" "$artifacts"
	echo "== $name: ${SECONDS_EACH}s (corpus $corpus)"
	if ! "$fuzzer" -max_total_time="$SECONDS_EACH" -max_len=4096 -timeout=10 \
		-print_final_stats=1 -artifact_prefix="$artifacts" "$corpus" "$SEED" \
		>"$BUILD/fuzz-$name.log" 2>&1; then
		echo "FAIL: $name crashed; see $BUILD/fuzz-$name.log and $artifacts" >&2
		tail -40 "$BUILD/fuzz-$name.log" >&2
		status=1
	elif grep -q "runtime error:" "$BUILD/fuzz-$name.log"; then
		# UBSan reports that didn't abort (a build without -fno-sanitize-recover)
		echo "FAIL: $name: sanitizer report; see $BUILD/fuzz-$name.log" >&2
		grep -m5 "runtime error:" "$BUILD/fuzz-$name.log" >&2
		status=1
	else
		grep -E "stat::number_of_executed_units|cov:" "$BUILD/fuzz-$name.log" | tail -2
	fi
done
exit $status
