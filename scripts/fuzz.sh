#!/bin/bash
# Runs every libFuzzer binary in <build-dir>/manager/fuzz for a bounded time.
# Seeds (written under the build dir, never into git) come from the tests' data:
#   packet_fuzz       every frame of manager/tests/data/pcap/*.pcap (Ethernet + bare IPv6)
#   pcap_fuzz         the capture files themselves, whole and truncated
#   firewall_fuzz     manager/tests/data/fuzz/firewall_rules.txt, one rule per line
#   connect_fuzz      the spec's CreateVm JSON examples and error bodies
#   host_config_fuzz  the spec's host.json and small variants
#   netlink_fuzz      hand-built kernel replies (binding/counter dumps, errors with extack)
# plus manager/tests/data/fuzz/<fuzzer>/ (past findings, replayed every run) and
# whatever earlier runs found (<build-dir>/fuzz-corpus/<fuzzer>).
# Fails on any crash, leak, timeout or sanitizer report; the input is kept in
# <build-dir>/fuzz-artifacts/<fuzzer>/ (turn it into a regression test).
# Usage: scripts/fuzz.sh <build-dir> [seconds-each] [fuzzer ...]
# Env: V6G_FUZZ_SECONDS (default 30) when no seconds are given.
set -euo pipefail

BUILD=${1:?usage: fuzz.sh <build-dir> [seconds] [fuzzer ...]}
SECONDS_EACH=${2:-${V6G_FUZZ_SECONDS:-30}}
shift $(($# >= 2 ? 2 : 1))
SRC=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$(cd "$BUILD" && pwd)
SEED="$BUILD/fuzz-seed"
rm -rf "$SEED"
mkdir -p "$SEED"

/usr/bin/python3 - "$SRC/manager/tests/data" "$SEED" <<'PY'
import hashlib, json, pathlib, struct, sys
data, out = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])

def seed(fuzzer, blob):
    if isinstance(blob, str):
        blob = blob.encode()
    d = out / fuzzer
    d.mkdir(exist_ok=True)
    (d / hashlib.sha1(blob).hexdigest()).write_bytes(blob)

