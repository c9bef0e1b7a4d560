#!/bin/bash
# The VLAN of a tagged punt reaches the inspector on the nft datapath (issue 4
# gap "VLAN on nft punts"). Punts arrive through br_netfilter as ip6-family
# NFQUEUE packets without NFQA_VLAN; the bridge table writes the frame's VLAN
# into the punt mark (manager/nft/punt_mark.h) and the inspector reads it
# back. VMs tag their own frames from a raw socket (no 8021q on this host:
# manager/tests/data/vlan_frames.py); the receive path moves the tag out of
# band, as a VM trunk's tap would. The lab's VM ports are access ports
# without a VLAN (v6guardd --port has none), so the guard must judge a
# tagged frame in its own VLAN - and refuse it as source_vlan_mismatch -
# where it used to see "VLAN 0":
#   1. untagged (unchanged): vm1's DAD for A is learnt into `bindings`, its
#      data from A then takes the fast path (no punt) and reaches vm2.
#   2. vm1's DAD for B tagged VLAN 10: B is learnt into neither set (it used
#      to be learnt as an untagged binding).
#   3. vm1's data from A (bound untagged) tagged VLAN 10: dropped, vm2 sees
#      none of it (it used to pass as "VLAN 0", bound).
#   4. vm2's NA claiming A tagged VLAN 10 and its DAD for A tagged VLAN 20:
#      none reaches vm1, vm1's binding stays.
#   5. no tagged punt missed the VLAN map (punt_vlan_unmapped counts 0).
#   6. the events say why: source_vlan_mismatch (for A's tagged data and NA,
#      and the DADs), never nd_target_bound_elsewhere (which is what the
#      claims were refused as while they counted as VLAN 0).
# V6G_VLAN_MARK_OFF=1 rewrites the VLAN map to bare class marks (the
# inspector sees VLAN 0, as before): checks 2, 3 and 6 then fail.
set -u
SRC=${V6G_SOURCE_DIR:-$(cd "$(dirname "$0")/../../.." && pwd)}
. "$SRC/scripts/lab.sh"
lab_test_require nft ip6tables /usr/bin/python3
FRAMES="/usr/bin/python3 $SRC/manager/tests/data/vlan_frames.py"
cleanup() { lab_daemon_stop; lab_down; }
trap cleanup EXIT INT TERM

lab_up || { echo "not ok - lab setup"; exit 1; }
# Quiet VMs: no kernel IPv6 of their own (RS, MLD, DAD), only our frames.
for ns in $LAB_VM1 $LAB_VM2 $LAB_VM3; do ip netns exec $ns sysctl -qw net.ipv6.conf.eth0.disable_ipv6=1; done
lab_daemon_start $LAB_TMP/v6guardd.log --datapath nft --port $LAB_P_RTR:router \
  --port $LAB_P_VM1:vm --port $LAB_P_VM2:vm --port $LAB_P_VM3:vm --learn-prefix $LAB_PREFIX \
  --events $LAB_TMP/events.jsonl --flush-on-exit --no-api ||
  { echo "not ok - v6guardd start"; exit 1; }
if [ "${V6G_VLAN_MARK_OFF:-0}" = 1 ]; then
  # The behaviour before: every punt mark is its bare class, the VLAN lost
  # (checks 2, 3 and 6 then fail).
  python3 -c 'print("flush map bridge v6guard punt_vlan"); [print("add element bridge v6guard punt_vlan { %s }" % ", ".join("0x%08x . %d : 0x%08x" % (k, v, k) for v in range(4096))) for k in (0x76670001, 0x76670002)]' |
    ip netns exec $LAB_BR nft -f - || { echo "not ok - V6G_VLAN_MARK_OFF"; exit 1; }
fi
P=2600:beef:1000:100
A=$P::a1 B=$P::b1
EVENTS=$LAB_TMP/events.jsonl

in_set() {  # set, element text
  ip netns exec $LAB_BR nft list set bridge v6guard "$1" 2>/dev/null | grep -q -- "$2"
}
punts_of() {  # packets the port's punts counted (port_counts, reason punt = 13)
  ip netns exec $LAB_BR nft list set bridge v6guard port_counts 2>/dev/null |
    tr ',{}' '\n\n\n' | awk -v p="\"$1\"" '$1 == p && $3 == "0x0000000d" {print $6; f=1} END {if (!f) print 0}'
}
events_of() { grep -c "\"violation_type\":\"$1\"" $EVENTS 2>/dev/null; }
send() { ip netns exec "$1" $FRAMES send eth0 "${@:2}"; }
# listen NS SECONDS MARKER: counts MARKER frames arriving in NS (background;
# the count is in $LAB_TMP/seen.MARKER once `heard` returns).
listen() {
  ip netns exec "$1" $FRAMES count eth0 "$2" "$3" >$LAB_TMP/seen.$3 &
  LISTENER=$!
  busywait 3000 grep -q ready $LAB_TMP/seen.$3
}
heard() { wait $LISTENER; }
seen() { tail -n 1 $LAB_TMP/seen.$1; }

