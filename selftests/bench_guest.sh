#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Guest side of scripts/bench-kmod.sh (not a selftest): bridged pps of
# 64-byte IPv6/UDP frames (pktgen in the sender namespace, frames counted at
# the receiver's NIC) for three datapaths measured side by side in one run,
# interleaved rounds, median:
#   bare   - bridge, no v6guard
#   kmod   - v6guard.ko port with N bindings (sender bound: fast path)
#   nft    - bridge-family nft set with the same N bindings + accept/drop rule
# and bindings programmed per second (genetlink batches).
out=/tmp/out
set -a; . "$out/env" 2>/dev/null; set +a
. "$(dirname "$0")/lib.sh"
N=${V6G_BENCH_BINDINGS:-100000}
COUNT=${V6G_BENCH_FRAMES:-200000}
ROUNDS=${V6G_BENCH_ROUNDS:-5}
exec > >(tee "$out/tap.log") 2>&1
trap cleanup_ns EXIT
modprobe -a veth bridge pktgen nf_tables nft_chain_bridge 2>/dev/null
modprobe -q pktgen || { echo "bench: SKIP no pktgen"; exit 4; }
load_module || { echo "bench: insmod failed"; exit 1; }

lab_bridge && lab_attach a && lab_attach b || exit 1
ip -n "$a" addr add 2001:db8::a/64 dev eth0 nodad
ip -n "$b" addr add 2001:db8::b/64 dev eth0 nodad
ctl() { ip netns exec "$br" "$KMODCTL" "$@"; }

list=/tmp/bindings.txt nftset=/tmp/set.nft
awk -v n="$N" -v port="$a_port" -v mac="$a_mac" 'BEGIN {
	printf "%s 0 %s 2001:db8::a\n", port, mac
	for (i = 1; i < n; i++)
		printf "%s 0 02:00:00:%02x:%02x:%02x 2001:db8:1::%x:%x\n", port,
			int(i / 65536) % 256, int(i / 256) % 256, i % 256,
			int(i / 65536), i % 65536
}' >"$list"
awk 'BEGIN { print "add element bridge v6g_bench bound {" }
     { printf "%s%s . %s . %s", (NR > 1 ? ",\n" : ""), $1, $3, $4 }
     END { print " }" }' "$list" >"$nftset"

pg() { ip netns exec "$a" sh -c "echo '$2' > /proc/net/pktgen/$1"; }
pktgen_setup() {
	pg kpktgend_0 "rem_device_all"
	pg kpktgend_0 "add_device eth0"
	pg eth0 "count $COUNT"
	pg eth0 "pkt_size 66"
	pg eth0 "delay 0"
	pg eth0 "clone_skb 0"
	pg eth0 "dst_mac $b_mac"
	pg eth0 "src6 2001:db8::a"
	pg eth0 "dst6 2001:db8::b"
	pg eth0 "udp_dst_min 9"
	pg eth0 "udp_dst_max 9"
}
# One run: frames delivered to b per second of pktgen time.
run_once() {
	local rx0 rx1 usec
	rx0=$(rx_frames "$b")
	ip netns exec "$a" sh -c 'echo start > /proc/net/pktgen/pgctrl'
	rx1=$(rx_frames "$b")
	usec=$(ip netns exec "$a" sed -n 's/.*Result: OK: \([0-9]*\)(.*/\1/p' /proc/net/pktgen/eth0)
	echo $(((rx1 - rx0) * 1000000 / usec))
}
median() { printf '%s\n' "$@" | sort -n | sed -n "$(( ($# + 1) / 2 ))p"; }

mode_bare() { ctl flush; ip netns exec "$br" nft delete table bridge v6g_bench 2>/dev/null; true; }
mode_kmod() {
	mode_bare
	ctl port-set "$a_port" --role vm || exit 1
	rate=$(ctl bind-file add "$list") || exit 1
}
mode_nft() {
	mode_bare
	ip netns exec "$br" nft -f - <<NFT || exit 1
table bridge v6g_bench {
	set bound { type ifname . ether_addr . ipv6_addr; size $((N * 2)); }
	chain pre {
		type filter hook prerouting priority -200;
		iifname "$a_port" ether type ip6 iifname . ether saddr . ip6 saddr @bound accept
		iifname "$a_port" ether type ip6 drop
	}
}
NFT
	ip netns exec "$br" nft -f "$nftset" || exit 1
}

pktgen_setup
mode_kmod
echo "# bindings: $rate"
declare -A pps
for r in $(seq 1 "$ROUNDS"); do
	for m in bare kmod nft; do
		"mode_$m"
		pps[$m]="${pps[$m]} $(run_once)"
	done
done
bare=$(median ${pps[bare]}) kmod=$(median ${pps[kmod]}) nft=$(median ${pps[nft]})
echo "# pps (median of $ROUNDS, $COUNT frames, $N bindings): bare=$bare kmod=$kmod nft=$nft"
echo "# runs: bare:${pps[bare]} kmod:${pps[kmod]} nft:${pps[nft]}"
awk -v b="$bare" -v k="$kmod" -v n="$nft" 'BEGIN {
	ck = 1e9 / k - 1e9 / b; cn = 1e9 / n - 1e9 / b
	printf "ratio kmod/bare: %.3f (goal >= 0.95)\n", k / b
	printf "ratio nft/bare: %.3f\n", n / b
	printf "added cost per frame: kmod %.0f ns, nft %.0f ns (TCG-inflated)\n", ck, cn
	if (ck > 0) printf "nft added cost / kmod added cost: %.2f (goal >= 2)\n", cn / ck
	else printf "nft added cost / kmod added cost: kmod added no measurable cost\n"
}'
ctl flush
exit 0
