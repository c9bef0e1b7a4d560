#!/bin/bash
# Runs inside the QEMU guest (scripts/vm-run.sh): the host root is mounted
# read-only, /tmp/out is the writable results share.
out=/tmp/out
dir=$(cd "$(dirname "$0")" && pwd)
modprobe -a veth bridge 8021q nfnetlink_queue 2>/dev/null
mapfile -t cases < <(grep -v "^$" "$out/cases" 2>/dev/null)
echo "# guest $(uname -r), cases: ${cases[*]:-all}"
"$dir/run.sh" "${cases[@]}" 2>&1 | tee "$out/tap.log"
exit "${PIPESTATUS[0]}"
