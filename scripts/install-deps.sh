#!/usr/bin/env bash
# Install everything v6guard needs on Debian 12, idempotently.
# Packages already present are skipped, so a second run costs one dpkg query.
set -euo pipefail

packages=(
	# build
	build-essential cmake pkg-config clang clang-format clang-tidy
	libclang-rt-14-dev llvm lld
	# userspace libraries
	libmnl-dev libnetfilter-queue-dev libnftables-dev libprotobuf-dev
	protobuf-compiler libboost-program-options-dev libgtest-dev libgmock-dev
	libbenchmark-dev libsqlite3-dev libpcap-dev libcpp-httplib-dev libjemalloc-dev
	# kernel module and QEMU selftests
	kmod cpio busybox-static qemu-system-x86 linux-headers-amd64
	# network lab, peers and attackers
	iproute2 nftables iptables radvd ndisc6 thc-ipv6 ipv6toolkit tcpdump
	iperf3 iputils-ping python3-scapy curl jq socat bc isc-dhcp-client
	# datapath benchmark packet generator (trafgen; the host can't load pktgen)
	netsniff-ng
)

missing=()
for p in "${packages[@]}"; do
	dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null | grep -qx installed ||
		missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
	echo "install-deps: all ${#packages[@]} packages present"
	exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
	echo "install-deps: missing ${missing[*]}; run as root" >&2
	exit 1
fi

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends "${missing[@]}"
# radvd is a lab peer only: never leave it running on the host.
systemctl disable --now radvd >/dev/null 2>&1 || true
