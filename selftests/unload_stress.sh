#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Unload while everything runs at once: bound traffic on
# the fast path (ping flood), unbound-source traffic punted to an nfqueue
# reader (packets in flight in the queue), and binding churn over generic
# netlink. rmmod must succeed, take the family with it, leave no queued
# packet or binding behind (kernel memory flat), and the reloaded module
# must start empty and guard again once programmed. (One round: under TCG a
# round takes ~25 s of the 60 s per-case budget.)
. "$(dirname "$0")/lib.sh"
trap cleanup_ns EXIT
require "$KMODCTL" "$NFQ_VERDICT" ping genl
module_loaded && { rmmod v6guard || fail "rmmod of a stale module"; }

lab_bridge && lab_attach a && lab_attach b || fail "lab setup"
ip -n "$a" addr add 2001:db8::a/64 dev eth0 nodad
ip -n "$a" addr add 2001:db8::aa/64 dev eth0 nodad # never bound: punted
ip -n "$b" addr add 2001:db8::b/64 dev eth0 nodad
ip -n "$br" link add d0 type dummy # binding churn target
static_neigh "$a" 2001:db8::b "$b_mac"
static_neigh "$b" 2001:db8::a "$a_mac"
static_neigh "$b" 2001:db8::aa "$a_mac"
ctl() { ip netns exec "$br" "$KMODCTL" "$@"; }
mem() { awk '/^Slab:|^VmallocUsed:/ { s += $2 } END { print s }' /proc/meminfo; }
qlog=$(mktemp)
pids=
trap 'kill -9 $pids 2>/dev/null; cleanup_ns; rm -f "$qlog"' EXIT
dmesg_lines=$(dmesg | wc -l)
# Kernel memory with the lab up and the module not loaded: after the final
# rmmod it must be back here (a leaked binding set of 10k is ~1 MiB).
sleep 0.5
before=$(mem)
load_module || fail "insmod"
t_start=$(date +%s%3N)
step() { log "$(($(date +%s%3N) - t_start)) ms: $*"; }

program() {
	for p in "$a_port" "$b_port"; do
		ctl port-set "$p" --role vm --queue 7 --fail closed || return 1
	done
	ctl port-set d0 --role vm || return 1
	ctl bind-add "$a_port" "$a_mac" 2001:db8::a && ctl bind-add "$b_port" "$b_mac" 2001:db8::b
}

# busywait re-runs these, so the counter is read on every try.
counted() { [ "$(ctl counter "$a_port" "$1" 2>/dev/null || echo 0)" -gt 10 ]; }
counted_any() { [ "$(ctl counter "$a_port" "$1" 2>/dev/null || echo 0)" -gt 0 ]; }
counters() { ctl counters | grep "$a_port" | tr '\n' ' '; }

step "programming"
program || fail "programming"
# Proof the guard is live in this round: the unbound source is punted.
: >"$qlog"
ip netns exec "$br" "$NFQ_VERDICT" -q 7 -D accept >"$qlog" 2>&1 &
pids=$!
busywait 5000 grep -q listening "$qlog" || fail "reader did not start"
# 200 packets/s each: steady traffic without starving the 2-vCPU TCG guest
# (a -f flood made every netlink dump take seconds).
ip netns exec "$a" ping -q -i 0.005 -w 8 -I 2001:db8::a 2001:db8::b >/dev/null 2>&1 &
pids="$pids $!"
ip netns exec "$a" ping -q -i 0.005 -w 8 -I 2001:db8::aa 2001:db8::b >/dev/null 2>&1 &
pids="$pids $!"
busywait 10000 counted punt || fail "unbound source not punted ($(counters))"
busywait 10000 counted accept_binding ||
	fail "bound traffic not on the fast path ($(counters))"
ip netns exec "$br" "$KMODCTL" bind-churn d0 02:00:00:00:00:01 1000 >/dev/null 2>&1 &
pids="$pids $!"
sleep 0.5
# Unload mid-flight; a netlink call holding the family may delay it a moment.
step "traffic and churn running, unloading"
t0=$(date +%s%3N)
busywait 5000 rmmod v6guard || fail "rmmod under load"
log "rmmod took $(($(date +%s%3N) - t0)) ms"
step "rmmod returned"
timeout 10 genl ctrl get name v6guard >/dev/null 2>&1
[ $? = 124 ] && fail "genl ctrl get hangs after the unload"
timeout 10 genl ctrl get name v6guard >/dev/null 2>&1 && fail "family left behind"
step "family gone"
kill -9 $pids 2>/dev/null
wait $pids 2>/dev/null
step "background jobs stopped"
load_module || fail "reload"
[ -z "$(ctl bindings)" ] || fail "bindings survived the unload"
log "$(grep -c '^pkt' "$qlog") packets through the reader before the unload"

# The reloaded module starts empty and guards again once programmed.
[ -z "$(ctl counters)" ] || fail "fresh module has ports"
ctl port-set "$a_port" --role vm --queue 7 --fail closed || fail "port-set after reload"
ip netns exec "$a" ping -q -c 3 -i 0.2 -I 2001:db8::aa 2001:db8::b >/dev/null 2>&1
busywait 5000 counted_any punt || fail "unbound source not punted after reload ($(counters))"
ctl flush || fail "flush"
step "guarding again after reload"
rmmod v6guard || fail "final rmmod"
mem_flat() { [ $(($(mem) - before)) -lt 1024 ]; }
busywait 10000 mem_flat
delta=$(($(mem) - before))
log "slab+vmalloc delta (module unloaded, before vs after): ${delta} KiB"
[ "$delta" -lt 1024 ] || fail "kernel memory grew by ${delta} KiB"
dmesg | sed -n "$((dmesg_lines + 1)),\$p" |
	grep -iE "BUG|WARNING|Oops|refcount|UBSAN|general protection|list_(add|del) corruption" &&
	fail "kernel complained"
load_module || fail "final reload"
exit 0
