#!/bin/bash
# Regenerates the parser's real-capture fixtures (manager/tests/data/pcap/*.pcap):
# a throwaway veth pair between two network namespaces, tcpdump on the
# receiver, real tools on the sender (thc-ipv6 RA Guard evasions, ipv6toolkit
# ra6 with extension headers, radvd, rdisc6, ndisc6, ping, MLD from address
# configuration). Root only; touches nothing outside its own namespaces.
# Usage: scripts/capture-fixtures.sh [out-dir]   (V6G_DEBUG=1 shows tcpdump stats)
# Incidental frames (the receiver's own MLD reports, DAD) depend on timing:
# after regenerating, re-check packet_pcap_test's expected verdicts.
# Exit 4 = skip (a tool missing or not root).
set -euo pipefail

OUT=${1:-$(cd "$(dirname "$0")/.." && pwd)/manager/tests/data/pcap}
for tool in ip tcpdump atk6-fake_router26 ra6 radvd rdisc6 ndisc6 ping; do
	command -v "$tool" >/dev/null || { echo "SKIP: $tool missing"; exit 4; }
done
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root"; exit 4; }

TAG="v6g-$RANDOM"
NS_TX="$TAG-tx"
NS_RX="$TAG-rx"
TMP=$(mktemp -d)
cleanup() {
	ip netns pids "$NS_TX" 2>/dev/null | xargs -r kill 2>/dev/null || true
	ip netns pids "$NS_RX" 2>/dev/null | xargs -r kill 2>/dev/null || true
	ip netns del "$NS_TX" 2>/dev/null || true
	ip netns del "$NS_RX" 2>/dev/null || true
	rm -rf "$TMP"
}
trap cleanup EXIT

ip netns add "$NS_TX"
ip netns add "$NS_RX"
ip -n "$NS_TX" link add eth0 address 02:00:00:00:00:01 type veth peer name eth0 \
	netns "$NS_RX" address 02:00:00:00:00:02
for ns in "$NS_TX" "$NS_RX"; do
	ip netns exec "$ns" sysctl -qw net.ipv6.conf.eth0.accept_dad=0
	ip netns exec "$ns" sysctl -qw net.ipv6.conf.eth0.accept_ra=0
	ip -n "$ns" link set lo up
	ip -n "$ns" link set eth0 up
done
ip -n "$NS_TX" addr add 2001:db8::1/64 dev eth0 nodad
sleep 1  # link-local addresses and initial MLD reports settle before capturing

tx() { ip netns exec "$NS_TX" "$@"; }

# capture <name> <command...>: the receiver's view of what the command sends.
capture() {
	local name=$1
	shift
	ip netns exec "$NS_RX" tcpdump -q -U --immediate-mode -i eth0 -s 2048 -w "$TMP/$name.pcap" ip6 \
		2>"$TMP/tcpdump.log" &
	local pid=$!
	for _ in $(seq 50); do grep -q listening "$TMP/tcpdump.log" && break; sleep 0.1; done
	"$@" >/dev/null 2>&1 || true
	sleep 0.5
	kill "$pid"
	wait "$pid" 2>/dev/null || true
	if [ -n "${V6G_DEBUG:-}" ]; then cat "$TMP/tcpdump.log" >&2; fi
	local frames
	frames=$(tcpdump -nr "$TMP/$name.pcap" 2>/dev/null | wc -l)
	if [ "$frames" -eq 0 ]; then
		echo "$name: nothing on the wire, not kept"
		return
	fi
	cp "$TMP/$name.pcap" "$OUT/$name.pcap"
	echo "$name: $frames frames"
}

mkdir -p "$OUT"
FR="atk6-fake_router26 -n 1 -A 2001:db8:1::/64 eth0"
capture fake_router26_plain tx $FR
capture fake_router26_E_H tx atk6-fake_router26 -n 1 -E H -A 2001:db8:1::/64 eth0
capture fake_router26_E_1 tx atk6-fake_router26 -n 1 -E 1 -A 2001:db8:1::/64 eth0
capture fake_router26_E_D tx atk6-fake_router26 -n 1 -E D -A 2001:db8:1::/64 eth0
capture fake_router26_E_F tx atk6-fake_router26 -n 1 -E F -A 2001:db8:1::/64 eth0
capture fake_router26_E_o tx atk6-fake_router26 -n 1 -E o -A 2001:db8:1::/64 eth0
RA6="ra6 -i eth0 -d ff02::1 -P 2001:db8:1::/64 -e -t 1800"
capture ra6_plain tx $RA6
capture ra6_u8 tx $RA6 -u 8
capture ra6_U8 tx $RA6 -U 8  # refused by ra6 2.0: needs -y
capture ra6_U8_y64 tx $RA6 -U 8 -y 64
capture ra6_H8 tx $RA6 -H 8
capture ra6_y8 tx $RA6 -y 8
capture ra6_u1500_y1280 tx $RA6 -u 1500 -y 1280

cat >"$TMP/radvd.conf" <<CONF
interface eth0 {
	AdvSendAdvert on;
	MinRtrAdvInterval 3;
	MaxRtrAdvInterval 4;
	AdvLinkMTU 1500;
	prefix 2001:db8:1::/64 { AdvOnLink on; AdvAutonomous on; };
	route 2001:db8:2::/48 { AdvRoutePreference high; };
	RDNSS 2001:db8::53 { };
	DNSSL lab.example { };
};
CONF
capture radvd tx timeout 2 radvd -n -C "$TMP/radvd.conf" -p "$TMP/radvd.pid" -u root
capture rdisc6_rs tx rdisc6 -1 -r 1 -w 300 eth0
capture ndisc6_ns_na tx ndisc6 -1 -r 1 -w 300 fe80::ff:fe00:2 eth0
capture ping6 tx ping -6 -c 2 -i 0.2 -W 1 fe80::ff:fe00:2%eth0
capture mld_dad tx ip addr add 2001:db8::11/64 dev eth0
