#!/usr/bin/env bash
# Benchmark of the kmod datapath inside the QEMU guest (not part of make
# test): bridged pps with v6guard.ko and 100k bindings vs the bare bridge vs
# an nft bridge set with the same bindings, plus bindings programmed per
# second. Prints the ratios. Under TCG the absolute numbers are small; the
# ratios come from the same run.
#   V6G_BENCH_BINDINGS=100000 V6G_BENCH_FRAMES=200000 V6G_BENCH_ROUNDS=5
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
export V6G_VM_SCRIPT="$root/selftests/bench_guest.sh"
export V6G_VM_TIMEOUT=${V6G_VM_TIMEOUT:-900}
exec "$root/scripts/vm-run.sh"
