#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Generic netlink fuzzing: random commands, flags and attributes (known and
# unknown types, boundary values, wrong lengths, random nested binding lists,
# truncated messages) against the v6guard family, privileged and not.
# Every request is answered (ack, errno or a complete dump), an unprivileged
# caller never gets a mutation through, the kernel logs nothing alarming,
# kernel memory is flat after a flush and the module still works and unloads.
# V6G_GENL_FUZZ_COUNT (default 5000), V6G_GENL_FUZZ_SEED (default: time).
. "$(dirname "$0")/lib.sh"
GENL_FUZZ=${GENL_FUZZ:-$V6G_BUILD_DIR/selftests/genl_fuzz}
trap cleanup_ns EXIT
require "$KMODCTL" "$GENL_FUZZ"
load_module || fail "insmod"
count=${V6G_GENL_FUZZ_COUNT:-5000}
seed=${V6G_GENL_FUZZ_SEED:-$(date +%s)}

setup_ns n || fail "netns"
ip -n "$n" link add d0 type dummy
ip -n "$n" link add d1 type dummy
ctl() { ip netns exec "$n" "$KMODCTL" "$@"; }
ctl port-set d0 --role vm || fail "port-set d0"
ctl port-set d1 --role router || fail "port-set d1"
ifidx() { ip -n "$n" -o link show "$1" | cut -d: -f1; }
mem() { awk '/^Slab:|^VmallocUsed:/ { s += $2 } END { print s }' /proc/meminfo; }
alarming() { dmesg | sed -n "$((dmesg_lines + 1)),\$p" |
	grep -iE "BUG|WARNING|Oops|refcount|UBSAN|KASAN|general protection|stack-protector|list_(add|del) corruption"; }

ctl bind-churn d0 02:00:00:00:00:01 1 >/dev/null || fail "warm-up"
sleep 1
before=$(mem)
dmesg_lines=$(dmesg | wc -l)

out=$(ip netns exec "$n" "$GENL_FUZZ" -n "$count" -s "$seed" -i "$(ifidx d0)" -i "$(ifidx d1)" -i 1 2>&1)
rc=$?
log "$out"
[ $rc -eq 0 ] || fail "fuzzing (seed $seed): unanswered requests"
echo "$out" | grep -q " ok=" || fail "no request was accepted: the fuzzer never reached the handlers"
echo "$out" | grep -q "Invalid argument=" || fail "no request was refused: the fuzzer is too tame"

# Without CAP_NET_ADMIN: dumps may pass, mutations never.
if command -v setpriv >/dev/null; then
	ctl port-set d0 --role vm && ctl port-set d1 --role router || fail "port-set"
	ctl bind-add d0 02:00:00:00:00:02 2001:db8::2 || fail "bind-add"
	state=$(ctl bindings; ctl counters | awk '{ print $1, $2 }')
	out=$(ip netns exec "$n" setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all \
		"$GENL_FUZZ" -u -n $((count / 4)) -s $((seed + 1)) -i "$(ifidx d0)" -i "$(ifidx d1)" 2>&1)
	rc=$?
	log "unprivileged: $out"
	[ $rc -eq 0 ] || fail "unprivileged fuzzing (seed $((seed + 1))): $out"
	echo "$out" | grep -q "Operation not permitted=" || fail "no EPERM seen unprivileged"
	[ "$(ctl bindings; ctl counters | awk '{ print $1, $2 }')" = "$state" ] ||
		fail "unprivileged fuzzing changed the module's state"
fi

alarming && fail "kernel complained during fuzzing (seed $seed)"

# Still working: a port and a binding round-trip, then a flush empties it.
ctl port-set d0 --role vm || fail "port-set after fuzzing"
ctl bind-add d0 02:00:00:00:00:03 2001:db8::3 || fail "bind-add after fuzzing"
ctl bindings | grep -q "2001:db8::3" || fail "binding not listed after fuzzing"
ctl flush || fail "flush"
[ -z "$(ctl bindings)" ] || fail "bindings left after flush"
mem_flat() { [ $(($(mem) - before)) -lt 4096 ]; }
busywait 10000 mem_flat
delta=$(($(mem) - before))
log "slab+vmalloc delta after fuzzing + flush: ${delta} KiB"
[ "$delta" -lt 4096 ] || fail "kernel memory grew by ${delta} KiB"
ip netns del "$n"
NS_LIST=()
rmmod v6guard || fail "rmmod after fuzzing"
alarming && fail "kernel complained at unload (seed $seed)"
load_module || fail "reload"
exit 0
