#!/bin/bash
# VmHostProgrammer end to end: whole VMs (vmprovisioner.v1.VmConfig JSON, as
# the API stores them) programmed with `v6g-hostctl vm-program` into a "host"
# namespace. VMs and tenant routers are namespaces behind veths whose host ends
# are adopted ports (options.tap_mode = adopt; a tap without a VMM has no
# carrier). Everything runs in namespaces this script creates and deletes.
#
# Checks: tenant isolation (tcpdump: no frame of tenant A on tenant B's side),
# strict port isolation (VM to VM blocked, router reachable), firewall from
# ingress_rules/egress_rules (TCP via iperf3 and socat, UDP via socat, default
# deny, ND under default deny, NFLOG for log_security_events), allowed
# destinations, bandwidth_limit_mbps and packet_rate_limit measured with
# iperf3, created vs adopted taps, idempotent re-apply (nothing changes,
# identical ruleset), rollback (name collision, injected failures: nothing of
# the call left, earlier VMs untouched), cleanup after unprogram.
set -u
BUILD=${V6G_BUILD_DIR:-build}
HOSTCTL=$BUILD/manager/host/v6g-hostctl
[ -x "$HOSTCTL" ] || { echo "SKIP: $HOSTCTL not built"; exit 4; }
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root"; exit 4; }
for tool in ip nft socat ndisc6 iperf3 ping jq timeout tcpdump bridge; do
  command -v $tool >/dev/null || { echo "SKIP: $tool missing"; exit 4; }
done

SUF="$RANDOM$RANDOM"
H="v6g-$SUF-host"
NAMES="a1 a2 ra b1 b2 rb"
ALL_NS="$H"; for v in $NAMES; do ALL_NS="$ALL_NS v6g-$SUF-$v"; done
TMP=$(mktemp -d /tmp/v6g-host-vm.XXXXXX)
cleanup() {
  for ns in $ALL_NS; do ip netns pids "$ns" 2>/dev/null | xargs -r kill 2>/dev/null; done
  for ns in $ALL_NS; do ip netns del "$ns" 2>/dev/null; done
  rm -rf "$TMP"
}
trap cleanup EXIT

. "$(dirname "$0")/../../../scripts/lab.sh"  # ok, fail, check, busywait, lab_test_done
n=0 failed=0
ns() { echo "v6g-$SUF-$1"; }
in_ns() { local n=$1; shift; ip netns exec "$(ns "$n")" "$@"; }
hc() { ip netns exec "$H" "$HOSTCTL" "$@"; }

addr_of() {
  case $1 in
    ra) echo 2001:db8:a::1;; a1) echo 2001:db8:a::11;; a2) echo 2001:db8:a::12;;
    rb) echo 2001:db8:b::1;; b1) echo 2001:db8:b::11;; b2) echo 2001:db8:b::12;;
  esac
}
ip netns add "$H"; ip -n "$H" link set lo up
for v in $NAMES; do
  ip netns add "$(ns $v)"; ip -n "$(ns $v)" link set lo up
  ip -n "$H" link add "h-$v" type veth peer name eth0 netns "$(ns $v)"
  ip -n "$(ns $v)" link set eth0 up
  ip -n "$(ns $v)" addr add "$(addr_of $v)/64" dev eth0 nodad
  in_ns $v sysctl -qw net.ipv6.conf.eth0.accept_ra=0
done
ip -n "$(ns rb)" addr add 2001:db8:bf::1/64 dev eth0 nodad  # outside b2's allowed destinations
ip -n "$(ns b2)" route add 2001:db8:bf::/64 dev eth0
ip -n "$(ns a2)" route add 2001:db8:b::/64 dev eth0       # make a2 try tenant B on-link
mac_of() { ip -n "$(ns $1)" -j link show eth0 | jq -r '.[0].address'; }

