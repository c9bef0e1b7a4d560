#!/bin/bash
# Host programming end to end, in network namespaces only: v6g-hostctl builds
# tenant bridges/ports in a "host" namespace; VMs and the uplink router are
# namespaces behind veths (adopted ports: a tap without a VMM has no carrier).
# Checks: VLAN separation, strict isolation, firewall (allowed TCP port passes,
# other port dropped, ND still works), packet-rate and bandwidth limits
# (measured), tap ownership, remove leaves nothing, rollback leaves nothing.
set -u
BUILD=${V6G_BUILD_DIR:-build}
HOSTCTL=$BUILD/manager/host/v6g-hostctl
[ -x "$HOSTCTL" ] || { echo "SKIP: $HOSTCTL not built"; exit 4; }
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root"; exit 4; }
for tool in ip nft socat ndisc6 iperf3 ping jq timeout tcpdump; do
  command -v $tool >/dev/null || { echo "SKIP: $tool missing"; exit 4; }
done

SUF="$RANDOM$RANDOM"
H="v6g-$SUF-host"; UP="v6g-$SUF-up"; VM1="v6g-$SUF-vm1"; VM2="v6g-$SUF-vm2"; VM3="v6g-$SUF-vm3"
ALL_NS="$H $UP $VM1 $VM2 $VM3"
cleanup() {
  for ns in $ALL_NS; do ip netns pids "$ns" 2>/dev/null | xargs -r kill 2>/dev/null; done
  for ns in $ALL_NS; do ip netns del "$ns" 2>/dev/null; done
}
trap cleanup EXIT

. "$(dirname "$0")/../../../scripts/lab.sh"  # ok, fail, check, busywait, lab_test_done
n=0 failed=0
hc() { ip netns exec "$H" "$HOSTCTL" "$@"; }

for ns in $ALL_NS; do ip netns add "$ns"; ip -n "$ns" link set lo up; done
# VM/uplink side: eth0 with a static address (nodad keeps the test fast).
addr_of() { case $1 in up) echo 2001:db8:10::1;; vm1) echo 2001:db8:10::11;; vm2) echo 2001:db8:10::12;; vm3) echo 2001:db8:10::13;; esac; }
for v in up vm1 vm2 vm3; do
  ns="v6g-$SUF-$v"
  ip -n "$H" link add "h-$v" type veth peer name eth0 netns "$ns"
  ip -n "$ns" link set eth0 up
  ip -n "$ns" addr add "$(addr_of $v)/64" dev eth0 nodad
  ip netns exec "$ns" sysctl -qw net.ipv6.conf.eth0.accept_ra=0
done
ping6_ok() { ip netns exec "$1" ping -c1 -W1 -q "$2" >/dev/null 2>&1; }
ping6_fails() { ! ip netns exec "$1" ping -c2 -i0.2 -W1 -q "$2" >/dev/null 2>&1; }

echo "# kernel capabilities"
hc caps
MODE=$(hc caps | awk '/vlan_mode_auto/ {print $2}')

echo "# 1. VLANs: vm1, vm2 and the uplink on vlan 10, vm3 on vlan 20 (mode: $MODE)"
for p in "h-up 10" "h-vm1 10" "h-vm2 10" "h-vm3 20"; do
  set -- $p
  hc apply --bridge brt --port "$1" --adopt --vlan "$2" >/dev/null || fail "apply $1"
done
check "same vlan passes (vm1 -> vm2)" busywait 3000 ping6_ok "$VM1" "$(addr_of vm2)"
check "same vlan passes (vm1 -> uplink)" busywait 3000 ping6_ok "$VM1" "$(addr_of up)"
check "different vlan blocked (vm1 -> vm3)" ping6_fails "$VM1" "$(addr_of vm3)"
check "different vlan blocked (vm3 -> uplink)" ping6_fails "$VM3" "$(addr_of up)"

echo "# 2. strict isolation on vm1 and vm2 (re-apply with --isolated)"
for p in h-vm1 h-vm2; do hc apply --bridge brt --port $p --adopt --vlan 10 --isolated >/dev/null || fail "isolate $p"; done
ip netns exec "$VM1" ip -6 neigh flush dev eth0
check "isolated ports can't talk (vm1 -> vm2)" ping6_fails "$VM1" "$(addr_of vm2)"
check "isolated port reaches uplink (vm1 -> up)" busywait 3000 ping6_ok "$VM1" "$(addr_of up)"
check "isolated port reaches uplink (vm2 -> up)" ping6_ok "$VM2" "$(addr_of up)"
out=$(hc apply --bridge brt --port h-vm1 --adopt --vlan 10 --isolated)
check "re-apply is a no-op" grep -q "changed 0$" <<<"$out"

echo "# 3. firewall on vm1: only tcp/8080 in, ND always"
hc apply --bridge brt --port h-vm1 --adopt --vlan 10 --isolated --log-group 7 \
  --ingress "allow tcp from 2001:db8:10::/64 to any port 8080" >/dev/null || fail "apply firewall"
# log_security_events: denied packets reach NFLOG group 7 with the reason as prefix.
NFLOG_PCAP=$(mktemp /tmp/v6g-host-nflog.XXXXXX)
ip netns exec "$H" timeout 10 tcpdump -i nflog:7 -c 1 -U -w "$NFLOG_PCAP" 2>/dev/null &
TCPDUMP_PID=$!
sleep 1
for port in 8080 8081; do
  ip netns exec "$VM1" socat -u TCP6-LISTEN:$port,fork,reuseaddr OPEN:/dev/null &
