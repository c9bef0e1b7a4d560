#!/bin/bash
# The real v6guardd (nft datapath, inspector, control plane) in a private
# network namespace, driven through its API socket with v6guardctl:
#   CreateVm (the spec's single-interface example, and a pool-allocated VM) ->
#   the daemon creates the tenant bridge and taps, puts the ports into the nft
#   port sets and the static binding into the binding set (nft list) ->
#   GetVmInfo / ListVms / ports / bindings / status ->
#   an invalid request (the spec's multi-interface example) changes nothing ->
#   kill -9 + restart: the VMs, taps and bindings are back, nothing doubled ->
#   DeleteVm removes the binding, the ports and the taps.
set -u
BUILD=${V6G_BUILD_DIR:-build}
SRC=${V6G_SOURCE_DIR:-.}
DAEMON=${V6G_V6GUARDD:-$BUILD/manager/daemon/v6guardd}  # a sanitizer build in run-tests.sh
CTL=$BUILD/manager/cli/v6guardctl
SPEC=$SRC/manager/tests/data/spec
[ -x "$DAEMON" ] && [ -x "$CTL" ] || { echo "SKIP: v6guardd/v6guardctl not built"; exit 4; }
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root"; exit 4; }
for tool in ip nft jq; do command -v $tool >/dev/null || { echo "SKIP: $tool missing"; exit 4; }; done

# Two passes: with the nfqueue inspector (the default; the control plane
# pushes port policies to it and shares its serialised datapath handle) and
# without it (the control plane serialises the datapath itself and sets nft
# source guard per NIC).
if [ -z "${V6G_DAEMON_MODE+set}" ]; then
  rc=0
  for mode in inspector no-inspector; do
    echo "# pass: $mode"
    V6G_DAEMON_MODE=$mode bash "$0" || rc=1
  done
  exit $rc
fi
EXTRA=()
[ "$V6G_DAEMON_MODE" = no-inspector ] && EXTRA=(--no-inspector)

NS="v6g-dapi-$RANDOM$RANDOM"
TMP=$(mktemp -d /tmp/v6g-daemon-api.XXXXXX)
SOCK=$TMP/api.sock
PID=
cleanup() {
  [ -n "$PID" ] && kill -9 "$PID" 2>/dev/null
  ip netns pids "$NS" 2>/dev/null | xargs -r kill -9 2>/dev/null
  ip netns del "$NS" 2>/dev/null
  rm -rf "$TMP"
}
trap cleanup EXIT

. "$SRC/scripts/lab.sh"  # ok, fail, check, busywait, lab_test_done
n=0 failed=0
in_ns() { ip netns exec "$NS" "$@"; }
ctl() { in_ns "$CTL" --socket "$SOCK" "$@"; }
start_daemon() {
  # Not through in_ns: a backgrounded function is a subshell, and $! must be
  # the daemon itself for kill -9 to hit it.
  ip netns exec "$NS" "$DAEMON" --datapath nft --state-dir "$TMP/state" --api-socket "$SOCK" \
    --host-config "$SPEC/host.json" "${EXTRA[@]}" >>"$TMP/daemon.log" 2>&1 &
  PID=$!
  busywait 10000 ctl status >/dev/null 2>&1
}
set_elements() {  # set_elements <set>: one element per line
  in_ns nft -j list set bridge v6guard "$1" |
    jq -r '.nftables[] | select(.set) | .set.elem // [] | .[] |
           if type == "object" then (.concat // [.]) | map(tostring) | join(" . ") else . end'
}
has_line() { grep -qxF -- "$2" <<<"$1"; }

ip netns add "$NS"
ip -n "$NS" link set lo up

start_daemon || { cat "$TMP/daemon.log"; fail "v6guardd starts and answers on $SOCK"; exit 1; }
ok "v6guardd starts and answers on its API socket"

# ---- CreateVm: the spec's example (VLAN 100 granted on br-tenant-a by host.json) ----
jq '. + {vm_id: "web-1"} | .config.network[0].tap_device = "tap-web1"' \
  "$SPEC/create_vm_single.json" >"$TMP/vm1.json"
# A second VM of the same tenant: no address (standard-pool), no MAC, no tap.
jq '. + {vm_id: "web-2"} | .config.network[0] |= (del(.mac_address) |
    .ipv6.address = "" | .ipv6.gateway = "fe80::1" | .ipv6.pool = "standard-pool")' \
  "$SPEC/create_vm_single.json" >"$TMP/vm2.json"