# ---- VM configs (JSON mapping of vmprovisioner.v1.VmConfig) ----
# nic <tap> <bridge> <vlan> <security_policy JSON> [options JSON]
nic() {
  local opt=${5:-}
  [ -n "$opt" ] || opt='{}'
  jq -cn --arg tap "$1" --arg br "$2" --arg vlan "$3" --argjson sp "$4" --argjson opt "$opt" \
    '{id: "eth0", tap_device: $tap, bridge_name: $br, vlan_id: $vlan, options: $opt,
      ipv6: {security: {enable_mld_snooping: true}}, security_policy: $sp}'
}
vm_config() {  # vm_config <name> <tenant> <nic JSON>...
  local name=$1 tenant=$2; shift 2
  printf '%s\n' "$@" | jq -s --arg t "$tenant" \
    '{tenant_id: $t, network: (to_entries | map(.value + {id: ("eth" + (.key | tostring))}))}' \
    >"$TMP/$name.json"
}
ADOPT='{"tap_mode":"adopt"}'
vm_config a1 tenant-a "$(nic h-a1 br-a 100 '{"tenant_isolation_level":"strict","log_security_events":true,
  "ingress_rules":["allow tcp from any to any port 8080","allow udp from 2001:db8:a::/64 to any port 7000"],
  "egress_rules":["allow tcp from any to any port 80","deny all from any to any"]}' "$ADOPT")"
vm_config a2 tenant-a "$(nic h-a2 br-a 100 '{"tenant_isolation_level":"strict"}' "$ADOPT")"
vm_config ra tenant-a "$(nic h-ra br-a 100 '{"tenant_isolation_level":"none"}' "$ADOPT")"
vm_config b1 tenant-b "$(nic h-b1 br-b 200 '{"bandwidth_limit_mbps":10}' "$ADOPT")"
vm_config b2 tenant-b "$(nic h-b2 br-b 200 '{"packet_rate_limit":500,
  "allowed_destinations":["2001:db8:b::/64"]}' "$ADOPT")"
vm_config rb tenant-b "$(nic h-rb br-b 200 '{}' "$ADOPT")"
program() { hc vm-program --config "$TMP/$1.json" --vm-id "$1" "${@:2}"; }
unprogram() { hc vm-unprogram --config "$TMP/$1.json" --vm-id "$1" "${@:2}"; }
snapshot() {  # links (name, kind, master, alias), port flags, and the ruleset without counters
  ip -n "$H" -d -j link show | jq -c 'map({n: .ifname, m: .master, a: .ifalias,
    k: .linkinfo.info_kind, iso: .linkinfo.info_slave_data.isolated,
    snoop: .linkinfo.info_data.mcast_snooping}) | sort_by(.n)'
  ip netns exec "$H" nft -s list ruleset
}

echo "# capabilities (as v6guardd shows them)"
hc caps | grep '^host\.'

echo "# 1. program six VMs for two tenants"
for vm in a1 a2 ra b1 b2 rb; do
  out=$(program $vm 2>&1) || { fail "program $vm: $out"; continue; }
  ok "program $vm ($(tail -1 <<<"$out"))"
done
BR_A=br-av100; BR_B=br-bv200
[ "$(hc caps | awk '/^vlan_mode_auto/ {print $2}')" = filtering ] && { BR_A=br-a; BR_B=br-b; }
master_of() { ip -n "$H" -j link show "$1" | jq -r '.[0].master'; }
check "tenant A ports on $BR_A, tenant B ports on $BR_B" eval \
  '[ "$(master_of h-a1)$(master_of h-a2)$(master_of h-ra)" = "$BR_A$BR_A$BR_A" ] &&
   [ "$(master_of h-b1)$(master_of h-b2)$(master_of h-rb)" = "$BR_B$BR_B$BR_B" ]'
check "MLD snooping on (enable_mld_snooping)" test \
  "$(ip -n "$H" -d -j link show $BR_A | jq '.[0].linkinfo.info_data.mcast_snooping')" = 1
isolated() { ip -n "$H" -d -j link show "$1" | jq -r '.[0].linkinfo.info_slave_data.isolated'; }
check "strict ports isolated, router port not" test "$(isolated h-a1)$(isolated h-a2)$(isolated h-ra)" = "truetruefalse"
check "adopted ports carry no ownership marker" test "$(ip -n "$H" -j link show h-a1 | jq -r '.[0].ifalias // ""')" = ""

ping_ok() { in_ns "$1" ping -c1 -W1 -q "$2" >/dev/null 2>&1; }
ping_fails() { ! in_ns "$1" ping -c2 -i0.2 -W1 -q "$2" >/dev/null 2>&1; }