done
listening() { ip netns exec "$VM1" ss -ltn | grep -q ":$1 "; }
busywait 3000 listening 8080 && busywait 3000 listening 8081
tcp_to_vm1() { echo hi | ip netns exec "$UP" timeout 3 socat -u - "TCP6:[$(addr_of vm1)]:$1,connect-timeout=2" 2>/dev/null; }
check "allowed tcp port 8080 passes" tcp_to_vm1 8080
check "tcp port 8081 dropped" eval '! tcp_to_vm1 8081'
wait $TCPDUMP_PID
check "denied packet logged to nflog group 7 as firewall_deny" grep -qa "v6g:firewall_deny:h-vm1:out" "$NFLOG_PCAP"
rm -f "$NFLOG_PCAP"
ip netns exec "$UP" ip -6 neigh flush dev eth0
check "ND still works through the firewall (ndisc6 up -> vm1)" \
  ip netns exec "$UP" ndisc6 -1 -r 2 -w 500 "$(addr_of vm1)" eth0
check "icmp echo to vm1 dropped (no rule)" ping6_fails "$UP" "$(addr_of vm1)"
drops=$(ip netns exec "$H" nft list chain bridge v6guard_fw out_h-vm1 | awk '/counter/ && /drop/ && !/limit/ {for (i=1;i<=NF;i++) if ($i=="packets") p=$(i+1)} END {print p+0}')
check "default-deny counter counted the drops ($drops)" test "$drops" -gt 0

echo "# 4. rate limits on vm2: 50 packets/s, 10 Mbit/s"
hc apply --bridge brt --port h-vm2 --adopt --vlan 10 --isolated --packet-rate 50 \
  --ingress "allow any from any to any" --egress "allow any from any to any" >/dev/null || fail "apply packet rate"
# Packet mode starts with only the burst (5) in the bucket: expect ~50*3+5.
ping_out=$(ip netns exec "$UP" ping -q -i 0.003 -w 3 -W 1 "$(addr_of vm2)" 2>&1 | grep transmitted)
sent=$(awk '{print $1}' <<<"$ping_out"); got=$(awk '{print $4}' <<<"$ping_out")
echo "# ping for 3 s: sent $sent, answered $got (limit 50/s + burst 5 => ~155)"
check "packet rate limit holds (got $got of $sent)" test "$sent" -ge 300 -a "$got" -ge 110 -a "$got" -le 200
hc apply --bridge brt --port h-vm2 --adopt --vlan 10 --isolated --bandwidth-mbps 10 \
  --ingress "allow any from any to any" --egress "allow any from any to any" >/dev/null || fail "apply bandwidth"
ip netns exec "$VM2" iperf3 -s -1 -D -B "$(addr_of vm2)" >/dev/null 2>&1
busywait 3000 eval 'ip netns exec "$VM2" ss -ltn | grep -q ":5201 "'
# A byte-mode nft limit starts with a full second (+burst) of credit; -O 2
# leaves that warm-up out, so the 3 s measured are the steady state.
mbps=$(ip netns exec "$UP" timeout 20 iperf3 -6 -c "$(addr_of vm2)" -u -b 40M -l 1200 -t 3 -O 2 -J \
  2>/dev/null | jq '.end.sum_received.bits_per_second / 1e6 | floor')
echo "# udp at 40 Mbit/s through a 10 Mbit/s limit: receiver got ${mbps:-?} Mbit/s"
check "bandwidth limit holds (${mbps:-?} Mbit/s)" test "${mbps:-0}" -ge 8 -a "${mbps:-99}" -le 11

echo "# 5. taps: persistent, owned by the VMM user"
hc apply --bridge brt2 --port tapo --owner 1234 --group 2345 >/dev/null || fail "apply tap"
check "tap owner uid" test "$(ip netns exec "$H" cat /sys/class/net/tapo/owner)" = 1234
check "tap group gid" test "$(ip netns exec "$H" cat /sys/class/net/tapo/group)" = 2345
check "tap is enslaved to brt2" eval 'ip -n "$H" -d link show tapo | grep -q "master brt2"'

echo "# 6. remove leaves nothing we created"
hc remove --bridge brt2 --port tapo >/dev/null || fail "remove tapo"
for p in "h-up 10" "h-vm1 10" "h-vm2 10" "h-vm3 20"; do
  set -- $p
  hc remove --bridge brt --port "$1" --vlan "$2" >/dev/null || fail "remove $1"
done
links=$(ip -n "$H" -o link show | awk -F': ' '{print $2}' | sed 's/@.*//' | sort | tr '\n' ' ')
check "only lo and the adopted veths remain ($links)" test "$links" = "h-up h-vm1 h-vm2 h-vm3 lo "
check "no port is enslaved any more" eval '! ip -n "$H" -d link show | grep -q "master "'
check "nft ruleset has no v6guard objects" eval '! ip netns exec "$H" nft list ruleset | grep -q v6guard'

echo "# 7. rollback: the port name is taken by a bridge"
ip -n "$H" link add tapx type bridge
out=$(hc apply --bridge brr --port tapx --egress "allow tcp from any to any port 22" 2>&1)
check "apply fails" test $? -ne 0
echo "# $(grep failed: <<<"$out")"
check "tenant bridge brr rolled back" eval '! ip -n "$H" link show brr >/dev/null 2>&1'
check "pre-existing tapx untouched" ip -n "$H" link show tapx
check "no firewall left" eval '! ip netns exec "$H" nft list ruleset | grep -q v6guard'
out=$(hc apply --bridge brr --port tapn --vlan 10 --isolated --packet-rate 5 --inject-failure-at 5 2>&1)
check "injected failure at step 5 fails" test $? -ne 0
check "injected failure leaves nothing" eval '! ip -n "$H" link show brr >/dev/null 2>&1 && ! ip -n "$H" link show brrv10 >/dev/null 2>&1 && ! ip -n "$H" link show tapn >/dev/null 2>&1'

lab_test_done
