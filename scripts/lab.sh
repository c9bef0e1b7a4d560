#!/bin/bash
# Network-namespace lab for v6guard: a bridge netns, a router netns running
# radvd (2600:beef:1000:100::/64), and VM netns vm1, vm2 (victim), vm3
# (attacker) on veth pairs. All names carry a random suffix.
#
# Source it:   . scripts/lab.sh; lab_up; ...; lab_down
# or run it:   scripts/lab.sh up  (prints the env to eval), scripts/lab.sh down <suffix>
# After lab_up: $LAB_BR (bridge netns), $LAB_RTR, $LAB_VM1..3 (netns names),
# $LAB_P_RTR, $LAB_P_VM1..3 (bridge port names), $LAB_MAC_VM1..3, $LAB_PREFIX.

LAB_PREFIX=2600:beef:1000:100::/64

lab_up() {
  LAB_ID=${LAB_ID:-$RANDOM$RANDOM}
  LAB_ID=${LAB_ID:0:8}
  LAB_BR=v6g-$LAB_ID-br LAB_RTR=v6g-$LAB_ID-rtr
  LAB_VM1=v6g-$LAB_ID-vm1 LAB_VM2=v6g-$LAB_ID-vm2 LAB_VM3=v6g-$LAB_ID-vm3
  LAB_P_RTR=p$LAB_ID-r LAB_P_VM1=p$LAB_ID-1 LAB_P_VM2=p$LAB_ID-2 LAB_P_VM3=p$LAB_ID-3
  LAB_MAC_RTR=02:00:5e:10:00:01 LAB_MAC_VM1=02:00:5e:10:01:01
  LAB_MAC_VM2=02:00:5e:10:01:02 LAB_MAC_VM3=02:00:5e:10:01:03
  LAB_TMP=$(mktemp -d /tmp/v6g-lab-$LAB_ID.XXXX)
  export LAB_ID LAB_BR LAB_RTR LAB_VM1 LAB_VM2 LAB_VM3 LAB_P_RTR LAB_P_VM1 LAB_P_VM2 LAB_P_VM3
  export LAB_MAC_RTR LAB_MAC_VM1 LAB_MAC_VM2 LAB_MAC_VM3 LAB_TMP LAB_PREFIX

  local ns
  for ns in $LAB_BR $LAB_RTR $LAB_VM1 $LAB_VM2 $LAB_VM3; do
    ip netns add "$ns" || return 1
    ip -n "$ns" link set lo up
  done
  ip -n $LAB_BR link add br0 type bridge mcast_snooping 0
  ip netns exec $LAB_BR sysctl -qw net.ipv6.conf.all.disable_ipv6=0
  _lab_port $LAB_RTR $LAB_P_RTR $LAB_MAC_RTR
  _lab_port $LAB_VM1 $LAB_P_VM1 $LAB_MAC_VM1
  _lab_port $LAB_VM2 $LAB_P_VM2 $LAB_MAC_VM2
  _lab_port $LAB_VM3 $LAB_P_VM3 $LAB_MAC_VM3
  ip -n $LAB_BR link set br0 up
  ip netns exec $LAB_RTR sysctl -qw net.ipv6.conf.all.forwarding=1
  ip -n $LAB_RTR addr add 2600:beef:1000:100::1/64 dev eth0
  cat > $LAB_TMP/radvd.conf <<RADVD
interface eth0 {
  AdvSendAdvert on;
  MinRtrAdvInterval 3;
  MaxRtrAdvInterval 4;
  prefix $LAB_PREFIX { AdvOnLink on; AdvAutonomous on; };
};
RADVD
}

_lab_port() {  # netns, bridge-side port name, MAC
  ip link add "$2" netns $LAB_BR type veth peer name eth0 netns "$1" || return 1
  ip -n "$1" link set eth0 address "$3"
  ip -n $LAB_BR link set "$2" master br0 up
  ip netns exec "$1" sysctl -qw net.ipv6.conf.eth0.accept_ra=2 net.ipv6.conf.eth0.accept_dad=1 \
    net.ipv6.conf.eth0.dad_transmits=1
  ip -n "$1" link set eth0 up
}

lab_radvd_start() {
  ip netns exec $LAB_RTR radvd -C $LAB_TMP/radvd.conf -p $LAB_TMP/radvd.pid -n -m stderr \
    2>$LAB_TMP/radvd.log &
  LAB_RADVD_PID=$!
}

# Waits until netns $1 has a global address from the lab prefix and a default route.
lab_wait_slaac() {
  local i
  for i in $(seq 1 ${2:-40}); do
    if ip -n "$1" -6 addr show dev eth0 scope global | grep -q 'inet6 2600:beef:1000:100:' &&
      ip -n "$1" -6 route show default | grep -q 'via fe80'; then
      return 0
    fi
    sleep 0.5
  done
  return 1
}

lab_global_addr() {
  ip -n "$1" -6 addr show dev eth0 scope global | awk '/inet6 2600:beef:1000:100:/{sub("/.*","",$2); print $2; exit}'
}

