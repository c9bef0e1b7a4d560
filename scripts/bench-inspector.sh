#!/bin/bash
# Inspector verdict throughput and added latency, side by side on the same
# queue and the same traffic: every IPv6 frame from vm1's bridge port goes to
# NFQUEUE 7 (ip6tables raw PREROUTING -m physdev --physdev-in, through
# br_netfilter) and is read by
#   trivial   - a plain accept-all loop (one recv, one verdict per packet)
#   inspector - v6guard's QueueWorker + guard engine (vm1's source bound, so
#               each packet is parsed and decided), batched verdicts
#   nobatch   - the inspector with one verdict message per packet
# Throughput: iperf3 UDP, 64-byte payloads, unlimited rate, vm1 -> vm2:
# packets/s that made it through the queue. Latency: ping vm1 -> vm2 every
# 1 ms, p99 RTT minus p99 RTT without the queue rule.
# Usage: scripts/bench-inspector.sh [build-dir]. Not part of make test.
set -u
[ "$(id -u)" = 0 ] || { echo "needs root"; exit 4; }
for t in iperf3 ip6tables taskset; do command -v $t >/dev/null || { echo "$t missing"; exit 4; }; done
SRC=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${1:-${V6G_BUILD_DIR:-$SRC/build}}
BENCH=$BUILD/manager/inspector/v6guard-nfqbench
[ -x "$BENCH" ] || { echo "build v6guard-nfqbench first ($BENCH)"; exit 4; }
SECS=${BENCH_SECS:-4}
PINGS=${BENCH_PINGS:-2000}
Q=7
. "$SRC/scripts/lab.sh"
READER=
cleanup() { [ -n "$READER" ] && kill $READER 2>/dev/null; lab_down; }
trap cleanup EXIT INT TERM
lab_up >/dev/null
A1=2600:beef:1000:100::11 A2=2600:beef:1000:100::12
ip -n $LAB_VM1 -6 addr add $A1/64 dev eth0 nodad
ip -n $LAB_VM2 -6 addr add $A2/64 dev eth0 nodad
# Static neighbours: only the measured traffic crosses the queue.
ip -n $LAB_VM1 -6 neigh replace $A2 lladdr $LAB_MAC_VM2 dev eth0 nud permanent
ip -n $LAB_VM2 -6 neigh replace $A1 lladdr $LAB_MAC_VM1 dev eth0 nud permanent
IFX=$(ip netns exec $LAB_BR cat /sys/class/net/$LAB_P_VM1/ifindex)
sleep 1

throughput() {  # received packets/s through the bridge
  ip netns exec $LAB_VM2 iperf3 -s -1 -D >/dev/null 2>&1
  sleep 0.3
  ip netns exec $LAB_VM1 iperf3 -6 -c $A2 -u -b 0 -l 64 -t $SECS -J 2>/dev/null |
    /usr/bin/python3 -c 'import json,sys; d=json.load(sys.stdin)["end"]["sum"]; print(int(d["packets"]*(1-d["lost_percent"]/100)/d["seconds"]))' 2>/dev/null || echo 0
}
rtt() {  # "p50 p99" RTT in microseconds of PINGS pings at 1 ms
  ip netns exec $LAB_VM1 ping -6 -c $PINGS -i 0.001 -W 1 $A2 2>/dev/null |
    /usr/bin/python3 -c '
import re, sys
r = sorted(float(m.group(1)) for m in re.finditer(r"time=([0-9.]+) ms", sys.stdin.read()))
print(f"{r[len(r) // 2] * 1000:.0f} {r[int(len(r) * 0.99) - 1] * 1000:.0f}" if len(r) > 10 else "0 0")'
}
start_reader() {  # mode; the reader lives for the whole measurement
  case $1 in
    trivial) ip netns exec $LAB_BR "$BENCH" trivial $Q 60 >$LAB_TMP/reader.log 2>&1 & ;;
    inspector) ip netns exec $LAB_BR "$BENCH" inspector $Q 60 $IFX $LAB_MAC_VM1 $A1 >$LAB_TMP/reader.log 2>&1 & ;;
    nobatch) ip netns exec $LAB_BR "$BENCH" inspector $Q 60 $IFX $LAB_MAC_VM1 $A1 nobatch >$LAB_TMP/reader.log 2>&1 & ;;
  esac
  READER=$!
  sleep 0.5
}
stop_reader() { kill -INT $READER 2>/dev/null; kill $READER 2>/dev/null; wait $READER 2>/dev/null; READER=; }

# What punting through br_netfilter costs every bridged IPv6 packet, queued
# or not: the bridge alone, then with bridge-nf-call-ip6tables on.
ip netns exec $LAB_BR sysctl -qw net.bridge.bridge-nf-call-ip6tables=0
pps_bare=$(throughput)
ip netns exec $LAB_BR sysctl -qw net.bridge.bridge-nf-call-ip6tables=1
# An ip6 raw chain must exist for the ip6 hooks to run (as with v6guardd's punts).
ip netns exec $LAB_BR ip6tables -t raw -A PREROUTING -m mark --mark 0x7667ffff -j NFQUEUE --queue-num 99
read -r med_none lat_none <<<"$(rtt)"
pps_none=$(throughput)
ip netns exec $LAB_BR ip6tables -t raw -A PREROUTING -m physdev --physdev-in $LAB_P_VM1 -j NFQUEUE --queue-num $Q
declare -A PPS LAT MED
# Interleave the modes twice so background load on the shared box hits each alike.
for round in 1 2; do
  for mode in trivial inspector nobatch; do
    start_reader $mode
    pps=$(throughput)
    read -r med lat <<<"$(rtt)"
    stop_reader
    echo "# round $round $mode: pps $pps, rtt p50 ${med} us, p99 ${lat} us"
    PPS[$mode]="${PPS[$mode]:-} $pps" LAT[$mode]="${LAT[$mode]:-} $lat" MED[$mode]="${MED[$mode]:-} $med"
  done
done
best() { echo $* | tr ' ' '\n' | sort -n | tail -1; }
least() { echo $* | tr ' ' '\n' | sort -n | head -1; }
pt=$(best ${PPS[trivial]}) pi=$(best ${PPS[inspector]}) pn=$(best ${PPS[nobatch]})
lt=$(least ${LAT[trivial]}) li=$(least ${LAT[inspector]}) ln=$(least ${LAT[nobatch]})
mt=$(least ${MED[trivial]}) mi=$(least ${MED[inspector]})
ratio() { /usr/bin/python3 -c "print(f'{$1/max($2,1):.2f}')"; }
echo "pps bridge alone:                     $pps_bare"
echo "pps no queue (bridge + br_netfilter): $pps_none"
echo "pps trivial accept-all loop:          $pt"
echo "pps inspector (batched verdicts):     $pi"
echo "pps inspector (one verdict/packet):   $pn"
echo "p99 rtt us: no queue $lat_none, trivial $lt, inspector $li, nobatch $ln"
echo "p50 rtt us: no queue $med_none, trivial $mt, inspector $mi"
echo "ratio inspector/trivial pps: $(ratio $pi $pt) (goal >= 0.8)"
echo "ratio br_netfilter on/off pps (unqueued traffic): $(ratio $pps_none $pps_bare)"
echo "ratio inspector-nobatch/trivial pps: $(ratio $pn $pt)"
echo "inspector p99 added latency us: $((li - lat_none)) (goal <= 50)"
echo "trivial p99 added latency us: $((lt - lat_none))"
echo "inspector p50 added latency us: $((mi - med_none)) (trivial: $((mt - med_none)))"
echo "load average during the run: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) CPUs"
