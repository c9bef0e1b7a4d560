#!/bin/bash
# Explicit fail mode of the nft datapath's punts when the inspector is gone
# (v6guardd killed with SIGKILL: rules stay, queues are unbound):
#   - bound traffic keeps flowing on the fast path either way;
#   - fail-closed ports (default): ND punts are dropped -> new neighbour
#     resolution fails; radvd's RAs (router port, always fail-closed) are dropped;
#   - --fail-open: ND/unknown-source punts bypass the dead queue -> neighbour
#     resolution works; RAs are still dropped.
set -u
[ "$(id -u)" = 0 ] || { echo "# skip: needs root"; exit 4; }
for t in radvd tcpdump nft ip6tables; do command -v $t >/dev/null || { echo "# skip: $t missing"; exit 4; }; done
SRC=${V6G_SOURCE_DIR:-$(cd "$(dirname "$0")/../../.." && pwd)}
BUILD=${V6G_BUILD_DIR:-$SRC/build}
V6GUARDD=$BUILD/manager/daemon/v6guardd
[ -x "$V6GUARDD" ] || { echo "# skip: $V6GUARDD not built"; exit 4; }
. "$SRC/scripts/lab.sh"
DAEMON_PID=
cleanup() { [ -n "$DAEMON_PID" ] && kill -9 "$DAEMON_PID" 2>/dev/null; lab_down; }
trap cleanup EXIT INT TERM
n=0 failed=0
ok() { n=$((n + 1)); echo "ok $n - $*"; }
fail() { n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - $*"; }

run_mode() {  # closed | open
  local mode=$1 extra=
  [ "$mode" = open ] && extra=--fail-open
  LAB_ID= lab_up || { fail "lab setup"; return; }
  ip netns exec $LAB_BR "$V6GUARDD" --datapath nft --no-api --port $LAB_P_RTR:router \
    --port $LAB_P_VM1:vm --port $LAB_P_VM2:vm --learn-prefix $LAB_PREFIX $extra >$LAB_TMP/d.log 2>&1 &
  DAEMON_PID=$!
  for _ in $(seq 1 50); do grep -q ready $LAB_TMP/d.log && break; sleep 0.1; done
  for ns in $LAB_VM1 $LAB_VM2; do ip -n $ns link set eth0 down; ip -n $ns link set eth0 up; done
  lab_radvd_start
  lab_wait_slaac $LAB_VM1 && lab_wait_slaac $LAB_VM2 || fail "$mode: SLAAC"
  local a1 a2
  a1=$(lab_global_addr $LAB_VM1) a2=$(lab_global_addr $LAB_VM2)
  sleep 2
  ip netns exec $LAB_VM2 ping -6 -c 2 -i 0.2 -W 2 "$a1" >/dev/null || fail "$mode: ping before the kill"
  kill -9 $DAEMON_PID; wait $DAEMON_PID 2>/dev/null; DAEMON_PID=
  ip netns exec $LAB_VM2 ping -6 -c 2 -i 0.2 -W 2 "$a1" >/dev/null &&
    ok "$mode: inspector killed, bound traffic still flows (fast path)" ||
    fail "$mode: bound traffic stopped with the inspector"
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
run_mode closed
run_mode open
echo "1..$n"
[ "$failed" -eq 0 ]