# --- 1. untagged: learnt into `bindings`, then the fast path
send $LAB_VM1 dad 0 $LAB_MAC_VM1 $A
if busywait 5000 in_set bindings "\"$LAB_P_VM1\" . $LAB_MAC_VM1 . $A"; then
  ok "untagged DAD for A from vm1 learnt into bindings"
else fail "untagged DAD for A not learnt: $(ip netns exec $LAB_BR nft list set bridge v6guard bindings | tr -s ' \n\t' ' ')"; fi
before=$(punts_of $LAB_P_VM1)
listen $LAB_VM2 2 untagged-data
send $LAB_VM1 udp 0 $LAB_MAC_VM1 $A 200 untagged-data
heard
after=$(punts_of $LAB_P_VM1)
[ "$(seen untagged-data)" = 200 ] && [ "$after" = "$before" ] &&
  ok "untagged data from bound A: 200/200 reach vm2 on the fast path (punts $before -> $after)" ||
  fail "untagged data from A: vm2 saw $(seen untagged-data)/200, vm1 punts $before -> $after"

# --- 2. tagged DAD: judged in VLAN 10, not learnt as untagged
send $LAB_VM1 dad 10 $LAB_MAC_VM1 $B
sleep 2.5  # a DAD-learnt binding would be VALID (and in the datapath) by now
in_set bindings "$B" || in_set vlan_bindings "$B" &&
  fail "tagged (VLAN 10) DAD for B was learnt: $(ip netns exec $LAB_BR nft list set bridge v6guard bindings | grep -o "[^,{]*$B")" ||
  ok "tagged (VLAN 10) DAD for B from vm1: learnt into neither bindings nor vlan_bindings"

# --- 3. tagged data from the untagged binding A
listen $LAB_VM2 2 tagged-data
send $LAB_VM1 udp 10 $LAB_MAC_VM1 $A 100 tagged-data
heard
[ "$(seen tagged-data)" = 0 ] && ok "data from A tagged VLAN 10: dropped (0/100 reach vm2)" ||
  fail "data from A tagged VLAN 10: vm2 saw $(seen tagged-data)/100"

# --- 4. vm2 claims A in VLAN 10 (NA) and VLAN 20 (DAD)
VM2_MAC_HEX=hex:${LAB_MAC_VM2//:/}
listen $LAB_VM1 2 $VM2_MAC_HEX
send $LAB_VM2 na 10 $LAB_MAC_VM2 $A 3
send $LAB_VM2 dad 20 $LAB_MAC_VM2 $A 3
heard
sleep 1.5
[ "$(seen $VM2_MAC_HEX)" = 0 ] && in_set bindings "\"$LAB_P_VM1\" . $LAB_MAC_VM1 . $A" &&
  ! in_set bindings "\"$LAB_P_VM2\" . $LAB_MAC_VM2 . $A" && ! in_set vlan_bindings "$A" &&
  ok "vm2's claims on A tagged VLAN 10 (NA) and 20 (DAD): none reaches vm1, vm1 keeps A" ||
  fail "vm2's tagged claims on A: vm1 saw $(seen $VM2_MAC_HEX) of 6 frames"

# --- 5. the VLAN map never missed
unmapped=$(ip netns exec $LAB_BR nft list chain bridge v6guard punt | awk '/punt_vlan_unmapped/{for (i = 1; i < NF; i++) if ($i == "packets") print $(i + 1)}')
[ "$unmapped" = 0 ] && ok "punt_vlan_unmapped: 0" || fail "punt_vlan_unmapped: '$unmapped'"

# --- 6. the guard's reasons (events are aggregated for 10 s; a clean stop
# writes them): the tagged frames were judged in their VLAN, not as claims on
# vm1's untagged A.
lab_daemon_stop
mismatch_a=$(grep '"violation_type":"source_vlan_mismatch"' $EVENTS 2>/dev/null | grep -c "\"blocked_source\":\"$A\"")
mismatch_any=$(events_of source_vlan_mismatch)
elsewhere=$(events_of nd_target_bound_elsewhere)
[ "${mismatch_a:-0}" -ge 1 ] && [ "${mismatch_any:-0}" -ge 2 ] && [ "${elsewhere:-0}" = 0 ] &&
  ok "events: source_vlan_mismatch for A and for the DADs ($mismatch_any), no nd_target_bound_elsewhere" ||
  fail "events: source_vlan_mismatch $mismatch_any (for A: $mismatch_a), nd_target_bound_elsewhere $elsewhere: $(cut -c1-300 $EVENTS 2>/dev/null)"

lab_test_done