echo "# 2. tenant isolation: tenant A floods, tenant B must see none of it"
capture_start() {  # capture_start <vm>: all frames on the VM's eth0
  # ip netns exec execs tcpdump, so $! is tcpdump itself (for the SIGINT below).
  ip netns exec "$(ns "$1")" tcpdump -i eth0 -U -n -w "$TMP/$1.pcap" 2>"$TMP/$1.tcpdump" &
  eval "CAP_$1=$!"
  busywait 3000 grep -q listening "$TMP/$1.tcpdump"
}
capture_stop() { local pid; eval "pid=\$CAP_$1"; sleep 0.3; kill -INT "$pid"; wait "$pid" 2>/dev/null; }
frames_from() {  # frames_from <capture vm> <source vm>...
  local cap=$1 filter="" m; shift
  for m in "$@"; do filter="${filter:+$filter or }ether src $(mac_of $m)"; done
  tcpdump -r "$TMP/$cap.pcap" -n "$filter" 2>/dev/null | wc -l
}
for vm in b1 rb a1 ra; do capture_start $vm; done
busywait 3000 ping_ok rb "$(addr_of b1)"  # tenant B's own traffic: the captures work
in_ns a2 ping -c5 -i0.2 -W1 -q ff02::1%eth0 >/dev/null 2>&1    # all-nodes multicast
in_ns ra ping -c5 -i0.2 -W1 -q ff02::1%eth0 >/dev/null 2>&1
in_ns a2 ping -c2 -i0.2 -W1 -q "$(addr_of b1)" >/dev/null 2>&1  # ND for a tenant B address
in_ns a2 ping -c2 -i0.2 -W1 -q "$(addr_of a1)" >/dev/null 2>&1  # strict: other VM unreachable
a2_to_ra=$(in_ns a2 ping -c3 -i0.2 -W1 -q "$(addr_of ra)" 2>&1 | awk '/received/ {print $4}')
for vm in b1 rb a1 ra; do capture_stop $vm; done
check "tenant B's captures work (rb -> b1 seen: $(frames_from b1 rb) frames)" test "$(frames_from b1 rb)" -gt 0
check "no frame from tenant A reached b1 ($(frames_from b1 a1 a2 ra))" test "$(frames_from b1 a1 a2 ra)" = 0
check "no frame from tenant A reached rb ($(frames_from rb a1 a2 ra))" test "$(frames_from rb a1 a2 ra)" = 0
check "strict: no frame from a2 reached a1 ($(frames_from a1 a2))" test "$(frames_from a1 a2)" = 0
check "strict: a2's frames reach the router ($(frames_from ra a2))" test "$(frames_from ra a2)" -gt 0
check "strict: a2 -> router works (${a2_to_ra:-0}/3 answered)" test "${a2_to_ra:-0}" -ge 2
check "strict: a2 -> a1 blocked" ping_fails a2 "$(addr_of a1)"
check "router -> a2 works" ping_ok ra "$(addr_of a2)"

echo "# 3. firewall on a1: ingress tcp/8080 + udp/7000 from 2001:db8:a::/64; egress tcp/80 only"
in_ns a1 iperf3 -s -1 -D -p 8080 -B "$(addr_of a1)" >/dev/null 2>&1
for port in 8081; do in_ns a1 socat -u TCP6-LISTEN:$port,fork,reuseaddr OPEN:/dev/null & done
for port in 80 81; do in_ns ra socat -u TCP6-LISTEN:$port,fork,reuseaddr OPEN:/dev/null & done
listening() { in_ns "$1" ss -ltn | grep -q ":$2 "; }
busywait 3000 listening a1 8080; busywait 3000 listening a1 8081
busywait 3000 listening ra 80; busywait 3000 listening ra 81
# log_security_events: the NFLOG reader the daemon uses (FirewallLogReader)
# prints the first denial it gets on group 6.
hc fw-log --log-group 6 --count 1 --timeout-ms 15000 >"$TMP/fwlog" 2>&1 &
NFLOG_PID=$!
busywait 3000 grep -q listening "$TMP/fwlog"
tcp_mbps=$(in_ns ra timeout 10 iperf3 -6 -c "$(addr_of a1)" -p 8080 -t 1 -J 2>/dev/null |
  jq '.end.sum_received.bits_per_second / 1e6 | floor' 2>/dev/null)
check "allowed tcp/8080 passes (iperf3 TCP ${tcp_mbps:-?} Mbit/s, replies by the stateless TCP rule)" \
  test "${tcp_mbps:-0}" -gt 0
