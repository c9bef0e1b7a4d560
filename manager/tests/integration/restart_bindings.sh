#!/bin/bash
# A v6guardd restart (kill -9, the nft fast path keeps its bindings set) must
# not forget the bindings it had learnt: the VMs do not run DAD again, so the
# restarted inspector has to take them back from the fast path (commit
# 102c19f). Checked with real ND: after flushing both VMs' neighbour caches,
# vm2 pings vm1's SLAAC address (NS/NA from SLAAC sources are punted to the
# inspector and must pass), and a spoofed NA for vm1's address from vm3
# (atk6-fake_advertise6) is still dropped.
# Without the restore (a v6guardd older than 102c19f) the ping fails.
set -u
SRC=${V6G_SOURCE_DIR:-$(cd "$(dirname "$0")/../../.." && pwd)}
. "$SRC/scripts/lab.sh"
lab_test_require radvd tcpdump nft ip6tables atk6-fake_advertise6
cleanup() { lab_daemon_stop; lab_down; }
trap cleanup EXIT INT TERM

lab_up || { echo "not ok - lab setup"; exit 1; }
RTR_LL=$(ip -n $LAB_RTR -6 addr show dev eth0 scope link | awk '/inet6/{sub("/.*","",$2);print $2}')
start_daemon() {  # $1: log file
  lab_daemon_start "$1" --datapath nft --port $LAB_P_RTR:router \
    --ra-source $LAB_P_RTR,$RTR_LL --ra-prefix $LAB_P_RTR,$LAB_PREFIX \
    --port $LAB_P_VM1:vm --port $LAB_P_VM2:vm --port $LAB_P_VM3:vm --learn-prefix $LAB_PREFIX \
    --no-api
}
start_daemon $LAB_TMP/v6guardd.log || { echo "not ok - v6guardd start"; exit 1; }
# Bindings are learnt from DAD: bring the VM links up now the guard listens.
for ns in $LAB_VM1 $LAB_VM2 $LAB_VM3; do ip -n $ns link set eth0 down; ip -n $ns link set eth0 up; done
lab_radvd_start
if lab_wait_slaac $LAB_VM1 && lab_wait_slaac $LAB_VM2 && lab_wait_slaac $LAB_VM3; then
  ok "radvd SLAAC: vm1..vm3 have addresses"
else fail "radvd SLAAC"; fi
VM1_ADDR=$(lab_global_addr $LAB_VM1) VM2_ADDR=$(lab_global_addr $LAB_VM2)

bound() {  # the nft fast path holds (port, MAC, address)
  ip netns exec $LAB_BR nft list set bridge v6guard bindings 2>/dev/null | grep -q "\"$1\" . $2 . $3"
}
both_bound() { bound $LAB_P_VM1 $LAB_MAC_VM1 "$VM1_ADDR" && bound $LAB_P_VM2 $LAB_MAC_VM2 "$VM2_ADDR"; }
for _ in $(seq 1 30); do both_bound && break; sleep 0.2; done
both_bound && ok "vm1's and vm2's SLAAC bindings learnt (in the nft set)" || fail "SLAAC bindings not learnt"
ping_ok() { ip netns exec "$1" ping -6 -c 2 -i 0.2 -W 2 "$2" >/dev/null; }
ping_ok $LAB_VM2 "$VM1_ADDR" && ok "ping vm2 -> vm1 before the restart" || fail "ping vm2 -> vm1 before the restart"

# --- kill -9 and restart: no VM runs DAD in between.
lab_daemon_stop KILL
start_daemon $LAB_TMP/v6guardd2.log && ok "v6guardd restarted after kill -9" || fail "v6guardd restart"
both_bound && ok "bindings still in the fast path after the restart" || fail "bindings lost from the fast path"

# ND from the SLAAC addresses must go through the restarted inspector.
flush_neigh() { for ns in $LAB_VM1 $LAB_VM2; do ip -n $ns -6 neigh flush dev eth0; done; }
flush_neigh
ND="icmp6 and (ip6[40] == 135 or ip6[40] == 136) and not src host ::"
ip netns exec $LAB_VM2 timeout 6 tcpdump -nni eth0 -w $LAB_TMP/nd.pcap "$ND" 2>/dev/null &
tp=$!
sleep 0.8
ping_ok $LAB_VM2 "$VM1_ADDR" && ping_ok $LAB_VM1 "$VM2_ADDR" && p=1 || p=0
kill $tp 2>/dev/null; wait $tp 2>/dev/null
na_from_vm1=$(tcpdump -nnr $LAB_TMP/nd.pcap "ether src $LAB_MAC_VM1 and src host $VM1_ADDR" 2>/dev/null | wc -l)
mac=$(ip -n $LAB_VM2 -6 neigh show "$VM1_ADDR" dev eth0 | awk '{for(i=1;i<NF;i++) if($i=="lladdr") print $(i+1)}')
[ "$p" = 1 ] && [ "$na_from_vm1" -gt 0 ] && [ "$mac" = "$LAB_MAC_VM1" ] &&
  ok "after the restart, ND from the SLAAC addresses passes: ping both ways ($na_from_vm1 ND frames from vm1's address reached vm2)" ||
  fail "after the restart, ND from the SLAAC addresses is dropped (ping ok=$p, ND frames from vm1's address at vm2: $na_from_vm1, vm1 resolves to ${mac:-nothing})"

# --- a spoofed NA for vm1's address from vm3 is still dropped.
ip netns exec $LAB_VM2 timeout 6 tcpdump -nni eth0 -w $LAB_TMP/spoof.pcap \
  "ether src $LAB_MAC_VM3 and icmp6 and ip6[40] == 136" 2>/dev/null &
tp=$!
sleep 0.8
ip netns exec $LAB_VM3 timeout 4 atk6-fake_advertise6 -n 3 -w 1 eth0 "$VM1_ADDR" >/dev/null 2>&1
sleep 0.5
kill $tp 2>/dev/null; wait $tp 2>/dev/null
seen=$(tcpdump -nnvr $LAB_TMP/spoof.pcap 2>/dev/null | grep -c "tgt is $VM1_ADDR")
mac=$(ip -n $LAB_VM2 -6 neigh show "$VM1_ADDR" dev eth0 | awk '{for(i=1;i<NF;i++) if($i=="lladdr") print $(i+1)}')
[ "$seen" -eq 0 ] && [ "$mac" = "$LAB_MAC_VM1" ] &&
  ok "atk6-fake_advertise6 for vm1's address after the restart: stopped" ||
  fail "atk6-fake_advertise6 after the restart: victim saw $seen forged NAs; vm1's address resolves to ${mac:-nothing}"
sed -n '/inspector:/p' $LAB_TMP/v6guardd2.log | sed 's/^/# /'
lab_test_done
