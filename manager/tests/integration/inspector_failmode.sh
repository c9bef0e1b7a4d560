#!/bin/bash
# Explicit fail mode of the nft datapath's punts when the inspector is gone
# (v6guardd killed with SIGKILL: rules stay, queues are unbound):
#   - bound traffic keeps flowing on the fast path either way;
#   - fail-closed ports (default): ND punts are dropped -> new neighbour
#     resolution fails; radvd's RAs (router port, always fail-closed) are dropped;
#   - --fail-open: ND/unknown-source punts bypass the dead queue -> neighbour
#     resolution works; RAs are still dropped.
# And --monitor (log-only): a rogue RA from a VM port reaches the victim, and
# the violation is reported as an event.
set -u
SRC=${V6G_SOURCE_DIR:-$(cd "$(dirname "$0")/../../.." && pwd)}
. "$SRC/scripts/lab.sh"
lab_test_require radvd tcpdump nft ip6tables atk6-fake_router26
cleanup() { lab_daemon_stop KILL; lab_down; }
trap cleanup EXIT INT TERM

run_mode() {  # closed | open
  local mode=$1 extra=
  [ "$mode" = open ] && extra=--fail-open
  LAB_ID= lab_up || { fail "lab setup"; return; }
  lab_daemon_start $LAB_TMP/d.log --datapath nft --no-api --port $LAB_P_RTR:router \
    --port $LAB_P_VM1:vm --port $LAB_P_VM2:vm --learn-prefix $LAB_PREFIX $extra ||
    fail "$mode: v6guardd start"
  for ns in $LAB_VM1 $LAB_VM2; do ip -n $ns link set eth0 down; ip -n $ns link set eth0 up; done
  lab_radvd_start
  lab_wait_slaac $LAB_VM1 && lab_wait_slaac $LAB_VM2 || fail "$mode: SLAAC"
  local a1 a2
  a1=$(lab_global_addr $LAB_VM1) a2=$(lab_global_addr $LAB_VM2)
  # Both global addresses learned into the fast path before the kill.
  local set_text
  for _ in $(seq 1 40); do
    set_text=$(ip netns exec $LAB_BR nft list set bridge v6guard bindings)
    echo "$set_text" | grep -q " . $a1" && echo "$set_text" | grep -q " . $a2" && break
    sleep 0.2
  done
  echo "$set_text" | grep -q " . $a1" && echo "$set_text" | grep -q " . $a2" ||
    fail "$mode: bindings not learned before the kill"
  ip netns exec $LAB_VM2 ping -6 -c 2 -i 0.2 -W 2 "$a1" >/dev/null || fail "$mode: ping before the kill"
  lab_daemon_stop KILL
  ip netns exec $LAB_VM2 ping -6 -c 2 -i 0.2 -W 2 "$a1" >/dev/null &&
    ok "$mode: inspector killed, bound traffic still flows (fast path)" ||
    { fail "$mode: bound traffic stopped with the inspector"; ip -n $LAB_VM2 -6 neigh | sed 's/^/#   /'
      echo "$set_text" | sed 's/^/#   /'; }
  ip -n $LAB_VM2 -6 neigh flush dev eth0
  ip -n $LAB_VM1 -6 neigh flush dev eth0
  local resolved=0
  ip netns exec $LAB_VM2 ping -6 -c 2 -i 0.3 -W 2 "$a1" >/dev/null && resolved=1
  if [ "$mode" = open ]; then
    [ $resolved = 1 ] && ok "open: ND bypasses the dead queue (neighbour resolution works)" ||
      fail "open: ND did not bypass the dead queue"
  else
    [ $resolved = 0 ] && ok "closed: ND punts are dropped without the inspector" ||
      fail "closed: ND got through without the inspector"
  fi
  ip netns exec $LAB_VM2 timeout 9 tcpdump -nni eth0 -c 1 "icmp6 and ip6[40] == 134" >$LAB_TMP/ra.txt 2>/dev/null
  grep -q "router advertisement" $LAB_TMP/ra.txt && fail "$mode: an RA passed without the inspector" ||
    ok "$mode: RAs from the router port fail closed (none in 9 s, radvd sends every 3-4 s)"
  lab_down
}
run_monitor() {
  LAB_ID= lab_up || { fail "lab setup"; return; }
  lab_daemon_start $LAB_TMP/d.log --datapath nft --no-api --monitor --port $LAB_P_RTR:router \
    --port $LAB_P_VM1:vm --port $LAB_P_VM2:vm --port $LAB_P_VM3:vm --learn-prefix $LAB_PREFIX \
    --events $LAB_TMP/events.jsonl || fail "monitor: v6guardd start"
  ip netns exec $LAB_VM2 timeout 5 tcpdump -nni eth0 -w $LAB_TMP/ra.pcap "icmp6 and ip6[40] == 134 and ether src $LAB_MAC_VM3" 2>/dev/null &
  local tp=$!
  sleep 0.8
  ip netns exec $LAB_VM3 timeout 3 atk6-fake_router26 -n 2 -i 1 -A 2001:db8:e0::/64 eth0 >/dev/null 2>&1
  sleep 0.8
  kill $tp 2>/dev/null; wait $tp 2>/dev/null
  lab_daemon_stop
  local seen
  seen=$(tcpdump -nnr $LAB_TMP/ra.pcap 2>/dev/null | wc -l)
  [ "$seen" -gt 0 ] && ok "monitor: the rogue RA is not dropped ($seen reached vm2)" || fail "monitor: the rogue RA was dropped"
  grep -q '"ra_from_vm_port"' $LAB_TMP/events.jsonl && grep -q '"monitor"' $LAB_TMP/events.jsonl &&
    ok "monitor: reported as a monitor event (ra_from_vm_port)" ||
    { fail "monitor: no ra_from_vm_port monitor event"; head -3 $LAB_TMP/events.jsonl | sed 's/^/#   /'; }
  lab_down
}
run_mode closed
run_mode open
run_monitor
lab_test_done
