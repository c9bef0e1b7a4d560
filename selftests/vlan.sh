#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# VLAN-tagged traffic: bindings match on (port, VLAN, MAC, address); a
# binding on another VLAN is no match; an RA inside a VLAN, or inside QinQ
# (outer tag out of band, inner tag in the frame), is still an RA.
. "$(dirname "$0")/lib.sh"
trap cleanup_ns EXIT
require "$KMODCTL" ping ra6
modprobe -q 8021q 2>/dev/null
load_module || fail "insmod"

lab_bridge && lab_attach a && lab_attach b || fail "lab setup"
for ns in "$a" "$b"; do
	ip -n "$ns" link add link eth0 name eth0.100 type vlan id 100 || skip "no 8021q"
	ip -n "$ns" link set eth0.100 up
done
ip -n "$a" addr add 2001:db8:100::a/64 dev eth0.100 nodad
ip -n "$b" addr add 2001:db8:100::b/64 dev eth0.100 nodad
ip -n "$a" -6 neigh replace 2001:db8:100::b lladdr "$b_mac" dev eth0.100 nud permanent
ip -n "$b" -6 neigh replace 2001:db8:100::a lladdr "$a_mac" dev eth0.100 nud permanent
ip netns exec "$b" sysctl -qw net.ipv6.conf.eth0/100.accept_ra=2
ctl() { ip netns exec "$br" "$KMODCTL" "$@"; }
ping_b() { ip netns exec "$a" ping -c 1 -W 1 2001:db8:100::b >/dev/null 2>&1; }

busywait 5000 ping_b || fail "no VLAN connectivity before guarding"
ctl port-set "$a_port" --role vm || fail "port-set a"
ctl port-set "$b_port" --role vm || fail "port-set b"
ctl bind-add "$a_port" "$a_mac" 2001:db8:100::a 100 || fail "bind a"
ctl bind-add "$b_port" "$b_mac" 2001:db8:100::b 100 || fail "bind b"
ip netns exec "$a" ping -c 3 -i 0.3 -W 1 2001:db8:100::b >/dev/null || fail "tagged bound ping failed"
[ "$(ctl counter "$a_port" accept_binding)" -ge 3 ] || fail "tagged fast path not counted"

# Same address bound untagged only: tagged frames no longer match.
ctl bind-del "$a_port" "$a_mac" 2001:db8:100::a 100 || fail "bind-del"
ctl bind-add "$a_port" "$a_mac" 2001:db8:100::a 0 || fail "bind untagged"
ping_b && fail "binding on VLAN 0 matched VLAN 100 traffic"
ctl bind-add "$a_port" "$a_mac" 2001:db8:100::a 100 || fail "rebind"
busywait 5000 ping_b || fail "rebinding VLAN 100 did not restore traffic"

# RA Guard inside the VLAN.
before=$(snmp6 "$b" Icmp6InRouterAdvertisements)
ip netns exec "$a" ra6 -i eth0.100 -d ff02::1 -t 1800 -P "2001:db8:200::/64#LA#3600#3600" >/dev/null 2>&1
sleep 0.5
[ "$(snmp6 "$b" Icmp6InRouterAdvertisements)" = "$before" ] || fail "tagged RA reached b"
[ -z "$(ip -n "$b" -6 route show default)" ] || fail "b learnt a default route"
[ "$(ctl counter "$a_port" ra_from_vm_port)" -ge 1 ] || fail "tagged RA drop not counted"

# QinQ: the outer 802.1ad tag is taken out of band on receive, the inner
# 802.1Q tag stays in the frame. An RA inside must still be seen.
for ns in "$a" "$b"; do
	ip -n "$ns" link add link eth0 name eth0.300 type vlan protocol 802.1ad id 300 &&
		ip -n "$ns" link add link eth0.300 name eth0.300.400 type vlan id 400 ||
		skip "no 802.1ad"
	ip -n "$ns" link set eth0.300 up
	ip -n "$ns" link set eth0.300.400 up
done
send_qinq_ra() {
	ip netns exec "$a" ra6 -i eth0.300.400 -d ff02::1 -t 1800 \
		-P "2001:db8:300::/64#LA#3600#3600" >/dev/null 2>&1
}
ctl port-del "$a_port" || fail "port-del"
before=$(snmp6 "$b" Icmp6InRouterAdvertisements)
send_qinq_ra
busywait 2000 test "$(snmp6 "$b" Icmp6InRouterAdvertisements)" -gt "$before" ||
	fail "control: QinQ RA did not reach b unguarded"
ctl port-set "$a_port" --role vm --fail open || fail "port-set again"
before=$(snmp6 "$b" Icmp6InRouterAdvertisements)
send_qinq_ra
sleep 0.5
[ "$(snmp6 "$b" Icmp6InRouterAdvertisements)" = "$before" ] || fail "QinQ RA reached b"
[ "$(ctl counter "$a_port" ra_from_vm_port)" -ge 1 ] || fail "QinQ RA drop not counted"
exit 0
