#!/bin/bash
# Regenerates manager/tests/data/explain/vm_dad_ping.pcap for cli_explain_test:
# what a VM (02:00:00:00:0a:01) puts on its port when it configures
# 2001:db8:1::5/64 (DAD), pings its neighbour, then pings from an address it
# never claimed (2001:db8:1::66, nodad). Only the VM's own frames are kept,
# as the bridge port would see them. Root; touches only its own netns.
# Usage: scripts/demo/capture-dad-ping.sh OUT.pcap
set -e
[ -n "${1:-}" ] || { echo "usage: $0 OUT.pcap" >&2; exit 2; }
T=v6gx$RANDOM; A=$T-a; B=$T-b
trap 'ip netns del $A 2>/dev/null; ip netns del $B 2>/dev/null' EXIT
ip netns add $A; ip netns add $B
ip -n $A link add eth0 address 02:00:00:00:0a:01 type veth peer name eth0 netns $B address 02:00:00:00:0b:01
for n in $A $B; do ip netns exec $n sysctl -qw net.ipv6.conf.eth0.accept_ra=0; ip -n $n link set lo up; done
ip netns exec $A sysctl -qw net.ipv6.conf.eth0.dad_transmits=1 net.ipv6.conf.eth0.accept_dad=1
ip netns exec $B sysctl -qw net.ipv6.conf.eth0.accept_dad=0
ip -n $B link set eth0 up; ip -n $B addr add 2001:db8:1::1/64 dev eth0 nodad
ip netns exec $B tcpdump -q -U --immediate-mode -i eth0 -s 2048 -w $1 "ip6 and ether src 02:00:00:00:0a:01" 2>/dev/null &
P=$!; sleep 1
ip -n $A link set eth0 up
ip -n $A addr add 2001:db8:1::5/64 dev eth0
sleep 2.5
ip netns exec $A ping -6 -c 2 -i 0.3 2001:db8:1::1 >/dev/null
# spoofed source after the binding exists
ip -n $A addr add 2001:db8:1::66/64 dev eth0 nodad
ip netns exec $A ping -6 -c 1 -I 2001:db8:1::66 2001:db8:1::1 >/dev/null || true
sleep 1; kill $P; wait $P 2>/dev/null || true