check "vm create web-1 (spec example)" ctl --json vm create -f "$TMP/vm1.json"
out=$(ctl --json vm create -f "$TMP/vm2.json")
check "vm create web-2 (pool allocation)" test -n "$out"
TAP2=$(jq -r '.config.network[0].tapDevice // .config.network[0].tap_device' <<<"$out")
MAC2=$(jq -r '.config.network[0].macAddress // .config.network[0].mac_address' <<<"$out")
ADDR2=$(jq -r '.config.network[0].ipv6.address' <<<"$out")
check "web-2 got a generated tap ($TAP2), MAC ($MAC2), pool address ($ADDR2)" \
  test "${TAP2:0:3}" = v6g -a ${#TAP2} = 15 -a "$ADDR2" = "2600:beef:1001::2/64"

check_programmed() {
  local bindings vm_ports sg
  bindings=$(set_elements bindings)
  vm_ports=$(set_elements vm_ports)
  sg=$(set_elements sg_ports)
  check "$1: tap-web1 and $TAP2 exist" in_ns ip link show tap-web1 >/dev/null 2>&1
  check "$1: $TAP2 exists" in_ns ip link show "$TAP2"
  check "$1: both taps are nft VM ports" \
    bash -c "grep -qxF tap-web1 <<<'$vm_ports' && grep -qxF '$TAP2' <<<'$vm_ports'"
  check "$1: both taps have source guard" \
    bash -c "grep -qxF tap-web1 <<<'$sg' && grep -qxF '$TAP2' <<<'$sg'"
  check "$1: static binding web-1 in nft" \
    has_line "$bindings" "tap-web1 . aa:fc:00:00:00:01 . 2600:beef:1000:100::50"
  check "$1: static binding web-2 in nft" \
    has_line "$bindings" "$TAP2 . $MAC2 . ${ADDR2%/*}"
  check "$1: exactly 2 bindings in nft" test "$(grep -c . <<<"$bindings")" = 2
  local api
  api=$(ctl --json bindings)
  check "$1: ListBindings: 2 static bindings, both in_kernel" \
    test "$(jq '[.bindings[] | select(.origin == "ORIGIN_STATIC" and .in_kernel)] | length' <<<"$api")" = 2
  check "$1: ListPorts: 2 ports" test "$(ctl --json ports | jq '.ports | length')" = 2
  check "$1: tap-web1 is on a bridge" in_ns test -e /sys/class/net/tap-web1/master
}
check_programmed "created"

# ---- GetVmInfo / ListVms / status ----
info=$(ctl --json vm get web-1)
check "GetVmInfo web-1: tenant and address" \
  test "$(jq -r '.config.tenantId // .config.tenant_id' <<<"$info")" = customer-123 -a \
  "$(jq -r '.config.network[0].ipv6.address' <<<"$info")" = "2600:BEEF:1000:100::50/64"
check "ListVms: 2 VMs" test "$(ctl --json vm list | jq '.vms | length')" = 2
check "ListVms --tenant other: none" \
  test "$(ctl --json vm list --tenant nobody | jq '.vms // [] | length')" = 0
table=$(ctl vm list)
check "vm list prints a table" grep -q "^web-1 " <<<"$table"
check "status names the datapath" grep -q "datapath.*nft" <<<"$(ctl status)"

# ---- log_security_events: a firewall denial reaches the event stream ----
# Play web-1's VMM: attach to its tap and send UDP to port 9 (web-1's egress
# rules allow tcp 53/80/443 and icmpv6 only, then "deny all"). The multicast
# destination makes the bridge deliver it locally, through the fw_input hook.
send_denied_udp() {
  in_ns python3 - "$@" <<'PY'
import fcntl, os, socket, struct, sys, time
tap, smac, src, dst = sys.argv[1:5]
fd = os.open("/dev/net/tun", os.O_RDWR)
fcntl.ioctl(fd, 0x400454CA, struct.pack("16sH", tap.encode(), 0x0002 | 0x1000))  # TUNSETIFF: TAP, NO_PI
s, d = socket.inet_pton(socket.AF_INET6, src), socket.inet_pton(socket.AF_INET6, dst)
payload = b"v6guard-fw-event"
udp = struct.pack("!HHHH", 40000, 9, 8 + len(payload), 0) + payload
pseudo = s + d + struct.pack("!IxxxB", len(udp), 17) + udp
acc = sum(struct.unpack("!%dH" % (len(pseudo) // 2), pseudo + b"\0" * (len(pseudo) % 2)))
while acc >> 16:
    acc = (acc & 0xFFFF) + (acc >> 16)
udp = udp[:6] + struct.pack("!H", (~acc & 0xFFFF) or 0xFFFF) + udp[8:]
ip6 = struct.pack("!IHBB", 6 << 28, len(udp), 17, 64) + s + d
eth = bytes.fromhex("333300000001") + bytes.fromhex(smac.replace(":", "")) + b"\x86\xdd"
time.sleep(0.5)  # carrier up; the bridge itself must be up to deliver locally
os.system("ip link set $(basename $(readlink /sys/class/net/%s/master)) up" % tap)
for _ in range(3):
    os.write(fd, eth + ip6 + udp)
    time.sleep(0.1)
PY
}
fw_events() {
  ctl --json events | jq '[.events[]? | select((.violationType // .violation_type) == "firewall_deny")]'
}
fw_event_seen() { test "$(fw_events | jq length)" -gt 0; }
if [ "$V6G_DAEMON_MODE" = no-inspector ]; then
  : # the NFLOG reader feeds the inspector's event ring; without it there is no stream
elif send_denied_udp tap-web1 aa:fc:00:00:00:01 2600:beef:1000:100::50 ff02::1; then
  busywait 5000 fw_event_seen
  ev=$(fw_events)
  check "firewall denial (UDP port 9 from web-1) is a security event" fw_event_seen
  check "the denial event names web-1, its tenant and its tap" \
    test "$(jq -r '.[0] | [.vmId // .vm_id, .tenantId // .tenant_id, .interfaceId // .interface_id] | join(",")' <<<"$ev")" = "web-1,customer-123,tap-web1"
else
  fail "could not attach to tap-web1 to send a denied packet"
fi

# ---- invalid requests ----
ctl vm create -f "$SPEC/create_vm_multi.json" >"$TMP/multi.out" 2>"$TMP/multi.err"
rc=$?
check "spec multi example rejected: exit 1" test $rc = 1
check "... invalid_argument at config.network[0].ipv6.address" \
  grep -q "invalid_argument" "$TMP/multi.err"
check "... names the field and the bad character" \
  bash -c "grep -q 'config.network\[0\].ipv6.address' $TMP/multi.err && grep -q \"invalid character 'm'\" $TMP/multi.err"
jq '. + {vm_id: "web-3"} | .config.network[0].tap_device = "tap-web3"' \
  "$SPEC/create_vm_single.json" >"$TMP/vm3.json"
ctl vm create -f "$TMP/vm3.json" >/dev/null 2>"$TMP/dup.err"
check "same static address again: already_exists (exit 1)" \
  bash -c "[ $? = 1 ] && grep -q already_exists $TMP/dup.err"
check "rejected creates left no tap" bash -c "! ip netns exec $NS ip link show tap-web3 >/dev/null 2>&1"
check "still 2 VMs" test "$(ctl --json vm list | jq '.vms | length')" = 2

# ---- kill -9 and restart ----
OLD=$PID
kill -9 "$PID"; wait "$PID" 2>/dev/null; PID=
check "the first daemon is gone" bash -c "! kill -0 $OLD 2>/dev/null"
start_daemon || { cat "$TMP/daemon.log"; fail "v6guardd restarts"; exit 1; }
ok "v6guardd restarted after kill -9"
check "restart: 2 VMs recovered" test "$(ctl --json vm list | jq '.vms | length')" = 2
check "restart: status says 2 recovered, 0 failed" \
  test "$(ctl --json status | jq -r '.lines[] | select(.key == "recovered_vms") | .value')" = "2 (0 failed to program)"
check_programmed "restarted"
check "restart: one tap-web1 link only" test "$(in_ns ip -o link show | grep -c 'tap-web1[@:]')" = 1

# ---- DeleteVm ----
check "vm delete web-1" ctl --json vm delete web-1
bindings=$(set_elements bindings)
check "web-1 binding gone from nft" bash -c "! grep -q 'tap-web1' <<<'$bindings'"
check "web-2 binding still there" has_line "$bindings" "$TAP2 . $MAC2 . ${ADDR2%/*}"
check "tap-web1 no longer a VM port" bash -c "! grep -qxF tap-web1 <<<'$(set_elements vm_ports)'"
check "tap-web1 deleted" bash -c "! ip netns exec $NS ip link show tap-web1 >/dev/null 2>&1"
check "GetVmInfo web-1: not_found" grep -q "^error: not_found" <<<"$(ctl vm get web-1 2>&1)"
check "vm delete web-2" ctl --json vm delete web-2
check "no bindings left in nft" test -z "$(set_elements bindings)"
check "no VMs left" test "$(ctl --json vm list | jq '.vms // [] | length')" = 0
check "the freed static address is accepted again" ctl --json vm create -f "$TMP/vm3.json"

kill -TERM "$PID"; wait "$PID" 2>/dev/null; PID=
lab_test_done || { echo "--- daemon log"; cat "$TMP/daemon.log"; exit 1; }
