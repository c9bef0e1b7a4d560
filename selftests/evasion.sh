#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# RA Guard evasion matrix (RFC 7113) from a VM port against the kmod
# datapath: extension headers, atomic fragments, and RAs whose ICMPv6
# header sits in a non-first fragment. Every variant first runs unguarded
# and must reach the victim's NIC; guarded (fail-open port, so only frames
# the module classifies as router-class or hidden are dropped) no frame of
# any variant may reach it. An nft netdev ingress counter on the victim's
# NIC counts frames to ff02::1 (all variants; the stacks around send none).
. "$(dirname "$0")/lib.sh"
trap cleanup_ns EXIT
require "$KMODCTL" atk6-fake_router26 ra6 nft
load_module || fail "insmod"

lab_bridge && lab_attach evil && lab_attach victim || fail "lab setup"
ip netns exec "$victim" sysctl -qw net.ipv6.conf.eth0.accept_ra=2
ip netns exec "$victim" nft -f - <<NFT || skip "nft netdev ingress unavailable"
table netdev v6g_evasion {
	counter allnodes {}
	chain in {
		type filter hook ingress device eth0 priority 0;
		ip6 daddr ff02::1 counter name allnodes
	}
}
NFT
ctl() { ip netns exec "$br" "$KMODCTL" "$@"; }

variants=(
	"fake_router26 plain|atk6-fake_router26 -n 1 -A 2001:db8:1::/64 eth0"
	"fake_router26 -E H|atk6-fake_router26 -n 1 -E H -A 2001:db8:1::/64 eth0"
	"fake_router26 -E 1|atk6-fake_router26 -n 1 -E 1 -A 2001:db8:1::/64 eth0"
	"fake_router26 -E D|atk6-fake_router26 -n 1 -E D -A 2001:db8:1::/64 eth0"
	"fake_router26 -E F|atk6-fake_router26 -n 1 -E F -A 2001:db8:1::/64 eth0"
	"fake_router26 -E o|atk6-fake_router26 -n 1 -E o -A 2001:db8:1::/64 eth0"
	"ra6 -u 8|ra6 -i eth0 -d ff02::1 -P 2001:db8:1::/64 -e -t 1800 -u 8"
	"ra6 -H 8|ra6 -i eth0 -d ff02::1 -P 2001:db8:1::/64 -e -t 1800 -H 8"
	"ra6 -y 8|ra6 -i eth0 -d ff02::1 -P 2001:db8:1::/64 -e -t 1800 -y 8"
	"ra6 -u 1500 -y 1280|ra6 -i eth0 -d ff02::1 -P 2001:db8:1::/64 -e -t 1800 -u 1500 -y 1280"
)
ras() { snmp6 "$victim" Icmp6InRouterAdvertisements; }
frames() {
	ip netns exec "$victim" nft list counter netdev v6g_evasion allnodes |
		awk '/packets/ { print $2 }'
}
attack() { ip netns exec "$evil" timeout 4 $1 >/dev/null 2>&1; }
forget() {
	ip -n "$victim" -6 route del default 2>/dev/null
	ip -n "$victim" -6 route flush proto ra 2>/dev/null
	ip -n "$victim" -6 addr flush dev eth0 scope global 2>/dev/null
}

for v in "${variants[@]}"; do
	name=${v%%|*} cmd=${v#*|}
	before=$(frames) ra0=$(ras)
	attack "$cmd"
	busywait 1500 test "$(frames)" -gt "$before" ||
		fail "control: '$name' did not reach the unguarded victim"
	[ "$(ras)" -gt "$ra0" ] && stack="ICMPv6 layer too" || stack="dropped by the victim's own stack"
	log "unguarded: $name reached the NIC ($stack)"
	forget
done

ctl port-set "$evil_port" --role vm --fail open || fail "port-set"
rc=0
for v in "${variants[@]}"; do
	name=${v%%|*} cmd=${v#*|}
	before=$(frames) ra0=$(ras)
	attack "$cmd"
	sleep 0.3
	if [ "$(frames)" != "$before" ] || [ "$(ras)" != "$ra0" ] ||
		[ -n "$(ip -n "$victim" -6 route show default)" ]; then
		echo "# FAIL: '$name' reached the victim through the guarded port"
		rc=1
	else
		log "blocked: $name"
	fi
	forget
done
ctl counters | grep "^$evil_port " | sed 's/^/# /'
[ "$(ctl counter "$evil_port" ra_from_vm_port)" -ge 1 ] || fail "no RA drop counted"
exit $rc
