#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Source guard fast path: bound (port, mac, ip6) sources cross the bridge in
# the kernel; a spoofed source is punted and, with no inspector on a
# fail-closed port, dropped and counted; a fail-open port bypasses; the
# per-port MAC check drops frames from a foreign MAC; a deleted device
# takes its port and bindings along.
. "$(dirname "$0")/lib.sh"
trap cleanup_ns EXIT
require "$KMODCTL" ping
load_module || fail "insmod"

lab_bridge && lab_attach a && lab_attach b || fail "lab setup"
ip -n "$a" addr add 2001:db8::a/64 dev eth0 nodad
ip -n "$a" addr add 2001:db8::66/64 dev eth0 nodad
ip -n "$b" addr add 2001:db8::b/64 dev eth0 nodad
static_neigh "$a" 2001:db8::b "$b_mac"
static_neigh "$b" 2001:db8::a "$a_mac"
static_neigh "$b" 2001:db8::66 "$a_mac"
ping_ok() { ip netns exec "$a" ping -c 1 -W 1 -I "$1" 2001:db8::b >/dev/null 2>&1; }
ctl() { ip netns exec "$br" "$KMODCTL" "$@"; }

busywait 5000 ping_ok 2001:db8::a || fail "no connectivity before guarding"

ctl port-set "$a_port" --role vm --queue 3 --fail closed || fail "port-set a"
ctl port-set "$b_port" --role vm --queue 3 --fail closed || fail "port-set b"
ping_ok 2001:db8::a && fail "unbound source passed a fail-closed port"
punts=$(ctl counter "$a_port" punt)
[ "$punts" -ge 1 ] || fail "punt not counted ($punts)"

ctl bind-add "$a_port" "$a_mac" 2001:db8::a || fail "bind a"
ctl bind-add "$b_port" "$b_mac" 2001:db8::b || fail "bind b"
ctl bindings | grep -q "^$a_port 0 $a_mac 2001:db8::a$" || fail "binding not listed"
ip netns exec "$a" ping -c 5 -i 0.2 -W 1 -I 2001:db8::a 2001:db8::b >/dev/null || fail "bound ping failed"
hits=$(ctl counter "$a_port" accept_binding)
[ "$hits" -ge 5 ] || fail "fast-path hits $hits < 5"
log "bound: $hits fast-path accepts on $a_port"

# Spoofed source (same MAC, unbound address) is dropped while bound works.
before=$(ctl counter "$a_port" punt)
ping_ok 2001:db8::66 && fail "spoofed source 2001:db8::66 passed"
after=$(ctl counter "$a_port" punt)
[ "$after" -gt "$before" ] || fail "spoofed frame not counted"
busywait 5000 ping_ok 2001:db8::a || fail "bound source broken by spoof"

# The same binding with another MAC is not a hit.
ctl bind-del "$a_port" "$a_mac" 2001:db8::a || fail "bind-del"
ctl bind-add "$a_port" 02:00:00:00:00:99 2001:db8::a || fail "bind other mac"
ping_ok 2001:db8::a && fail "binding with a foreign MAC matched"
ctl bind-add "$a_port" "$a_mac" 2001:db8::a || fail "rebind"

# Fail-open port: the unbound source is queued with bypass and passes.
ctl port-set "$a_port" --role vm --queue 3 --fail open || fail "fail open"
busywait 5000 ping_ok 2001:db8::66 || fail "fail-open port did not bypass the absent inspector"
ctl port-set "$a_port" --role vm --queue 3 --fail closed || fail "fail closed"

# MAC check: the port expects another MAC, so every frame from a is dropped.
ctl port-set "$a_port" --role vm --flags 4 --mac 02:00:00:00:00:99 || fail "mac check"
ctl bind-add "$a_port" "$a_mac" 2001:db8::a || fail "rebind after port reset"
ping_ok 2001:db8::a && fail "frame from a foreign MAC passed the MAC check"
[ "$(ctl counter "$a_port" eth_source_mac_mismatch)" -ge 1 ] || fail "MAC drop not counted"

# Port removal takes its bindings along and stops enforcement.
ctl port-del "$a_port" || fail "port-del"
ctl bindings | grep -q "^$a_port " && fail "bindings of a deleted port remain"
busywait 5000 ping_ok 2001:db8::66 || fail "unguarded port still filtered"

# A guarded device that disappears takes its port and bindings along
# (ifindexes get reused).
ctl bindings | grep -q "^$b_port " || fail "b's binding missing"
ip -n "$br" link del "$b_port"
[ -z "$(ctl bindings)" ] || fail "bindings of a deleted device remain: $(ctl bindings)"
[ -z "$(ctl counters)" ] || fail "port of a deleted device remains"
exit 0
