#!/bin/bash
# make demo: v6guard end to end in network namespaces.
#
#   host netns   v6guardd (--datapath auto, inspector on, API socket and state
#                in a temp dir), bridges br-tenant-a and br-tenant-b
#   rtr netns    radvd on both tenant bridges (2600:beef:1000:100::/64 for A,
#                :200::/64 for B), forwarding between them
#   vm1..vm4     "VMs" as netns behind veth pairs (bridge end = the spec's tap):
#                tenant A: vm1, vm2 (victim), vm3 (attacker); tenant B: vm4
#
# VMs are created through the API (`v6guardctl vm create -f scripts/demo/vmN.json`,
# spec-style CreateVmRequest JSON). Then vm3 attacks; for every attack the
# victim side is checked (tcpdump, routes, neighbours, addresses) and so is
# legitimate traffic (radvd SLAAC, ping vm1<->vm2, vm4 to its router).
# Prints a table, the security events and counters. Exit 0 only when every
# attack was stopped and legitimate traffic kept working.
#
# Usage: scripts/demo.sh [BUILD_DIR]     (root; V6G_DEMO_KEEP=1 keeps the temp dir)
#        V6G_DEMO_NO_GUARD=1 runs the attacks without v6guardd (proves they land).
set -u
SRC=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${1:-$SRC/build}
case $BUILD in /*) ;; *) BUILD=$SRC/$BUILD ;; esac
V6GUARDD=$BUILD/manager/daemon/v6guardd
CTL_BIN=$BUILD/manager/cli/v6guardctl
NO_GUARD=${V6G_DEMO_NO_GUARD:-0}
DEMO=$SRC/scripts/demo

die() { echo "demo: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "needs root (network namespaces, nftables)"
for t in ip radvd tcpdump atk6-fake_router6 atk6-fake_router26 atk6-parasite6 \
  atk6-fake_advertise6 atk6-dos-new-ip6 atk6-redir6 ra6 jq nft; do
  command -v $t >/dev/null || die "$t missing (make deps installs it)"
done
[ -x "$V6GUARDD" ] && [ -x "$CTL_BIN" ] || die "build first: $V6GUARDD / $CTL_BIN missing"

ID=$(printf '%04x%04x' $RANDOM $RANDOM)
NS_HOST=v6gd-$ID-host NS_RTR=v6gd-$ID-rtr
NS_VM1=v6gd-$ID-vm1 NS_VM2=v6gd-$ID-vm2 NS_VM3=v6gd-$ID-vm3 NS_VM4=v6gd-$ID-vm4
ALL_NS="$NS_HOST $NS_RTR $NS_VM1 $NS_VM2 $NS_VM3 $NS_VM4"
PFX_A=2600:beef:1000:100 PFX_B=2600:beef:1000:200
MAC_RTR_A=02:00:5e:10:00:0a MAC_RTR_B=02:00:5e:10:00:0b
MAC_VM1=02:00:5e:10:01:01 MAC_VM2=02:00:5e:10:01:02 MAC_VM3=02:00:5e:10:01:03
MAC_VM4=02:00:5e:10:02:04
TMP=$(mktemp -d /tmp/v6g-demo-$ID.XXXX)
SOCK=$TMP/api.sock
DAEMON_PID='' RADVD_PIDS='' BG_PIDS=''

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  local p
  for p in $BG_PIDS $RADVD_PIDS; do kill "$p" 2>/dev/null; done
  if [ -n "$DAEMON_PID" ]; then kill "$DAEMON_PID" 2>/dev/null; wait "$DAEMON_PID" 2>/dev/null; fi
  for p in $ALL_NS; do
    ip netns pids "$p" 2>/dev/null | xargs -r kill 2>/dev/null
    ip netns del "$p" 2>/dev/null
  done
  if [ "${V6G_DEMO_KEEP:-0}" = 1 ] || [ "$rc" != 0 ]; then
    echo "demo: logs kept in $TMP"
  else
    rm -rf "$TMP"
  fi
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

in_ns() { local ns=$1; shift; ip netns exec "$ns" "$@"; }
ctl() { in_ns $NS_HOST "$CTL_BIN" --socket "$SOCK" "$@"; }
say() { printf '\033[1m== %s\033[0m\n' "$*"; }
T0=$(date +%s)

# ---------------------------------------------------------------- topology
say "lab $ID: host, router and 4 VM namespaces"
for ns in $ALL_NS; do
  ip netns add $ns || die "ip netns add $ns"
  ip -n $ns link set lo up
done
in_ns $NS_HOST sysctl -qw net.ipv6.conf.all.disable_ipv6=0 net.ipv6.conf.default.accept_ra=0
# The tenant bridges are v6guardd's (CreateVm makes them); the router's legs
# join whatever bridge its tenant's VMs landed in (attach_router below).

# veth: $1 netns, $2 host-side name, $3 MAC inside, $4 bridge (empty = leave
# unattached; the API's host step or the demo attaches it), $5 name inside
veth() {
  ip link add "$2" netns $NS_HOST type veth peer name "${5:-eth0}" netns "$1" || return 1
  ip -n "$1" link set "${5:-eth0}" address "$3"
  [ -n "$4" ] && ip -n $NS_HOST link set "$2" master "$4"
  ip -n $NS_HOST link set "$2" up
  in_ns "$1" sysctl -qw net.ipv6.conf.all.accept_dad=1 "net.ipv6.conf.${5:-eth0}.accept_ra=2" \
    "net.ipv6.conf.${5:-eth0}.dad_transmits=1"
  # A VM's NIC comes up when the VM boots, after CreateVm: its DAD (link-local
  # first) is what the guard learns bindings from. The router is up already.
  [ "${5:-eth0}" = eth0 ] || ip -n "$1" link set "${5:-eth0}" up
}
veth $NS_RTR rtr-a $MAC_RTR_A '' eth-a
veth $NS_RTR rtr-b $MAC_RTR_B '' eth-b
for n in 1 2 3 4; do
  eval "veth \$NS_VM$n tapvm$n \$MAC_VM$n ''"
done
in_ns $NS_RTR sysctl -qw net.ipv6.conf.all.forwarding=1
ip -n $NS_RTR addr add $PFX_A::1/64 dev eth-a
ip -n $NS_RTR addr add $PFX_B::1/64 dev eth-b
cat >$TMP/radvd.conf <<EOF
interface eth-a { AdvSendAdvert on; MinRtrAdvInterval 3; MaxRtrAdvInterval 4;
  prefix $PFX_A::/64 { AdvOnLink on; AdvAutonomous on; }; };
interface eth-b { AdvSendAdvert on; MinRtrAdvInterval 3; MaxRtrAdvInterval 4;
  prefix $PFX_B::/64 { AdvOnLink on; AdvAutonomous on; }; };
EOF

ll_of() {  # netns ifname -> link-local address (waits for it)
  local i a
  for i in $(seq 1 30); do
    a=$(ip -n "$1" -6 addr show dev "$2" scope link | awk '/inet6/ && !/tentative/{sub("/.*","",$2); print $2; exit}')
    [ -n "$a" ] && { echo "$a"; return 0; }
    sleep 0.2
  done
  return 1
}
RTR_LL_A=$(ll_of $NS_RTR eth-a) RTR_LL_B=$(ll_of $NS_RTR eth-b)
[ -n "$RTR_LL_A" ] && [ -n "$RTR_LL_B" ] || die "router link-local addresses missing"

# ---------------------------------------------------------------- v6guardd
start_daemon() {  # extra flags...; log in $TMP/v6guardd.log
  ip netns exec $NS_HOST "$V6GUARDD" --datapath auto --state-dir $TMP/state --api-socket $SOCK \
    --host-config $DEMO/host.json \
    --port rtr-a:router:$MAC_RTR_A --port rtr-b:router:$MAC_RTR_B \
    --ra-source rtr-a,$RTR_LL_A --ra-source rtr-b,$RTR_LL_B \
    --ra-prefix rtr-a,$PFX_A::/64 --ra-prefix rtr-b,$PFX_B::/64 \
    --events $TMP/events.jsonl --flush-on-exit "$@" >$TMP/v6guardd.log 2>&1 &
  DAEMON_PID=$!
  for _ in $(seq 1 100); do
    grep -q 'ready' $TMP/v6guardd.log && [ -S $SOCK ] && break
    kill -0 $DAEMON_PID 2>/dev/null || break
    sleep 0.1
  done
  grep -q 'ready' $TMP/v6guardd.log && [ -S $SOCK ] || { cat $TMP/v6guardd.log; die "v6guardd did not start"; }
}
stop_daemon() { kill $DAEMON_PID 2>/dev/null; wait $DAEMON_PID 2>/dev/null; DAEMON_PID=; }

if [ "$NO_GUARD" = 1 ]; then
  say "V6G_DEMO_NO_GUARD=1: no v6guardd, VM ports attached directly"
  for br in br-tenant-a br-tenant-b; do
    ip -n $NS_HOST link add $br type bridge mcast_snooping 0
    ip -n $NS_HOST link set $br up
  done
  for n in 1 2 3; do ip -n $NS_HOST link set tapvm$n master br-tenant-a; done
  ip -n $NS_HOST link set tapvm4 master br-tenant-b
  ip -n $NS_HOST link set rtr-a master br-tenant-a
  ip -n $NS_HOST link set rtr-b master br-tenant-b
else
  say "v6guardd (datapath auto, inspector on, API $SOCK)"
  start_daemon
  grep 'ready' $TMP/v6guardd.log | sed 's/^/   /'

  say "create the VMs through the API (v6guardctl vm create -f scripts/demo/vmN.json)"
  for n in 1 2 3 4; do
    ctl --json vm create -f $DEMO/vm$n.json >$TMP/create-vm$n.json 2>$TMP/create-vm$n.err ||
      { cat $TMP/create-vm$n.err; die "CreateVm vm$n failed"; }
    printf '   vm%s: %s\n' $n "$(jq -c '{vm_id, state, tap: .config.network[0].tap_device, mac: .config.network[0].mac_address, address: .config.network[0].ipv6.address}' $TMP/create-vm$n.json)"
  done
  # v6guardd's host step put each tap into its tenant bridge (on this kernel,
  # without VLAN filtering, one bridge per tenant VLAN: <bridge>v<vid>). The
  # provider router joins the same bridges, in the tenant's VLAN.
  master_of() { ip -n $NS_HOST -o link show "$1" | grep -o 'master [^ ]*' | cut -d' ' -f2; }
  attach_router() {  # router-leg vm-tap
    local br vid; br=$(master_of $2)
    [ -n "$br" ] || die "$2 is in no bridge after CreateVm (host step missing?)"
    ip -n $NS_HOST link set "$1" master "$br"
    if [ "$(in_ns $NS_HOST cat /sys/class/net/$br/bridge/vlan_filtering 2>/dev/null)" = 1 ]; then
      vid=$(in_ns $NS_HOST bridge -j vlan show dev "$2" | jq -r '.[0].vlans[] | select(.flags | index("PVID")) | .vlan')
      in_ns $NS_HOST bridge vlan add dev "$1" vid "$vid" pvid untagged
    fi
    echo "   router leg $1 -> bridge $br (with $2)"
  }
  attach_router rtr-a tapvm1
  attach_router rtr-b tapvm4
  ip -n $NS_HOST -o link show type bridge | awk '{print "   bridge " $2}' | tr -d :
  ctl status | sed 's/^/   /'
fi

# Everything vm3 sends from boot on, as its bridge port sees it (for the
# offline replay with v6guardctl explain at the end).
VM3_CAP_PID=
if [ "$NO_GUARD" != 1 ]; then
  ip netns exec $NS_HOST tcpdump -nni tapvm3 -Q in -s 2048 -U -w $TMP/vm3-port.pcap 2>$TMP/vm3-port.log &
  VM3_CAP_PID=$!
  BG_PIDS+=" $VM3_CAP_PID"
  for _ in $(seq 1 30); do grep -qs listening $TMP/vm3-port.log && break; sleep 0.1; done
fi
# "Boot" the VMs: the NIC comes up (link-local DAD), the VM configures the
# static address its spec asks for (as cloud-init would), SLAAC adds the rest.
for n in 1 2 3 4; do
  pfx=$PFX_A; [ $n = 4 ] && pfx=$PFX_B
  eval "ns=\$NS_VM$n"
  ip -n $ns link set eth0 up
  ip -n $ns -6 addr add $pfx::$n$n/64 dev eth0
done
in_ns $NS_RTR radvd -C $TMP/radvd.conf -p $TMP/radvd.pid -n -m stderr 2>$TMP/radvd.log &
RADVD_PIDS=$!
VM1=$PFX_A::11 VM2=$PFX_A::22 VM3=$PFX_A::33 VM4=$PFX_B::44

# ---------------------------------------------------------------- checks
slaac_ok() {  # netns prefix: SLAAC address (non-static) + default route via the real router
  local rtr=$RTR_LL_A; [ "$2" = $PFX_B ] && rtr=$RTR_LL_B
  ip -n "$1" -6 addr show dev eth0 scope global | grep -v tentative | grep "inet6 $2:" | grep -vq "inet6 $2::" &&
    ip -n "$1" -6 route show default | grep -q "via $rtr "
}
wait_slaac() { local i; for i in $(seq 1 ${3:-40}); do slaac_ok "$1" "$2" && return 0; sleep 0.5; done; return 1; }
pingq() { in_ns "$1" ping -6 -c 2 -i 0.2 -W 2 "${@:2}" >/dev/null 2>&1; }
pingr() {  # retries: the first echo after a neighbour flush may race ND
  local i; for i in 1 2 3; do pingq "$@" && return 0; sleep 0.3; done; return 1
}
legit_ok() {
  LEGIT_WHY=
  slaac_ok $NS_VM2 $PFX_A || LEGIT_WHY+="vm2-slaac "
  slaac_ok $NS_VM1 $PFX_A || LEGIT_WHY+="vm1-slaac "
  pingr $NS_VM1 $VM2 || LEGIT_WHY+="vm1->vm2 "
  pingr $NS_VM2 $VM1 || LEGIT_WHY+="vm2->vm1 "
  pingr $NS_VM4 $PFX_B::1 || LEGIT_WHY+="vm4->router "
  [ -z "$LEGIT_WHY" ]
}

say "legitimate traffic first"
ok_slaac=1
for n in 1 2 3; do eval "wait_slaac \$NS_VM$n $PFX_A" || ok_slaac=0; done
wait_slaac $NS_VM4 $PFX_B || ok_slaac=0
[ $ok_slaac = 1 ] && echo "   SLAAC from radvd: vm1..vm4 have an address + default route via the router" ||
  echo "   SLAAC from radvd FAILED"
baseline_ok=1
legit_ok || baseline_ok=0
echo "   baseline ping vm1<->vm2, vm4->router: $([ $baseline_ok = 1 ] && echo ok || echo "FAILED ($LEGIT_WHY)")"
pingq $NS_VM4 $VM4 -c 1 >/dev/null

# Inspector counters from the API plus the kernel's own nft rule counters
# (stateless drops that never reach the inspector: RA/Redirect/fragments).
counters_json() {
  [ "$NO_GUARD" = 1 ] && { echo '{}'; return; }
  { ctl --json counters 2>/dev/null || echo '{}'
    in_ns $NS_HOST nft -j list chain bridge v6guard pre 2>/dev/null || echo '{}'
  } | jq -s -c '{counters: (([.[0].counters[]? | select(.source == "COUNTER_SOURCE_INSPECTOR")
         | {from: "inspector", ifname: .port, reason: (.reason | ltrimstr("REASON_") | ascii_downcase),
            verdict: (.verdict | ltrimstr("VERDICT_") | ascii_downcase), packets: (.packets | tonumber)}])
      + [.[1].nftables[]? | .rule? | select(. != null and .comment != null)
         | {from: "nft", ifname: "*", reason: .comment, verdict: "drop",
            packets: ([.expr[] | .counter? | select(. != null) | .packets] | add // 0)}])}'
}
# Drops on vm3's port since the snapshot in $1: "reason+N reason+M".
drop_delta() {
  counters_json >$TMP/counters.after
  jq -r -n --slurpfile a "$1" --slurpfile b $TMP/counters.after '
    def flat(x): reduce (x[0].counters[]? | select(.verdict == "drop")) as $r
      ({}; .["\($r.from // "datapath") \($r.ifname) \($r.reason)"] += ($r.packets | tonumber));
    (flat($a)) as $x | flat($b) | to_entries
    | map(select(.value > ($x[.key] // 0)) | select(.key | test(" (tapvm3|[*]) "))
          | "\(.key | split(" ") | .[2])+\(.value - ($x[.key] // 0))") | unique | join(" ")' 2>/dev/null
}

RESULTS=()   # "attack|blocked|legit|evidence|start|end"
ATTACK_FAIL=0 LEGIT_FAIL=0
record() {  # name blocked(yes/no) evidence start end
  local legit=yes
  if ! legit_ok; then legit="NO ($LEGIT_WHY)"; LEGIT_FAIL=$((LEGIT_FAIL + 1)); fi
  [ "$2" = yes ] || ATTACK_FAIL=$((ATTACK_FAIL + 1))
  RESULTS+=("$1|$2|$legit|$3|$4|$5")
  printf '   %-34s blocked=%-3s legit=%s  %s\n' "$1" "$2" "$legit" "$3"
}

# Victim-side capture: start, run the attack, stop.  cap_start NS FILTER; cap_stop -> $CAP
cap_start() {
  CAP=$TMP/cap-$((++CAPN)).pcap
  ip netns exec "$1" timeout 30 tcpdump -nni eth0 -U -w $CAP "$2" 2>$CAP.log &
  CAP_PID=$!
  local i; for i in $(seq 1 30); do grep -qs listening $CAP.log && break; sleep 0.1; done
}
cap_stop() { sleep 0.5; kill $CAP_PID 2>/dev/null; wait $CAP_PID 2>/dev/null; }
cap_count() { tcpdump -nnr $CAP 2>/dev/null | wc -l; }
CAPN=0
attack() { in_ns $NS_VM3 timeout "$1" "${@:2}" >/dev/null 2>&1; }

# Frames at the victim that only the attacker could have sent: anything from
# vm3's MAC except its own kernel's RS/NS/NA/MLD, every RA not from the
# router, every Redirect, anything from the rogue 2001:db8::/32 space.
ROGUE="(ether src $MAC_VM3 and ip6 and not (ip6[6] == 58 and (ip6[40] == 133 or ip6[40] == 135 or ip6[40] == 136 or ip6[40] == 143))) or (icmp6 and ip6[40] == 134 and not ether src $MAC_RTR_A) or (icmp6 and ip6[40] == 137) or (ip6 and src net 2001:db8::/32)"

victim_routes_bad() {  # rogue prefix or default route not via the real router
  local bad=0
  (ip -n $NS_VM2 -6 route show; ip -n $NS_VM2 -6 addr show) | grep -q "2001:db8:" && bad=1
  ip -n $NS_VM2 -6 route show default | grep -vq "via $RTR_LL_A " && bad=1
  echo $bad
}
repair_victim() {  # undo damage (unguarded runs) so the next case starts clean
  ip -n $NS_VM2 -6 route flush proto ra 2>/dev/null
  ip -n $NS_VM2 -6 addr show dev eth0 | awk '/inet6 2001:db8/{print $2}' |
    while read -r a; do ip -n $NS_VM2 -6 addr del "$a" dev eth0; done
  ip -n $NS_VM2 -6 neigh flush dev eth0 2>/dev/null
  wait_slaac $NS_VM2 $PFX_A 20
}

# RA-style attack: victim capture + routes.
ra_case() {
  local name=$1; shift
  local start; start=$(date +%s.%N)
  counters_json >$TMP/counters.before
  cap_start $NS_VM2 "$ROGUE"
  attack 4 "$@"
  sleep 1
  cap_stop
  local seen bad; seen=$(cap_count); bad=$(victim_routes_bad)
  local ev="victim saw $seen rogue frames"; [ "$bad" = 1 ] && ev+=", rogue route/address"
  local d; d=$(drop_delta $TMP/counters.before); [ -n "$d" ] && ev+="; drops: $d"
  record "$name" "$([ "$seen" = 0 ] && [ "$bad" = 0 ] && echo yes || echo no)" "$ev" "$start" "$(date +%s.%N)"
  repair_victim
}

# NA targets at the victim from vm3's MAC that are not vm3's own addresses.
foreign_na() {
  local own; own=$(ip -n $NS_VM3 -6 addr show dev eth0 | awk '/inet6/{sub("/.*","",$2); print $2}')
  tcpdump -nnr $CAP 2>/dev/null | grep -o 'tgt is [0-9a-f:]*' | awk '{print $3}' |
    grep -vxF -f <(echo "$own") | wc -l
}
vm1_neigh_mac() { ip -n $NS_VM2 -6 neigh show $VM1 dev eth0 | awk '{for(i=1;i<NF;i++) if($i=="lladdr") print $(i+1)}'; }

say "attacks from vm3 (tenant A) against vm2 and the tenant"
ra_case "atk6-fake_router6 (rogue RA)" atk6-fake_router6 eth0 2001:db8:a1::/64
ra_case "atk6-fake_router26 -E H (RA+HBH)" atk6-fake_router26 -n 2 -i 1 -E H -A 2001:db8:a2::/64 eth0
ra_case "ra6 -u 8 (RA+dest opts)" ra6 -i eth0 -d ff02::1 -P 2001:db8:a7::/64 -e -t 1800 -u 8
ra_case "atk6-fake_router26 -E D (frag)" atk6-fake_router26 -n 2 -i 1 -E D -A 2001:db8:a4::/64 eth0

# ND spoofing: parasite6 answers every NS with vm3's MAC.
nd_case() {
  local name=$1; shift
  local start; start=$(date +%s.%N)
  counters_json >$TMP/counters.before
  ip -n $NS_VM2 -6 neigh flush dev eth0
  cap_start $NS_VM2 "ether src $MAC_VM3 and icmp6 and ip6[40] == 136"
  in_ns $NS_VM3 timeout 5 "$@" >/dev/null 2>&1 &
  local ap=$!
  sleep 1
  for _ in 1 2 3; do
    ip -n $NS_VM2 -6 neigh flush dev eth0
    pingq $NS_VM2 $VM1 -c 1
    sleep 0.5
  done
  wait $ap 2>/dev/null
  cap_stop
  local fna mac; fna=$(foreign_na); mac=$(vm1_neigh_mac)
  local ev="victim got $fna spoofed NAs; vm2 neigh vm1 -> ${mac:-none}"
  local d; d=$(drop_delta $TMP/counters.before); [ -n "$d" ] && ev+="; drops: $d"
  record "$name" "$([ "$fna" = 0 ] && [ "$mac" != "$MAC_VM3" ] && echo yes || echo no)" "$ev" "$start" "$(date +%s.%N)"
  ip -n $NS_VM2 -6 neigh flush dev eth0
}
nd_case "atk6-parasite6 (NS/NA spoofing)" atk6-parasite6 eth0
# Unsolicited override NA: "vm1's address is at vm3's MAC".
pingq $NS_VM2 $VM1 -c 1
nd_case "atk6-fake_advertise6 (vm1's addr)" atk6-fake_advertise6 -n 4 -w 1 eth0 $VM1

# DAD DoS: vm2 configures a new address while dos-new-ip6 claims every one.
dad_case() {
  local start; start=$(date +%s.%N)
  counters_json >$TMP/counters.before
  in_ns $NS_VM3 timeout 6 atk6-dos-new-ip6 eth0 >/dev/null 2>&1 &
  local ap=$!
  sleep 1.5
  ip -n $NS_VM2 -6 addr add $PFX_A::77/64 dev eth0
  sleep 3
  local st; st=$(ip -n $NS_VM2 -6 addr show dev eth0 | grep "$PFX_A::77/")
  wait $ap 2>/dev/null
  local ev="vm2's new address: $(echo "$st" | grep -q dadfailed && echo 'DAD FAILED' || (echo "$st" | grep -q tentative && echo tentative || echo configured))"
  local d; d=$(drop_delta $TMP/counters.before); [ -n "$d" ] && ev+="; drops: $d"
  record "atk6-dos-new-ip6 (DAD DoS)" "$(echo "$st" | grep -q 'dadfailed\|tentative' && echo no || echo yes)" "$ev" "$start" "$(date +%s.%N)"
  ip -n $NS_VM2 -6 addr del $PFX_A::77/64 dev eth0 2>/dev/null
}
dad_case

# Source spoofing: vm3 pings vm2 from vm1's address.
spoof_case() {
  local start; start=$(date +%s.%N)
  counters_json >$TMP/counters.before
  ip -n $NS_VM3 -6 addr add $VM1/128 dev eth0 nodad
  cap_start $NS_VM2 "ether src $MAC_VM3 and src host $VM1"
  in_ns $NS_VM3 ping -6 -c 3 -i 0.2 -W 1 -I $VM1 $VM2 >/dev/null 2>&1
  cap_stop
  ip -n $NS_VM3 -6 addr del $VM1/128 dev eth0
  local seen; seen=$(cap_count)
  local ev="victim saw $seen packets from vm1's address with vm3's MAC"
  local d; d=$(drop_delta $TMP/counters.before); [ -n "$d" ] && ev+="; drops: $d"
  record "source spoofing (vm1's address)" "$([ "$seen" = 0 ] && echo yes || echo no)" "$ev" "$start" "$(date +%s.%N)"
}
spoof_case

# Router impersonation: vm3 claims the gateway's global and link-local
# addresses with DAD, then advertises them as its own: unguarded, vm2 sends
# its off-link traffic to vm3.
router_mac_at_victim() { ip -n $NS_VM2 -6 neigh show "$1" dev eth0 | awk '{for(i=1;i<NF;i++) if($i=="lladdr") print $(i+1)}'; }
router_case() {
  local start; start=$(date +%s.%N)
  counters_json >$TMP/counters.before
  pingq $NS_VM2 $PFX_A::1 -c 1; pingq $NS_VM2 "$RTR_LL_A%eth0" -c 1
  cap_start $NS_VM2 "ether src $MAC_VM3 and icmp6 and ip6[40] == 136"
  ip -n $NS_VM3 -6 addr add $PFX_A::1/64 dev eth0
  ip -n $NS_VM3 -6 addr add $RTR_LL_A/64 dev eth0
  sleep 2.5
  attack 4 atk6-fake_advertise6 -n 3 -w 1 eth0 $PFX_A::1
  attack 4 atk6-fake_advertise6 -n 3 -w 1 eth0 $RTR_LL_A
  cap_stop
  ip -n $NS_VM3 -6 addr del $PFX_A::1/64 dev eth0 2>/dev/null
  ip -n $NS_VM3 -6 addr del $RTR_LL_A/64 dev eth0 2>/dev/null
  local fna gw ll; fna=$(foreign_na); gw=$(router_mac_at_victim $PFX_A::1); ll=$(router_mac_at_victim $RTR_LL_A)
  local ev="victim got $fna forged NAs; vm2 neigh gateway -> ${gw:-none}, router link-local -> ${ll:-none}"
  local d; d=$(drop_delta $TMP/counters.before); [ -n "$d" ] && ev+="; drops: $d"
  record "DAD claim of the router's addresses" "$([ "$fna" = 0 ] && [ "$gw" != "$MAC_VM3" ] && [ "$ll" != "$MAC_VM3" ] && echo yes || echo no)" "$ev" "$start" "$(date +%s.%N)"
  ip -n $NS_VM2 -6 neigh flush dev eth0
}
router_case

ra_case "atk6-redir6 (ICMPv6 Redirect)" atk6-redir6 eth0 $VM2 2001:db8:bb::1 $RTR_LL_A fe80::bad

# Cross-tenant: vm3 (tenant A) -> vm4 (tenant B), routed through the
# provider router, and directly on the link (on-link route, as if B's prefix
# were local).
cross_case() {
  local start; start=$(date +%s.%N)
  counters_json >$TMP/counters.before
  cap_start $NS_VM4 "icmp6 and ip6[40] == 128 and src net $PFX_A::/64"
  in_ns $NS_VM3 ping -6 -c 3 -i 0.2 -W 1 -I $VM3 $VM4 >/dev/null 2>&1
  local routed=$?
  ip -n $NS_VM3 -6 route add $PFX_B::/64 dev eth0 metric 1
  in_ns $NS_VM3 ping -6 -c 2 -i 0.2 -W 1 -I $VM3 $VM4 >/dev/null 2>&1
  local onlink=$?
  ip -n $NS_VM3 -6 route del $PFX_B::/64 dev eth0 metric 1
  cap_stop
  local seen; seen=$(cap_count)
  local ev="vm4 saw $seen echo requests from tenant A (routed reply: $([ $routed = 0 ] && echo yes || echo no), on-link: $([ $onlink = 0 ] && echo yes || echo no))"
  local d; d=$(drop_delta $TMP/counters.before); [ -n "$d" ] && ev+="; drops: $d"
  record "cross-tenant ping vm3 -> vm4" "$([ "$seen" = 0 ] && echo yes || echo no)" "$ev" "$start" "$(date +%s.%N)"
}
cross_case

ATTACKS_END=$(date +%s.%N)
[ -n "$VM3_CAP_PID" ] && { kill $VM3_CAP_PID 2>/dev/null; wait $VM3_CAP_PID 2>/dev/null; }
# ---------------------------------------------------------------- report
EVENTS_JSON='[]'
if [ "$NO_GUARD" != 1 ]; then
  # Events are aggregated per (port, reason, source) window and emitted when
  # the window closes (10 s after its first packet): wait for the last attack's.
  say "waiting for the last attack's event windows to close"
  left=$(( ${ATTACKS_END%.*} + 12 - $(date +%s) ))
  [ $left -gt 0 ] && sleep $left
  ctl --json events >$TMP/events.json 2>/dev/null || echo '{}' >$TMP/events.json
  EVENTS_JSON=$(jq -c '[.events[]?]' $TMP/events.json 2>/dev/null || echo '[]')
fi

# Events whose first packet falls in an attack's time window.
events_in() {
  jq -r -n --argjson ev "$EVENTS_JSON" --arg s "$1" --arg e "$2" '
    [$ev[] | select(.vm_id == "demo-vm3") | select((.timestamp | sub("\\.[0-9]+Z$"; "Z") | fromdateiso8601) as $t
                    | $t >= ($s | tonumber | floor) and $t <= ($e | tonumber | ceil))
           | "\(.violation_type)(\(.details.packet_count // 1))"] | unique | join(" ")' 2>/dev/null
}

say "result"
{
  printf '%s\t%s\t%s\t%s\n' "ATTACK" "BLOCKED" "LEGIT TRAFFIC OK" "EVENTS / EVIDENCE"
  for r in "${RESULTS[@]}"; do
    IFS='|' read -r name blocked legit ev start end <<<"$r"
    evs=$(events_in "$start" "$end")
    printf '%s\t%s\t%s\t%s\n' "$name" "$blocked" "$legit" "${evs:+events: $evs; }$ev"
  done
} | column -t -s $'\t' | tee $TMP/table.txt

if [ "$NO_GUARD" != 1 ]; then
  say "security events (v6guardctl --json events)"
  echo "$EVENTS_JSON" | jq -S -c '.[]' | head -30
  echo "   ($(echo "$EVENTS_JSON" | jq length) events; the daemon also appended them to $TMP/events.jsonl)"
  say "counters (v6guardctl counters)"
  ctl counters | sed 's/^/   /'
  echo "   kernel fast path (nft bridge rules, all VM ports):"
  counters_json | jq -r '.counters[] | select(.from == "nft" and .packets > 0) | "     \(.reason): \(.packets)"'
fi

# ---------------------------------------------------------------- offline replay
if [ "$NO_GUARD" != 1 ] && [ -s $TMP/vm3-port.pcap ]; then
  say "offline: v6guardctl explain --pcap vm3-port.pcap --policy <vm3's spec interface> --summary"
  jq '.config.network[0]' $DEMO/vm3.json >$TMP/vm3-interface.json
  "$CTL_BIN" explain --pcap $TMP/vm3-port.pcap --policy $TMP/vm3-interface.json --summary |
    sed -n '/^summary/,/^bindings/p' | sed 's/^/   /'
  echo "   (per-frame verdicts: $CTL_BIN explain --pcap <capture> --policy <interface.json>)"
fi

# ---------------------------------------------------------------- monitor mode
MONITOR_RESULT=
if [ "$NO_GUARD" != 1 ] && [ "${V6G_DEMO_MONITOR:-1}" = 1 ]; then
  say "monitor (log-only) mode: restart v6guardd --monitor on the same state, replay two attacks"
  mv $TMP/v6guardd.log $TMP/v6guardd-enforcing.log
  stop_daemon
  start_daemon --monitor
  grep 'monitor\|recovered' $TMP/v6guardd.log | sed 's/^/   /'
  recovered=$(ctl --json vm list | jq '[.vms[]?] | length')
  echo "   VMs recovered from the state dir: $recovered"
  pingq $NS_VM2 $VM1 -c 1
  mon_start=$(date +%s)
  cap_start $NS_VM2 "ether src $MAC_VM3 and icmp6 and ip6[40] == 136"
  attack 5 atk6-fake_advertise6 -n 3 -w 1 eth0 $VM1
  cap_stop
  mon_seen=$(foreign_na) mon_mac=$(vm1_neigh_mac)
  ip -n $NS_VM2 -6 neigh flush dev eth0
  # A rogue RA: in monitor mode the kernel fast path punts instead of dropping.
  cap_start $NS_VM2 "$ROGUE"
  mon_start=$(date +%s)  # events are emitted when their 10 s window closes
  attack 4 atk6-fake_router6 eth0 2001:db8:a1::/64
  sleep 1
  cap_stop
  mon_ra=$(cap_count)
  repair_victim >/dev/null
  left=$(( mon_start + 12 - $(date +%s) )); [ $left -gt 0 ] && sleep $left
  mon_events=$(ctl --json events | jq -c '[.events[]? | select(.vm_id == "demo-vm3" and .monitor == true)
    | "\(.violation_type)(\(.details.packet_count))"] | unique | join(" ")' | tr -d '"')
  echo "   atk6-fake_advertise6: victim got $mon_seen spoofed NAs (log-only lets them through), vm2 neigh vm1 -> ${mon_mac:-none}"
  echo "   atk6-fake_router6: victim saw $mon_ra rogue frames (the kernel punts instead of dropping)"
  echo "   monitor events (\"monitor\":true): ${mon_events:-none}"
  if [ "$recovered" = 4 ] && [ "$mon_seen" -gt 0 ] && [ "$mon_ra" -gt 0 ] &&
    echo "$mon_events" | grep -q nd_target && echo "$mon_events" | grep -q ra_from_vm_port; then
    MONITOR_RESULT=ok
  else
    MONITOR_RESULT="FAILED (recovered=$recovered spoofed_nas=$mon_seen rogue_ra_frames=$mon_ra events=${mon_events:-none})"
  fi
  echo "   monitor mode: $MONITOR_RESULT"
fi

say "summary"
n=${#RESULTS[@]}
if [ "$NO_GUARD" != 1 ]; then
  legit_drops=$(echo "$EVENTS_JSON" | jq -r '[.[] | select(.vm_id != "demo-vm3" and (.monitor | not))
    | "\(.vm_id):\(.violation_type)(\(.details.blocked_source // "-"))"] | group_by(.) | map("\(.[0])x\(length)") | join(" ")')
  echo "   events on the legitimate VMs' ports: ${legit_drops:-none}"
fi
echo "   $((n - ATTACK_FAIL))/$n attacks blocked, legitimate traffic broken after $LEGIT_FAIL of them, baseline $([ $baseline_ok = 1 ] && [ $ok_slaac = 1 ] && echo ok || echo FAILED), $(( $(date +%s) - T0 )) s"
if [ "$NO_GUARD" = 1 ]; then
  # Without v6guard every attack should land: the checks can fail.
  [ $ATTACK_FAIL = $n ] && { echo "   unguarded: every attack reached the victim (the checks can fail)"; exit 0; }
  echo "   unguarded: $((n - ATTACK_FAIL)) attacks had no visible effect"; exit 1
fi
[ -z "$MONITOR_RESULT" ] || [ "$MONITOR_RESULT" = ok ] || exit 1
[ $ATTACK_FAIL = 0 ] && [ $LEGIT_FAIL = 0 ] && [ $baseline_ok = 1 ] && [ $ok_slaac = 1 ]