lab_down() {
  [ -n "${LAB_RADVD_PID:-}" ] && kill "$LAB_RADVD_PID" 2>/dev/null
  local ns
  for ns in $LAB_BR $LAB_RTR $LAB_VM1 $LAB_VM2 $LAB_VM3; do
    [ -n "$ns" ] && ip netns del "$ns" 2>/dev/null
  done
  [ -n "$LAB_TMP" ] && rm -rf "$LAB_TMP"
  return 0
}

# --- helpers for the integration scripts (TAP output, one v6guardd) ---------
# lab_test_require TOOL...: exit 4 (skip) unless we are root and every tool
# exists. Sets BUILD and V6GUARDD ($V6G_V6GUARDD overrides it: the sanitizer
# tiers run the same scripts against their own daemon build) and the TAP
# counters used by ok/fail/lab_test_done. Needs $SRC.
lab_test_require() {
  [ "$(id -u)" = 0 ] || { echo "# skip: needs root"; exit 4; }
  local t
  for t in "$@"; do
    command -v "$t" >/dev/null || { echo "# skip: $t missing"; exit 4; }
  done
  BUILD=${V6G_BUILD_DIR:-$SRC/build}
  V6GUARDD=${V6G_V6GUARDD:-$BUILD/manager/daemon/v6guardd}
  [ -x "$V6GUARDD" ] || { echo "# skip: $V6GUARDD not built"; exit 4; }
  n=0 failed=0 DAEMON_PID=
}
ok() { n=$((n + 1)); echo "ok $n - $*"; }
fail() { n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - $*"; }
lab_test_done() { echo "1..$n"; [ "$failed" -eq 0 ]; }
# check NAME CMD...: ok/fail by CMD's exit status (its output discarded).
check() { local what=$1; shift; if "$@" >/dev/null 2>&1; then ok "$what"; else fail "$what"; fi; }
# busywait TIMEOUT_MS CMD...: until CMD succeeds; non-zero after the timeout.
busywait() {
  local deadline=$(($(date +%s%3N) + $1)); shift
  until "$@"; do [ "$(date +%s%3N)" -gt $deadline ] && return 1; sleep 0.05; done
}

# lab_daemon_start LOG ARG...: v6guardd ARG... in the bridge netns, output to
# LOG, pid in DAEMON_PID; returns once it logged "ready" (non-zero, with the
# log, if it died or took longer than V6G_READY_TIMEOUT seconds: a sanitizer
# build starts slower). $LAB_DAEMON_PREFIX (e.g. "taskset -c 1") wraps it.
lab_daemon_start() {
  local log=$1 i
  shift
  ip netns exec $LAB_BR ${LAB_DAEMON_PREFIX:-} "$V6GUARDD" "$@" >"$log" 2>&1 &
  DAEMON_PID=$!
  for i in $(seq 1 $((${V6G_READY_TIMEOUT:-10} * 10))); do
    grep -q ready "$log" && return 0
    kill -0 "$DAEMON_PID" 2>/dev/null || break
    sleep 0.1
  done
  echo "# v6guardd did not get ready:"
  sed 's/^/#   /' "$log"
  return 1
}

# lab_daemon_stop [SIGNAL]: stops the daemon (SIGTERM: a clean shutdown) and
# waits for it.
lab_daemon_stop() {
  [ -n "${DAEMON_PID:-}" ] || return 0
  kill -"${1:-TERM}" "$DAEMON_PID" 2>/dev/null
  wait "$DAEMON_PID" 2>/dev/null
  DAEMON_PID=
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  case "$1" in
    up) lab_up && lab_radvd_start && env | grep '^LAB_' | sed 's/^/export /' ;;
    down) LAB_ID=$2; LAB_BR=v6g-$2-br LAB_RTR=v6g-$2-rtr LAB_VM1=v6g-$2-vm1 LAB_VM2=v6g-$2-vm2
          LAB_VM3=v6g-$2-vm3; lab_down ;;
    exec) shift; ns=$1; shift; exec ip netns exec "v6g-$LAB_ID-$ns" "$@" ;;
    *) echo "usage: $0 up | down <id> | exec <br|rtr|vm1|vm2|vm3> cmd..." >&2; exit 2 ;;
  esac
fi

# --- more than one lab per shell ---------------------------------------------
# lab_up keeps an existing $LAB_ID, so a second lab needs `unset LAB_ID` first;
# lab_save NAME stores the current lab's LAB_* variables under NAME and
# lab_use NAME makes that lab current again (then lab_down removes it).
lab_save() {
  # shellcheck disable=SC2034 # v: the loop variable of the eval below
  local v
  eval "_LAB_SAVED_$1="'$(for v in ${!LAB_@}; do printf "%s=%q;" "$v" "${!v}"; done)'
}
lab_use() {
  local saved="_LAB_SAVED_$1"
  [ -n "${!saved:-}" ] || { echo "lab_use: no lab saved as $1" >&2; return 1; }
  unset LAB_RADVD_PID
  eval "${!saved}"
}
