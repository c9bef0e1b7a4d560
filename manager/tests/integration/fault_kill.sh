#!/bin/bash
# Fault injection: SIGKILL v6guardd at the worst moments, in network namespaces.
#  A. During a rogue-RA flood from a VM port: the victim sees no rogue RA before,
#     while the daemon is dead (nft rules stay, RA class fail-closed) or after the
#     restart, and the restart leaves exactly one copy of the ruleset.
#  B. During a burst of concurrent CreateVm: after the restart every VM the store
#     holds is fully programmed (tap on the bridge, nft VM port, binding), every
#     create that answered OK is among them, no tap or nft element exists without
#     a VM, a second restart changes nothing, and deleting everything leaves
#     nothing behind: the restart reconciles (removes the tap, nft VM port and
#     binding of a create the kill rolled back). V6G_FAULT_STRICT=0 reports
#     orphans as TAP TODO instead of failing. The VMs have port firewalls and
#     QoS (the spec's rules, bandwidth and packet-rate limits): their chains
#     in table bridge v6guard_fw must match the store too.
#  C. Deterministically: with v6guardd dead, a VM's host half is programmed
#     (v6g-hostctl vm-program: bridge, tap, firewall + QoS chains, exactly what
#     the daemon's host step does before its store commit) and never stored;
#     the restart must remove all of it.
set -u
[ "$(id -u)" = 0 ] || { echo "# skip: needs root"; exit 4; }
SRC=${V6G_SOURCE_DIR:-$(cd "$(dirname "$0")/../../.." && pwd)}
BUILD=${V6G_BUILD_DIR:-$SRC/build}
DAEMON=$BUILD/manager/daemon/v6guardd
CTL=$BUILD/manager/cli/v6guardctl
HOSTCTL=$BUILD/manager/host/v6g-hostctl
SPEC=$SRC/manager/tests/data/spec
for t in nft jq tcpdump atk6-flood_router26; do
  command -v $t >/dev/null || { echo "# skip: $t missing"; exit 4; }
done
[ -x "$DAEMON" ] && [ -x "$CTL" ] && [ -x "$HOSTCTL" ] ||
  { echo "# skip: v6guardd/v6guardctl/v6g-hostctl not built"; exit 4; }
. "$SRC/scripts/lab.sh"

n=0 failed=0

PID= FLOOD= NS= TMP=
cleanup() {
  [ -n "$FLOOD" ] && kill "$FLOOD" 2>/dev/null
  [ -n "$PID" ] && kill -9 "$PID" 2>/dev/null
  [ -n "$NS" ] && { ip netns pids "$NS" 2>/dev/null | xargs -r kill -9 2>/dev/null; ip netns del "$NS" 2>/dev/null; }
  [ -n "$TMP" ] && rm -rf "$TMP"
  [ -n "${LAB_ID:-}" ] && lab_down
}
trap cleanup EXIT INT TERM

