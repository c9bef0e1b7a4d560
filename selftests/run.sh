#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Runs the v6guard kernel selftests and prints TAP. Exit 0 if every case
# passed or skipped, 1 otherwise.
#   run.sh [case ...]    (case = script name without .sh; default: all)
dir=$(cd "$(dirname "$0")" && pwd)
. "$dir/settings"
all=(module genl_errors fastpath rogue nd_punt daemon_kmod evasion vlan bindings_10k churn genl_fuzz unload_stress)
if [ $# -gt 0 ]; then cases=("$@"); else cases=("${all[@]}"); fi

echo "TAP version 13"
echo "1..${#cases[@]}"
n=0 rc=0
for c in "${cases[@]}"; do
	n=$((n + 1))
	if [ ! -x "$dir/$c.sh" ]; then
		echo "ok $n - $c # SKIP not written yet"
		continue
	fi
	t0=$(date +%s)
	# settings may give a case its own limit: timeout_<case>=SECONDS.
	limit=timeout_$c
	limit=${!limit:-$timeout}
	out=$(timeout "$limit" "$dir/$c.sh" 2>&1)
	r=$?
	[ -z "$out" ] || printf '%s\n' "$out" | sed 's/^\([^#]\)/# \1/'
	case $r in
	0) echo "ok $n - $c ($(($(date +%s) - t0))s)" ;;
	4) echo "ok $n - $c # SKIP $(printf '%s\n' "$out" | sed -n 's/^# SKIP: //p' | tail -1)" ;;
	124) echo "not ok $n - $c # TIMEOUT ${limit}s"; rc=1 ;;
	*) echo "not ok $n - $c"; rc=1 ;;
	esac
done
exit $rc