# packet_fuzz + pcap_fuzz: captures
for pcap in sorted(data.rglob("*.pcap")):
    raw = pcap.read_bytes()
    seed("pcap_fuzz", raw)
    seed("pcap_fuzz", raw[: max(24, len(raw) // 3)])
    if len(raw) < 24:
        continue
    endian = "<" if raw[:4] in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">"
    off = 24
    while off + 16 <= len(raw):
        incl = struct.unpack(endian + "I", raw[off + 8:off + 12])[0]
        frame = raw[off + 16:off + 16 + incl]
        off += 16 + incl
        for blob in (frame, frame[14:]):
            seed("packet_fuzz", blob)

# firewall_fuzz
for line in (data / "fuzz/firewall_rules.txt").read_text().splitlines():
    if line.strip():
        seed("firewall_fuzz", line)

# connect_fuzz: requests and error bodies; host_config_fuzz: the host config
spec = data / "spec"
for f in sorted(spec.glob("create_vm_*.json")):
    seed("connect_fuzz", f.read_text())
    seed("connect_fuzz", json.dumps(json.loads(f.read_text()), separators=(",", ":")))
for name, body in json.loads((spec / "errors.json").read_text()).items():
    seed("connect_fuzz", json.dumps(body))
host = json.loads((spec / "host.json").read_text())
seed("host_config_fuzz", json.dumps(host, indent=1))
for key in list(host):
    variant = dict(host)
    del variant[key]
    seed("host_config_fuzz", json.dumps(variant))

# netlink_fuzz: replies as the kernel sends them (seq 1; attribute numbers from
# kmod/uapi/v6guard.h and linux/genetlink.h).
def attr(t, payload, nested=False):
    n = 4 + len(payload)
    return struct.pack("=HH", n, t | (0x8000 if nested else 0)) + payload + b"\0" * (-n % 4)
def msg(mtype, payload, flags=0x2, seq=1):
    n = 16 + len(payload)
    return struct.pack("=IHHII", n, mtype, flags, seq, 0) + payload + b"\0" * (-n % 4)
genl = lambda cmd: struct.pack("=BBH", cmd, 1, 0)
FAMILY = 0x20
binding = genl(6) + attr(2, struct.pack("=I", 7)) + attr(8, struct.pack("=H", 100)) + \
    attr(7, bytes.fromhex("020000000001")) + attr(9, bytes.fromhex("20010db8" + "00" * 11 + "05"))
counters = genl(3) + attr(2, struct.pack("=I", 7)) + attr(11, b"".join(
    attr(1, attr(2, struct.pack("=H", r)) + attr(3, struct.pack("=Q", 1000 * r)), nested=True)
    for r in (1, 2, 17)), nested=True)
family = genl(1) + attr(1, struct.pack("=H", FAMILY)) + attr(2, b"v6guard\0") + attr(7, attr(1,
    attr(2, struct.pack("=I", 9)) + attr(1, b"events\0"), nested=True), nested=True)
done = msg(3, struct.pack("=i", 0))
ack = msg(2, struct.pack("=i", 0) + struct.pack("=IHHII", 36, FAMILY, 5, 1, 0), flags=0x100)
err = msg(2, struct.pack("=i", -22) + struct.pack("=IHHII", 36, FAMILY, 5, 1, 0) +
          attr(1, b"integer out of range\0") + attr(2, struct.pack("=I", 20)), flags=0x300)
for blob in (msg(FAMILY, binding) * 3 + done, msg(FAMILY, counters) + done,
             msg(0x10, family, flags=0) + ack, err, ack, done, msg(FAMILY, binding, seq=2)):
    seed("netlink_fuzz", blob)
PY

shopt -s nullglob
if [ $# -gt 0 ]; then
	fuzzers=()
	for name in "$@"; do fuzzers+=("$BUILD/manager/fuzz/$name"); done
else
	fuzzers=("$BUILD"/manager/fuzz/*_fuzz)
fi
if [ ${#fuzzers[@]} -eq 0 ]; then
	echo "fuzz.sh: no *_fuzz binaries in $BUILD/manager/fuzz" >&2
	exit 1
fi
status=0
for fuzzer in "${fuzzers[@]}"; do
	name=$(basename "$fuzzer")
	[ -x "$fuzzer" ] || { echo "FAIL: $fuzzer not built" >&2; status=1; continue; }
	corpus="$BUILD/fuzz-corpus/$name"
	artifacts="$BUILD/fuzz-artifacts/$name/"
	mkdir -p "$corpus" "$artifacts" "$SEED/$name"
	dirs=("$corpus" "$SEED/$name")
	[ -d "$SRC/manager/tests/data/fuzz/$name" ] && dirs+=("$SRC/manager/tests/data/fuzz/$name")
	case $name in
	pcap_fuzz | connect_fuzz) max_len=16384 ;;
	*) max_len=4096 ;;
	esac
	log="$BUILD/fuzz-$name.log"
	echo "== $name: ${SECONDS_EACH}s (corpus $corpus)"
	if ! "$fuzzer" -max_total_time="$SECONDS_EACH" -max_len="$max_len" -timeout=10 \
		-rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$artifacts" "${dirs[@]}" \
		>"$log" 2>&1; then
		echo "FAIL: $name crashed; see $log and $artifacts" >&2
		tail -40 "$log" >&2
		status=1
	elif grep -q "runtime error:" "$log"; then
		# UBSan reports that didn't abort (a build without -fno-sanitize-recover)
		echo "FAIL: $name: sanitizer report; see $log" >&2
		grep -m5 "runtime error:" "$log" >&2
		status=1
	else
		grep -E "stat::number_of_executed_units|cov:" "$log" | tail -2
	fi
done
exit $status