T0=$(date +%s)
# ---------------------------------------------------------------- A. RA flood
LAB_ID= lab_up || { echo "lab setup failed"; exit 1; }
start_guard() {
  ip netns exec $LAB_BR "$DAEMON" --datapath nft --no-api --port $LAB_P_RTR:router \
    --port $LAB_P_VM1:vm --port $LAB_P_VM2:vm --learn-prefix $LAB_PREFIX >>$LAB_TMP/d.log 2>&1 &
  PID=$!
  busywait 10000 grep -q ready $LAB_TMP/d.log
}
# The ruleset's shape: every table, chain, rule and set, and the elements of the
# port sets; dynamic rate-limit meters and per-port counter elements
# (port_counts) come and go, and so do learnt bindings (a VM may finish DAD
# for its link-local at any time around the kill; nft sets hold no duplicates
# anyway).
ruleset() {
  ip netns exec $LAB_BR nft -j list ruleset 2>/dev/null | jq -c '.nftables[] | del(.metainfo) |
    select(. != {}) | walk(if type == "object" then del(.handle) |
      (if has("counter") then .counter = {} else . end) else . end) |
    if .set and (.set.name == "bindings" or .set.name == "vlan_bindings" or
      .set.name == "port_counts") then .set |= del(.elem)
    elif .set then .set |= (.elem |= ((. // []) | map(select((type != "object") or
      ((.elem // {}) | has("expires") | not))))) else . end'
}
start_guard || fail "A: v6guardd ready"
rules_before=$(ruleset)
RA="icmp6 and ip6[40] == 134"
# The victim's view; the attacker's port counter proves the flood ran.
ip netns exec $LAB_VM2 tcpdump -nni eth0 -w $LAB_TMP/victim.pcap "ether src $LAB_MAC_VM1 and $RA" 2>/dev/null &
TD1=$!
rx() { ip netns exec $LAB_BR cat /sys/class/net/$LAB_P_VM1/statistics/rx_packets; }
sleep 1
rx0=$(rx)
ip netns exec $LAB_VM1 atk6-flood_router26 eth0 >/dev/null 2>&1 &
FLOOD=$!
sleep 1.5
: >$LAB_TMP/d.log
kill -9 $PID; wait $PID 2>/dev/null; PID=
t_kill=$(date +%s%3N)
sleep 2  # dead, flood still running
start_guard || fail "A: v6guardd restarts under the flood"
t_back=$(date +%s%3N)
sleep 1.5
kill $FLOOD 2>/dev/null; wait $FLOOD 2>/dev/null; FLOOD=
sleep 0.5
kill $TD1 2>/dev/null; wait $TD1 2>/dev/null
sent=$(($(rx) - rx0))  # frames from the attacker into the bridge (decoding 100k+ would take minutes)
seen=$(tcpdump -nnr $LAB_TMP/victim.pcap 2>/dev/null | wc -l)
if [ "$sent" -gt 100 ]; then
  ok "A: the flood ran: $sent frames (rogue RAs) entered the bridge (daemon dead for $((t_back - t_kill)) ms)"
else
  fail "A: the flood barely ran ($sent frames at the port)"
fi
[ "$seen" -eq 0 ] && ok "A: the victim saw 0 rogue RAs before, during and after the kill" ||
  fail "A: the victim saw $seen rogue RAs"
check "A: v6guardd still running after the flood" kill -0 $PID
rules_after=$(ruleset)
[ "$rules_after" = "$rules_before" ] && ok "A: the restart left the same ruleset (no duplicate tables, rules or elements)" ||
  { fail "A: ruleset differs after the restart"; diff <(echo "$rules_before") <(echo "$rules_after") | head -20 | sed 's/^/#   /'; }
kill $PID; wait $PID 2>/dev/null; PID=
lab_down; LAB_ID=

echo "# A took $(($(date +%s) - T0)) s"
# ------------------------------------------------------- B. CreateVm in flight
NS="v6g-fk-$RANDOM$RANDOM"
TMP=$(mktemp -d /tmp/v6g-fault-kill.XXXXXX)
SOCK=$TMP/api.sock
ip netns add "$NS"
ip -n "$NS" link set lo up
in_ns() { ip netns exec "$NS" "$@"; }
ctl() { in_ns "$CTL" --socket "$SOCK" "$@"; }
start_daemon() {
  ip netns exec "$NS" "$DAEMON" --datapath nft --state-dir "$TMP/state" --api-socket "$SOCK" \
    --host-config "$SPEC/host.json" >>"$TMP/daemon.log" 2>&1 &
  PID=$!
  busywait 15000 ctl status >/dev/null 2>&1
}
set_elements() {  # one element per line
  in_ns nft -j list set bridge v6guard "$1" 2>/dev/null |
    jq -r '.nftables[] | select(.set) | .set.elem // [] | .[] |
           if type == "object" then (.concat // [.]) | map(tostring) | join(" . ") else . end'
}
fw_ports() {  # ports with anything in the port-firewall table: map elements or chains
  { in_ns nft -j list table bridge v6guard_fw 2>/dev/null | jq -r '.nftables[] |
      (select(.map) | .map.elem // [] | .[] | .[0] | if type == "object" then .elem.val else . end),
      (select(.chain) | .chain.name | select(test("^(in|out)_")) | sub("^(in|out)_"; ""))'
  } | sort -u
}
start_daemon || { cat "$TMP/daemon.log"; fail "B: v6guardd starts"; exit 1; }

VMS=16
for i in $(seq 1 $VMS); do  # pool-allocated VMs of one tenant: address, MAC and tap generated
  jq --arg id "burst-$i" '. + {vm_id: $id} | .config.network[0] |= (del(.mac_address) |
      .ipv6.address = "" | .ipv6.gateway = "fe80::1" | .ipv6.pool = "standard-pool")' \
    "$SPEC/create_vm_single.json" >"$TMP/vm$i.json"
done
for i in $(seq 1 $VMS); do
  (ctl --json vm create -f "$TMP/vm$i.json" >"$TMP/out$i" 2>&1; echo $? >"$TMP/rc$i") &
done
# Kill while the burst is in flight: once the first create has answered.
busywait 20000 bash -c "ls $TMP/rc* >/dev/null 2>&1"
kill -9 $PID; wait $PID 2>/dev/null; PID=
wait
answered_ok=$(grep -lx 0 "$TMP"/rc* 2>/dev/null | wc -l)
echo "# burst: $answered_ok of $VMS creates answered OK before/around the kill"

start_daemon || { cat "$TMP/daemon.log"; fail "B: v6guardd restarts"; exit 1; }
reconciled=$(grep -c 'v6guardd: reconcile: removed' "$TMP/daemon.log")
echo "# the restart reconciled $reconciled objects:"
grep 'v6guardd: reconcile:' "$TMP/daemon.log" | sed 's/^/#   /'
check "B: the restart's reconciliation had no failures" bash -c "! grep -q 'reconcile: FAILED' '$TMP/daemon.log'"
# The restart must reconcile what the kill left half-done: the tap, nft VM
# port and binding of a create that was rolled back (the nft binding would
# let that address through on that tap). Orphans fail; V6G_FAULT_STRICT=0
# reports them as TAP TODO instead.
gap() {
  n=$((n + 1))
  if [ "${V6G_FAULT_STRICT:-1}" = 1 ]; then failed=$((failed + 1)); echo "not ok $n - $*"
  else echo "not ok $n - $* # TODO restart does not reconcile orphans"; fi
}
expect_set() {  # expect_set <label> <expected lines> <actual lines>
  local missing extra
  missing=$(comm -23 <(echo "$2") <(echo "$3") | sed '/^$/d')
  extra=$(comm -13 <(echo "$2") <(echo "$3") | sed '/^$/d')
  [ -z "$missing" ] && ok "$1: every stored VM present" || fail "$1: missing for stored VMs: $(echo $missing)"
  [ -z "$extra" ] && ok "$1: nothing without a VM" || gap "$1: orphans: $(echo $extra)"
}
consistent() {  # consistent <label>: store, taps and nft agree
  local label=$1 ids taps_expected bindings vm_ports links missing=0 orphans
  ids=$(ctl --json vm list | jq -r '.vms // [] | .[] | .vmId // .vm_id' | sort)
  taps_expected=
  for id in $ids; do
    local cfg tap
    cfg=$(ctl --json vm get "$id")
    tap=$(jq -r '.config.network[0].tapDevice // .config.network[0].tap_device' <<<"$cfg")
    taps_expected+="$tap"$'\n'
    in_ns test -e "/sys/class/net/$tap/master" || { missing=$((missing + 1)); echo "#   $label: $id: $tap not on a bridge"; }
  done
  taps_expected=$(sed '/^$/d' <<<"$taps_expected" | sort)
  vm_ports=$(set_elements vm_ports | sort)
  # VLAN ports' bindings live in vlan_bindings (iifname . vlan . mac . ip6).
  bindings=$( (set_elements bindings; set_elements vlan_bindings) | awk '{ print $1 }' | sort -u)
  links=$(in_ns ip -o link show | awk -F': ' '{ print $2 }' | sed 's/@.*//' | grep '^v6g' | sort)
  [ "$missing" = 0 ] && ok "$label: every stored VM's tap exists on a bridge ($(wc -w <<<"$ids") VMs)" ||
    fail "$label: $missing stored VMs without their tap"
  # Missing state (a stored VM not programmed) always fails; extra state (nft
  # elements or owned taps without a VM) is the known gap below.
  expect_set "$label: nft VM ports" "$taps_expected" "$vm_ports"
  expect_set "$label: nft bindings" "$taps_expected" "$bindings"
  expect_set "$label: v6g taps" "$taps_expected" "$links"
  expect_set "$label: port firewall/QoS chains" "$taps_expected" "$(fw_ports)"
  STORED_IDS=$ids
}
consistent "after kill -9 mid-burst"
lost=0
for i in $(seq 1 $VMS); do
  [ "$(cat "$TMP/rc$i" 2>/dev/null)" = 0 ] || continue
  grep -qx "burst-$i" <<<"$STORED_IDS" || { lost=$((lost + 1)); echo "#   burst-$i answered OK but is gone"; }
done
[ $lost = 0 ] && ok "B: every create that answered OK survived the kill ($answered_ok)" ||
  fail "B: $lost acknowledged creates lost"
first=$STORED_IDS
kill -9 $PID; wait $PID 2>/dev/null; PID=
start_daemon || fail "B: second restart"
consistent "after a second kill -9"
[ "$STORED_IDS" = "$first" ] && ok "B: the second restart changed nothing" || fail "B: VMs changed across restarts"
# ------------------------------------ C. host programmed, store never committed
kill -9 $PID; wait $PID 2>/dev/null; PID=
jq '. + {vm_id: "ghost"} | .config.network[0] |= (.tap_device = "v6g-ghost0" |
    .ipv6.address = "" | .ipv6.pool = "standard-pool")' "$SPEC/create_vm_single.json" >"$TMP/ghost.json"
if in_ns "$HOSTCTL" vm-program --config "$TMP/ghost.json" --vm-id ghost >"$TMP/ghost.out" 2>&1 &&
  fw_ports | grep -qx v6g-ghost0 && in_ns test -e /sys/class/net/v6g-ghost0/master; then
  ok "C: the ghost VM's tap, bridge port and firewall/QoS chains are on the host, not in the store"
else
  fail "C: programming the ghost VM's host half"; sed 's/^/#   /' "$TMP/ghost.out"
fi
: >"$TMP/daemon.log"
start_daemon || fail "C: restart after the ghost"
grep 'v6guardd: reconcile:' "$TMP/daemon.log" | sed 's/^/#   /'
check "C: the restart removed the ghost's firewall/QoS chains" \
  grep -q 'reconcile: removed firewall/QoS chains of v6g-ghost0' "$TMP/daemon.log"
check "C: the restart removed the ghost's tap" grep -q 'reconcile: removed tap v6g-ghost0' "$TMP/daemon.log"
consistent "C: after the ghost's restart"
[ "$STORED_IDS" = "$first" ] && ok "C: the stored VMs are unchanged" || fail "C: VMs changed"
for id in $STORED_IDS; do ctl --json vm delete "$id" >/dev/null || fail "B: delete $id"; done
check "B: no VMs left" test "$(ctl --json vm list | jq '.vms // [] | length')" = 0
expect_set "B: after deleting every VM, nft bindings" "" "$(set_elements bindings; set_elements vlan_bindings)"
expect_set "B: after deleting every VM, nft VM ports" "" "$(set_elements vm_ports)"
expect_set "B: after deleting every VM, v6g taps" "" \
  "$(in_ns ip -o link show | awk -F': ' '{ print $2 }' | sed 's/@.*//' | grep '^v6g')"
expect_set "B: after deleting every VM, port firewall/QoS chains" "" "$(fw_ports)"
kill $PID; wait $PID 2>/dev/null; PID=

echo "# A+B+C took $(($(date +%s) - T0)) s"
echo "1..$n"
if [ $failed -ne 0 ]; then
  echo "--- daemon log (B)"; tail -30 "$TMP/daemon.log"
  exit 1
fi
