#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Helpers for v6guard selftests, in the habits of tools/testing/selftests/net/lib.sh:
# random namespace names, busywait instead of sleep, exit 4 = skip.
ksft_pass=0
ksft_fail=1
ksft_skip=4

SELFTESTS_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
V6G_ROOT=$(cd "$SELFTESTS_DIR/.." && pwd)
V6G_BUILD_DIR=${V6G_BUILD_DIR:-$V6G_ROOT/build}
KMODCTL=${KMODCTL:-$V6G_BUILD_DIR/manager/netlink/v6guard-kmodctl}
NFQ_VERDICT=${NFQ_VERDICT:-$V6G_BUILD_DIR/selftests/nfq_verdict}
NS_LIST=()

log() { echo "# $*"; }
fail() { echo "# FAIL: $*"; exit $ksft_fail; }
skip() { echo "# SKIP: $*"; exit $ksft_skip; }

require() {
	local t
	for t in "$@"; do
		command -v "$t" >/dev/null 2>&1 || [ -x "$t" ] || skip "$t missing"
	done
}

# setup_ns VAR...: create namespaces with random names, store them in VARs.
setup_ns() {
	local var name
	for var in "$@"; do
		name="v6g-$var-$(mktemp -u XXXXXX)"
		ip netns add "$name" || return 1
		ip -n "$name" link set lo up
		NS_LIST+=("$name")
		eval "$var=$name"
	done
}

cleanup_ns() {
	local ns
	for ns in "${NS_LIST[@]}"; do
		ip netns pids "$ns" 2>/dev/null | xargs -r kill 2>/dev/null
		ip netns del "$ns" 2>/dev/null
	done
	NFQ_VERDICT=${NFQ_VERDICT:-$V6G_BUILD_DIR/selftests/nfq_verdict}
NS_LIST=()
}

# busywait TIMEOUT_MS CMD...: retry CMD until it succeeds or time runs out.
busywait() {
	local timeout_ms=$1 start now
	shift
	start=$(date +%s%3N)
	while true; do
		"$@" && return 0
		now=$(date +%s%3N)
		[ $((now - start)) -ge "$timeout_ms" ] && return 1
		sleep 0.1
	done
}

kmodctl() { "$KMODCTL" "$@"; }

module_loaded() { [ -d /sys/module/v6guard ]; }

load_module() {
	module_loaded && return 0
	modprobe -q bridge 2>/dev/null
	insmod "${V6G_KO:-$V6G_ROOT/kmod/v6guard.ko}"
}

# Lab: bridge namespace "br" with a bridge br0 and one veth port per
# endpoint namespace; endpoint side is eth0. Sets <ns>_port (bridge-side
# name), <ns>_ifindex and <ns>_mac.
lab_bridge() {
	setup_ns br || return 1
	ip -n "$br" link add br0 type bridge mcast_snooping 0
	# The bridge itself stays silent: no RS/MLD of its own on the ports.
	ip netns exec "$br" sysctl -qw net.ipv6.conf.br0.disable_ipv6=1
	ip -n "$br" link set br0 up
}

lab_attach() {
	local nsvar=$1 ns port
	setup_ns "$nsvar" || return 1
	ns=${!nsvar}
	port="p-$nsvar"
	# No DAD: addresses are usable at once and DAD NS don't muddy counters.
	ip netns exec "$ns" sysctl -qw net.ipv6.conf.default.accept_dad=0 \
		net.ipv6.conf.all.accept_dad=0
	ip link add "$port" netns "$br" type veth peer name eth0 netns "$ns"
	ip -n "$br" link set "$port" master br0 up
	ip -n "$ns" link set eth0 up
	eval "${nsvar}_port=$port"
	eval "${nsvar}_ifindex=$(ip -n "$br" -o link show "$port" | cut -d: -f1)"
	eval "${nsvar}_mac=$(ip -n "$ns" -o link show eth0 | sed -n 's/.*link\/ether \([0-9a-f:]*\).*/\1/p')"
}

# counter NS IFNAME REASON: packets counted by the module for a port/reason.
counter() {
	ip netns exec "$1" "$KMODCTL" counter "$2" "$3"
}

# snmp6 NS FIELD: an ICMPv6/UDP6 statistic as the namespace's stack saw it.
snmp6() {
	ip netns exec "$1" awk -v f="$2" '$1 == f { print $2 }' /proc/net/snmp6
}

# static_neigh NS ADDR MAC: skip ND (which the module punts) for data tests.
static_neigh() {
	ip -n "$1" -6 neigh replace "$2" lladdr "$3" dev eth0 nud permanent
}

# rx_frames NS: frames the namespace's eth0 received (what crossed the bridge).
rx_frames() {
	ip netns exec "$1" cat /sys/class/net/eth0/statistics/rx_packets
}
