#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# A VM port may not act as a router: its RAs, Redirects and DHCPv6 server
# messages are dropped in the kernel and counted. Each attack first runs
# against an unguarded port to prove it reaches the victim.
. "$(dirname "$0")/lib.sh"
trap cleanup_ns EXIT
require "$KMODCTL" ra6 rd6 socat
load_module || fail "insmod"

lab_bridge && lab_attach evil && lab_attach victim || fail "lab setup"
ip -n "$evil" addr add 2001:db8::e/64 dev eth0 nodad
ip -n "$victim" addr add 2001:db8::v/64 dev eth0 nodad 2>/dev/null ||
	ip -n "$victim" addr add 2001:db8::5/64 dev eth0 nodad
vaddr=$(ip -n "$victim" -6 -o addr show dev eth0 scope global | awk '{print $4}' | cut -d/ -f1)
static_neigh "$evil" "$vaddr" "$victim_mac"
ip netns exec "$victim" sysctl -qw net.ipv6.conf.eth0.accept_ra=2
ctl() { ip netns exec "$br" "$KMODCTL" "$@"; }

send_ra() {  # prefix
	ip netns exec "$evil" ra6 -i eth0 -d ff02::1 -t 1800 -P "$1#LA#3600#3600" >/dev/null 2>&1
}
send_redirect() {
	ip netns exec "$evil" timeout 5 rd6 -i eth0 -s fe80::1 -d "$vaddr" \
		-D "$victim_mac" -r 2001:db8::99 -t fe80::66 >/dev/null 2>&1
}
send_dhcpv6_advertise() {  # ADVERTISE (type 2) from UDP 547 to the client port
	printf '\x02\x12\x34\x56' | ip netns exec "$evil" \
		socat -u - "UDP6-SENDTO:[$vaddr]:546,sourceport=547" 2>/dev/null
}
has_default() { [ -n "$(ip -n "$victim" -6 route show default)" ]; }

# 1. Unguarded: each attack arrives (proves the test can fail).
ra0=$(snmp6 "$victim" Icmp6InRouterAdvertisements)
send_ra 2001:db8:1::/64
busywait 3000 has_default || fail "control: RA from unguarded port not learnt"
rd0=$(snmp6 "$victim" Icmp6InRedirects)
send_redirect
busywait 2000 test "$(snmp6 "$victim" Icmp6InRedirects)" -gt "$rd0" || fail "control: Redirect not received"
ud0=$(snmp6 "$victim" Udp6NoPorts)
send_dhcpv6_advertise
busywait 2000 test "$(snmp6 "$victim" Udp6NoPorts)" -gt "$ud0" || fail "control: DHCPv6 not received"
ip -n "$victim" -6 route flush proto ra
ip -n "$victim" -6 addr flush dev eth0 scope global dynamic
ip -n "$victim" -6 route del default 2>/dev/null

# 2. Guarded: the evil port is a VM port (fail mode open must not matter).
# Drops are also announced on the genl "events" multicast group.
events=$(mktemp)
trap 'cleanup_ns; rm -f "$events"' EXIT
ip netns exec "$br" "$KMODCTL" events 60 >"$events" 2>&1 &
busywait 3000 grep -q listening "$events" || fail "events listener did not start"
ctl port-set "$evil_port" --role vm --fail open || fail "port-set"
ra1=$(snmp6 "$victim" Icmp6InRouterAdvertisements)
send_ra 2001:db8:2::/64
send_ra 2001:db8:2::/64
sleep 1
has_default && fail "victim learnt a default route from a rogue RA"
ip -n "$victim" -6 addr show | grep -q 2001:db8:2: && fail "victim autoconfigured from rogue RA"
[ "$(snmp6 "$victim" Icmp6InRouterAdvertisements)" = "$ra1" ] || fail "RA reached the victim"
[ "$(ctl counter "$evil_port" ra_from_vm_port)" -ge 2 ] || fail "RA drops not counted"

rd1=$(snmp6 "$victim" Icmp6InRedirects)
send_redirect
[ "$(snmp6 "$victim" Icmp6InRedirects)" = "$rd1" ] || fail "Redirect reached the victim"
[ "$(ctl counter "$evil_port" redirect_from_vm_port)" -ge 1 ] || fail "Redirect drop not counted"

ctl bind-add "$evil_port" "$evil_mac" 2001:db8::e || fail "bind"  # bound source: still dropped
ud1=$(snmp6 "$victim" Udp6NoPorts)
send_dhcpv6_advertise
sleep 0.5
[ "$(snmp6 "$victim" Udp6NoPorts)" = "$ud1" ] || fail "DHCPv6 ADVERTISE reached the victim"
[ "$(ctl counter "$evil_port" dhcpv6_server_from_vm_port)" -ge 1 ] || fail "DHCPv6 drop not counted"
ctl counters | sed 's/^/# /'
kill %1 2>/dev/null
wait 2>/dev/null
grep '^event' "$events" | sort | uniq -c | sed 's/^/# /' | head
grep -q "^event $evil_port ra_from_vm_port fe80::" "$events" || fail "no RA drop event"
grep -q "^event $evil_port dhcpv6_server_from_vm_port 2001:db8::e" "$events" ||
	fail "no DHCPv6 drop event"
exit 0
