#!/bin/bash
# Runs inside the QEMU guest (scripts/vm-run.sh): the host root is mounted
# read-only, /tmp/out is the writable results share.
out=/tmp/out
dir=$(cd "$(dirname "$0")" && pwd)
modprobe -a veth bridge 8021q nfnetlink_queue 2>/dev/null
set -a; . "$out/env" 2>/dev/null; set +a
# No process substitution: /dev/fd may be missing this early in the guest.
cases=()
while read -r c; do [ -n "$c" ] && cases+=("$c"); done <"$out/cases"
{
	echo "# guest $(uname -r), cases: ${cases[*]:-all}, build: $V6G_BUILD_DIR"
	"$dir/run.sh" "${cases[@]}"
} 2>&1 | tee "$out/tap.log"
exit "${PIPESTATUS[0]}"