tcp_to() { echo hi | in_ns "$1" timeout 3 socat -u - "TCP6:[$2]:$3,connect-timeout=2" 2>/dev/null; }
check "tcp/8081 to a1 dropped" eval '! tcp_to ra "$(addr_of a1)" 8081'
check "egress tcp/80 from a1 passes" tcp_to a1 "$(addr_of ra)" 80
check "egress tcp/81 from a1 dropped" eval '! tcp_to a1 "$(addr_of ra)" 81'
udp_count() {  # udp_count <port>: datagrams a1 receives of 10 sent by ra
  in_ns a1 timeout 3 socat -u UDP6-RECV:$1 - >"$TMP/udp$1" 2>/dev/null &
  local pid=$!
  busywait 2000 eval "in_ns a1 ss -lun | grep -q ':$1 '"
  for i in $(seq 10); do echo "d$i" | in_ns ra socat -u - "UDP6-SENDTO:[$(addr_of a1)]:$1"; sleep 0.02; done
  wait $pid 2>/dev/null
  grep -c '^d' "$TMP/udp$1"
}
got7000=$(udp_count 7000); got7001=$(udp_count 7001)
check "allowed udp/7000 passes ($got7000/10)" test "$got7000" = 10
check "udp/7001 dropped ($got7001/10)" test "$got7001" = 0
check "icmpv6 echo to a1 dropped (default deny)" ping_fails ra "$(addr_of a1)"
in_ns ra ip -6 neigh flush dev eth0
check "ND under default deny (ndisc6 router -> a1)" \
  eval 'in_ns ra ndisc6 -q -1 -r 2 -w 500 "$(addr_of a1)" eth0 >/dev/null'
wait $NFLOG_PID
echo "# $(tail -1 "$TMP/fwlog")"
check "log_security_events: the tcp/8081 SYN read back as a firewall_deny event" \
  grep -q "^firewall firewall_deny h-a1 to_vm src $(addr_of ra) dst $(addr_of a1) proto 6 mac $(mac_of ra)" "$TMP/fwlog"
drops=$(ip netns exec "$H" nft -j list chain bridge v6guard_fw out_h-a1 |
  jq '[.nftables[].rule? | select(. != null) | select(.expr | length == 2) | .expr[0].counter.packets] | add // 0')
check "default-deny counter counted the drops ($drops)" test "$drops" -gt 0

echo "# 4. allowed_destinations on b2: 2001:db8:b::/64 only"
check "b2 -> rb inside the allowed prefix" busywait 3000 ping_ok b2 "$(addr_of rb)"
check "b2 -> 2001:db8:bf::1 outside it dropped" ping_fails b2 2001:db8:bf::1

echo "# 5. rate limits measured with iperf3 (UDP)"
iperf_server() { in_ns rb iperf3 -s -1 -D -B "$(addr_of rb)" >/dev/null 2>&1; busywait 3000 listening rb 5201; }
iperf_server
# A byte-mode nft limit starts with a second (+burst) of credit: -O 2 leaves it out.
up=$(in_ns b1 timeout 20 iperf3 -6 -c "$(addr_of rb)" -u -b 40M -l 1200 -t 3 -O 2 -J 2>/dev/null |
  jq '.end.sum_received.bits_per_second / 1e6 * 10 | floor / 10')
echo "# b1 sends 40 Mbit/s through bandwidth_limit_mbps 10: rb received ${up:-?} Mbit/s"
check "bandwidth limit from the VM holds (${up:-?} Mbit/s)" \
  awk -v v="${up:-0}" 'BEGIN {exit !(v >= 8 && v <= 11)}'
iperf_server
down=$(in_ns b1 timeout 20 iperf3 -6 -c "$(addr_of rb)" -R -u -b 40M -l 1200 -t 3 -O 2 -J 2>/dev/null |
  jq '.end.sum_received.bits_per_second / 1e6 * 10 | floor / 10')
echo "# rb sends 40 Mbit/s to b1: b1 received ${down:-?} Mbit/s"
check "bandwidth limit to the VM holds (${down:-?} Mbit/s)" \
  awk -v v="${down:-0}" 'BEGIN {exit !(v >= 8 && v <= 11)}'
