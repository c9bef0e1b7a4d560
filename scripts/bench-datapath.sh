#!/bin/bash
# pps through the lab bridge (vm1 -> vm2, iperf3 UDP, 64-byte payloads) for
#   (a) no filtering, (b) v6guardd nft datapath with 100k bindings (vm1 under
#   source guard, bound), (c) Neutron-style linear ip6tables source rules,
#   1k bindings, through br_netfilter. Prints the ratios. Not part of make test.
set -u
[ "$(id -u)" = 0 ] || { echo "needs root"; exit 4; }
command -v iperf3 >/dev/null || { echo "iperf3 missing"; exit 4; }
SRC=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${V6G_BUILD_DIR:-$SRC/build}
V6GUARDD=$BUILD/manager/daemon/v6guardd
[ -x "$V6GUARDD" ] || { echo "build v6guardd first ($V6GUARDD)"; exit 4; }
SECS=${BENCH_SECS:-5}
. "$SRC/scripts/lab.sh"
DAEMON_PID=
cleanup() { [ -n "$DAEMON_PID" ] && kill $DAEMON_PID 2>/dev/null; lab_down; }
trap cleanup EXIT INT TERM
lab_up >/dev/null
A1=2600:beef:1000:100::11 A2=2600:beef:1000:100::12
ip -n $LAB_VM1 -6 addr add $A1/64 dev eth0 nodad
ip -n $LAB_VM2 -6 addr add $A2/64 dev eth0 nodad
sleep 1

measure() {  # prints received packets per second
  ip netns exec $LAB_VM2 iperf3 -s -1 -D >/dev/null 2>&1
  sleep 0.3
  ip netns exec $LAB_VM1 iperf3 -6 -c $A2 -u -b 0 -l 64 -t $SECS -J 2>/dev/null |
    /usr/bin/python3 -c 'import json,sys; d=json.load(sys.stdin)["end"]["sum"]; print(int(d["packets"]*(1-d["lost_percent"]/100)/d["seconds"]))'
}

pps_a=$(measure)

# (b) nft datapath, 100k bindings from a config file
conf=$LAB_TMP/v6guardd.conf
{
  echo "port = $LAB_P_RTR:router"
  echo "port = $LAB_P_VM1:vm"
  echo "port = $LAB_P_VM2:vm"
  echo "bind = $LAB_P_VM1,$LAB_MAC_VM1,$A1"
  echo "bind = $LAB_P_VM2,$LAB_MAC_VM2,$A2"
  /usr/bin/python3 -c "
for i in range(99998):
    print('bind = $LAB_P_VM2,02:00:5e:%02x:%02x:%02x,2600:beef:1000:200::%x:%x' % (i>>16, (i>>8)&255, i&255, (i+1)>>16, (i+1)&0xffff))"
} > $conf
start_daemon() {
  ip netns exec $LAB_BR "$V6GUARDD" --config $conf --no-api "$@" >$LAB_TMP/d.log 2>&1 &
  DAEMON_PID=$!
  for _ in $(seq 1 600); do grep -q ready $LAB_TMP/d.log && break; sleep 0.1; done
  grep ready $LAB_TMP/d.log || { cat $LAB_TMP/d.log; exit 1; }
}
stop_daemon() {
  kill $DAEMON_PID; wait $DAEMON_PID 2>/dev/null; DAEMON_PID=
  ip netns exec $LAB_BR nft delete table bridge v6guard
}
# (b) the nft fast path alone; (b') the same with the inspector attached
# (punts on: br_netfilter runs the ip6 hooks for every bridged IPv6 packet).
start_daemon --no-inspector
pps_b=$(measure)
stop_daemon
start_daemon --flush-on-exit
pps_bi=$(measure)
stop_daemon 2>/dev/null
ip netns exec $LAB_BR sysctl -qw net.bridge.bridge-nf-call-ip6tables=0

# (c) linear ip6tables: one ACCEPT per binding in a per-port chain, then DROP
ip netns exec $LAB_BR sysctl -qw net.bridge.bridge-nf-call-ip6tables=1 2>/dev/null ||
  { modprobe br_netfilter 2>/dev/null; ip netns exec $LAB_BR sysctl -qw net.bridge.bridge-nf-call-ip6tables=1; }
{
  echo "*filter"
  echo ":sg-vm1 - [0:0]"
  for i in $(seq 1 999); do printf -- "-A sg-vm1 -s 2600:beef:1000:200::%x/128 -m mac --mac-source 02:00:5e:00:%02x:%02x -j RETURN\n" $i $((i >> 8)) $((i & 255)); done
  echo "-A sg-vm1 -s $A1/128 -m mac --mac-source $LAB_MAC_VM1 -j RETURN"
  echo "-A sg-vm1 -j DROP"
  echo "-A FORWARD -m physdev --physdev-in $LAB_P_VM1 -j sg-vm1"
  echo "COMMIT"
} | ip netns exec $LAB_BR ip6tables-restore
pps_c=$(measure)

ratio() { /usr/bin/python3 -c "print(f'{$1/$2:.2f}')"; }
echo "pps (a) no filtering:              $pps_a"
echo "pps (b) nft datapath, 100k bind:   $pps_b"
echo "pps (b') same + inspector punts:   $pps_bi"
echo "pps (c) linear ip6tables, 1k bind: $pps_c"
echo "ratio b/a = $(ratio $pps_b $pps_a) (goal >= 0.9)"
echo "ratio b/c = $(ratio $pps_b $pps_c) (goal >= 3)"
echo "ratio b'/a = $(ratio $pps_bi $pps_a) (with the inspector attached)"