iperf_server
# 100-byte datagrams at 1.6 Mbit/s = 2000 packets/s against packet_rate_limit 500
# (burst 50): over 3 s about 1550 get through.
json=$(in_ns b2 timeout 20 iperf3 -6 -c "$(addr_of rb)" -u -b 1600k -l 100 -t 3 -J 2>/dev/null)
sent=$(jq '.end.sum.packets' <<<"$json"); lost=$(jq '.end.sum.lost_packets' <<<"$json")
got=$(( ${sent:-0} - ${lost:-0} )); pps=$(( got / 3 ))
echo "# b2 sent $sent packets in 3 s, rb received $got ($pps/s; limit 500/s + burst 50)"
check "packet rate limit holds ($pps/s)" test "${sent:-0}" -ge 5000 -a "$pps" -ge 420 -a "$pps" -le 580

echo "# 6. idempotent re-apply (a restart re-programs every VM)"
before=$(snapshot)
for vm in a1 a2 ra b1 b2 rb; do
  out=$(program $vm 2>&1)
  check "re-program $vm changes nothing" grep -q "changed 0$" <<<"$out"
done
after=$(snapshot)
check "links, port flags and ruleset identical after re-apply" test "$before" = "$after"

echo "# 7. created and adopted taps (vm c: a new tap for the VMM user, a VMM-made tap)"
ip -n "$H" tuntap add tapvmm mode tap
vm_config c tenant-c "$(nic tapc br-c 300 '{}')" "$(nic tapvmm br-c 300 '{}')"
out=$(program c --owner 1234 --group 2345 2>&1) || fail "program c: $out"
check "tap created, persistent, owned by the VMM user" eval \
  '[ "$(ip netns exec "$H" cat /sys/class/net/tapc/owner):$(ip netns exec "$H" cat /sys/class/net/tapc/group)" = 1234:2345 ]'
check "created tap carries the ownership marker" test "$(ip -n "$H" -j link show tapc | jq -r '.[0].ifalias')" = "v6guard:managed"
check "existing tap adopted into the bridge" test "$(master_of tapvmm)" = "$(master_of tapc)"

echo "# 8. rollback: a name collision midway leaves nothing of the call"
before=$(snapshot)
ip -n "$H" link add h-clash type bridge
vm_config x tenant-a "$(nic tapx1 br-a 100 '{"ingress_rules":["allow tcp from any to any port 22"]}')" \
  "$(nic tapx2 br-x 400 '{"packet_rate_limit":100}')" "$(nic h-clash br-x 400 '{}')"
out=$(program x 2>&1)
check "program x fails" test $? -ne 0
echo "# $(grep failed: <<<"$out")"
ip -n "$H" link del h-clash
check "nothing of x left, everything else unchanged" test "$before" = "$(snapshot)"
vm_config y tenant-d "$(nic tapy br-y 500 '{"ingress_rules":["allow tcp from any to any port 22"]}')"
program y --inject-firewall-failure >/dev/null 2>&1
check "injected firewall failure fails" test $? -ne 0
check "...and leaves nothing" test "$before" = "$(snapshot)"
program a1 --inject-failure-after-port 0 >/dev/null 2>&1
check "failing re-program of a1 fails" test $? -ne 0
check "...and keeps everything a1 had" test "$before" = "$(snapshot)"
check "a1 still reachable on tcp/8080 after that" eval \
  'in_ns a1 socat -u TCP6-LISTEN:8080,reuseaddr OPEN:/dev/null & busywait 3000 listening a1 8080 && tcp_to ra "$(addr_of a1)" 8080'

echo "# 9. unprogram removes exactly what program added"
for vm in c a1 a2 ra b1 b2 rb; do unprogram $vm >/dev/null || fail "unprogram $vm"; done
unprogram x >/dev/null || fail "unprogram of the failed x"  # what VmManager does after a failure
links=$(ip -n "$H" -o link show | awk -F': ' '{print $2}' | sed 's/@.*//' | sort | tr '\n' ' ')
check "only lo, the adopted veths and the VMM's tap remain ($links)" \
  test "$links" = "h-a1 h-a2 h-b1 h-b2 h-ra h-rb lo tapvmm "
check "nothing enslaved any more" eval '! ip -n "$H" -d link show | grep -q "master "'
check "nft ruleset has no v6guard objects" eval '! ip netns exec "$H" nft list ruleset | grep -q v6guard'
check "unprogram is idempotent" eval 'unprogram a1 >/dev/null'

lab_test_done
