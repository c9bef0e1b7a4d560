#!/bin/bash
# Full disk and read-only state directory (--state-dir: SQLite WAL) under the
# real v6guardd (nft datapath, host programming) in a private network
# namespace, with the state dir on filesystems of its own in a private mount
# namespace (unshare -m):
#  A. a small tmpfs; CreateVm until it is full: each further create gets
#     resource_exhausted naming the full disk and leaves nothing on the host
#     (tap, nft VM port, firewall/QoS chains), the daemon keeps answering, and
#     every VM created before is listed and survives a restart on the full disk.
#  B. the tmpfs remounted read-only: v6guardd refuses to start, with one clear
#     error line and a non-zero exit.
#  C. remounted read-write (and grown): every VM is back and programmed,
#     creates and deletes work again.
#  D. the filesystem turns read-only under a running daemon, as the kernel
#     does on a disk error (ext4 errors=remount-ro on a loop device; the error
#     injected through /sys/fs/ext4/<dev>/trigger_fs_error): creates and
#     deletes get unavailable naming the read-only state dir and change
#     nothing, reads still work, the daemon stays up; after fsck and a
#     read-write mount everything is back. Skipped without loop devices.
set -u
[ "$(id -u)" = 0 ] || { echo "# skip: needs root"; exit 4; }
SRC=${V6G_SOURCE_DIR:-$(cd "$(dirname "$0")/../../.." && pwd)}
BUILD=${V6G_BUILD_DIR:-$SRC/build}
DAEMON=$BUILD/manager/daemon/v6guardd
CTL=$BUILD/manager/cli/v6guardctl
SPEC=$SRC/manager/tests/data/spec
for t in nft jq unshare mount; do
  command -v $t >/dev/null || { echo "# skip: $t missing"; exit 4; }
done
[ -x "$DAEMON" ] && [ -x "$CTL" ] || { echo "# skip: v6guardd/v6guardctl not built"; exit 4; }
# Our mounts stay in a mount namespace of our own; they vanish with it.
if [ -z "${V6G_SDF_PRIVATE:-}" ]; then
  exec env V6G_SDF_PRIVATE=1 unshare -m --propagation private bash "$0" "$@"
fi

n=0 failed=0
. "$SRC/scripts/lab.sh"  # ok, fail, check, busywait

NS="v6g-sdf-$RANDOM$RANDOM"
TMP=$(mktemp -d /tmp/v6g-state-faults.XXXXXX)
STATE=$TMP/state SOCK=$TMP/api.sock
PID=
cleanup() {
  [ -n "$PID" ] && kill -9 "$PID" 2>/dev/null
  ip netns pids "$NS" 2>/dev/null | xargs -r kill -9 2>/dev/null
  ip netns del "$NS" 2>/dev/null
  umount -l "$STATE" 2>/dev/null
  rm -rf "$TMP"
}
trap cleanup EXIT INT TERM
T0=$(date +%s)

ip netns add "$NS"
ip -n "$NS" link set lo up
in_ns() { ip netns exec "$NS" "$@"; }
ctl() { in_ns "$CTL" --socket "$SOCK" "$@"; }
start_daemon() {  # background; returns once the API answers (or the daemon died)
  ip netns exec "$NS" "$DAEMON" --datapath nft --no-inspector --state-dir "$STATE" \
    --api-socket "$SOCK" --host-config "$SPEC/host.json" >>"$TMP/daemon.log" 2>&1 &
  PID=$!
  busywait 15000 api_up_or_dead
  kill -0 $PID 2>/dev/null
}
api_up_or_dead() { ctl status >/dev/null 2>&1 || ! kill -0 "$PID" 2>/dev/null; }
stop_daemon() { kill "$PID" 2>/dev/null; wait "$PID" 2>/dev/null; PID=; }
vm_json() {  # vm_json <id>: a pool-allocated VM (address, MAC, tap generated) with firewall + QoS
  jq --arg id "$1" '. + {vm_id: $id} | .config.network[0] |= (del(.mac_address) |
      .ipv6.address = "" | .ipv6.gateway = "fe80::1" | .ipv6.pool = "standard-pool")' \
    "$SPEC/create_vm_single.json" >"$TMP/$1.json"
  echo "$TMP/$1.json"
}
create() { ctl --json vm create -f "$(vm_json "$1")" >"$TMP/out" 2>"$TMP/err"; }
stored_ids() { ctl --json vm list | jq -r '.vms // [] | .[] | .vmId // .vm_id' | sort; }
set_elements() {  # one element's interface per line
  in_ns nft -j list set bridge v6guard "$1" 2>/dev/null |
    jq -r '.nftables[] | select(.set) | .set.elem // [] | .[] |
           if type == "object" then (.concat // [.]) | .[0] | tostring else . end' | sort -u
}
fw_ports() {
  in_ns nft -j list map bridge v6guard_fw in_ports 2>/dev/null | jq -r '.nftables[] | select(.map) |
      .map.elem // [] | .[] | .[0] | if type == "object" then .elem.val else . end' | sort -u
}
taps() { in_ns ip -o link show type tun | awk -F': ' '{ print $2 }' | sed 's/@.*//' | sort; }
stored_taps() { ctl --json ports | jq -r '.ports // [] | .[] | .port' | sort; }
host_matches_store() {  # host_matches_store <label>: taps, nft ports and firewalls = the store's
  local want
  want=$(stored_taps)
  [ "$(taps)" = "$want" ] && [ "$(set_elements vm_ports)" = "$want" ] && [ "$(fw_ports)" = "$want" ] &&
    ok "$1: taps, nft VM ports and firewall/QoS chains are exactly the $(wc -w <<<"$want") stored VMs'" ||
    { fail "$1: host differs from the store"; echo "#   stored: $(echo $want)"; echo "#   taps: $(echo $(taps))";
      echo "#   vm_ports: $(echo $(set_elements vm_ports))"; echo "#   firewalls: $(echo $(fw_ports))"; }
}

# ---------------------------------------------------------------- A. full disk
mkdir -p "$STATE"
mount -t tmpfs -o size=${V6G_SDF_TMPFS:-256k},mode=0700 v6g-state "$STATE" || { echo "# skip: cannot mount tmpfs"; exit 4; }
start_daemon || { cat "$TMP/daemon.log"; fail "A: v6guardd starts on a ${V6G_SDF_TMPFS:-256k} tmpfs"; exit 1; }
created=() first_err=
for i in $(seq 1 400); do
  if create "fill-$i"; then created+=("fill-$i"); else first_err=$(cat "$TMP/err"); break; fi
done
df_line=$(df -k "$STATE" | tail -1 | awk '{ print $3 "k used of " $2 "k" }')
echo "# ${#created[@]} VMs created before the state dir filled up ($df_line)"
echo "# first failure: $first_err"
[ ${#created[@]} -gt 0 ] && [ -n "$first_err" ] && ok "A: the state dir filled up after ${#created[@]} VMs" ||
  fail "A: the state dir never filled up (${#created[@]} VMs)"
clear_full() {  # clear_full <error text>: resource_exhausted, naming the full disk
  grep -q '^error: resource_exhausted: ' <<<"$1" && grep -qi 'full\|no space' <<<"$1"
}
clear_full "$first_err" && ok "A: the failing CreateVm got resource_exhausted naming the full disk" ||
  fail "A: unclear error on a full disk: $first_err"
# A later, smaller transaction may still fit where the failed one's WAL
# frames were written (store v4 writes ~5 frames per create, give or take a
# b-tree split), so a further create may succeed - whole: the checks below
# compare the store with the host - but each one that fails must fail clearly.
more_ok=0 more_created=0
for i in 1 2 3; do
  if create "more-$i"; then created+=("more-$i"); more_created=$((more_created + 1)); else clear_full "$(cat "$TMP/err")" && more_ok=$((more_ok + 1)); fi
done
[ $more_ok -ge 1 ] && [ $((more_ok + more_created)) = 3 ] &&
  ok "A: each further CreateVm gets the same clear error or fits whole ($more_ok refused, $more_created fit)" ||
  fail "A: further creates: $more_ok of 3 with a clear error, $more_created fit ($(cat "$TMP/err"))"
check "A: v6guardd still running" kill -0 $PID
check "A: v6guardd still answers (status)" ctl status
ids=$(stored_ids)
want=$(printf '%s\n' "${created[@]}" | sort)
[ "$ids" = "$want" ] && ok "A: every VM created before is listed (${#created[@]}), no failed one is" ||
  { fail "A: listed VMs differ from the acknowledged ones"; diff <(echo "$want") <(echo "$ids") | sed 's/^/#   /' | head; }
host_matches_store "A: on the full disk"
# A delete on a full disk either works or fails clearly, with the VM left whole.
victim=${created[0]}
if ctl --json vm delete "$victim" >"$TMP/out" 2>"$TMP/err"; then
  created=("${created[@]:1}")
  ok "A: DeleteVm on the full disk worked"
else
  clear_full "$(cat "$TMP/err")" && stored_ids | grep -qx "$victim" &&
    ok "A: DeleteVm on the full disk got resource_exhausted and kept the VM" ||
    fail "A: DeleteVm on the full disk: $(cat "$TMP/err")"
fi
host_matches_store "A: after the delete attempt"
want=$(printf '%s\n' "${created[@]}" | sort)
stop_daemon
start_daemon && ok "A: v6guardd restarts on the full disk" || { fail "A: restart on the full disk"; tail -5 "$TMP/daemon.log"; }
[ "$(stored_ids)" = "$want" ] && ok "A: every VM survived the restart on the full disk" ||
  fail "A: VMs lost in the restart on the full disk"
host_matches_store "A: after the restart on the full disk"
stop_daemon
echo "# A took $(($(date +%s) - T0)) s"

# ------------------------------------------------------------ B. read-only
mount -o remount,ro "$STATE" || fail "B: remount read-only"
: >"$TMP/daemon.log"
t=$(date +%s)
timeout 20 ip netns exec "$NS" "$DAEMON" --datapath nft --no-inspector --state-dir "$STATE" \
  --api-socket "$SOCK" --host-config "$SPEC/host.json" >"$TMP/ro.out" 2>"$TMP/ro.err"
rc=$?
echo "# read-only start: exit $rc after $(($(date +%s) - t)) s; stderr:"; sed 's/^/#   /' "$TMP/ro.err"
[ $rc -ne 0 ] && [ $rc -ne 124 ] && ok "B: v6guardd refuses to start on a read-only state dir (exit $rc)" ||
  fail "B: v6guardd on a read-only state dir: exit $rc"
[ "$(grep -c . "$TMP/ro.err")" = 1 ] && grep -qi 'read-only' "$TMP/ro.err" && grep -q "$STATE" "$TMP/ro.err" &&
  ok "B: one error line naming the state dir and that it is read-only" ||
  fail "B: the error does not say clearly why"

# ---------------------------------------------------------- C. read-write again
mount -o remount,rw,size=4m "$STATE" || fail "C: remount read-write"
start_daemon && ok "C: v6guardd starts once the state dir is writable again" || { fail "C: start"; tail -5 "$TMP/daemon.log"; }
[ "$(stored_ids)" = "$want" ] && ok "C: every VM is back" || fail "C: VMs differ after the read-only episode"
host_matches_store "C: after the read-only episode"
create after-1 && create after-2 && ok "C: CreateVm works again" || fail "C: CreateVm: $(cat "$TMP/err")"
ctl --json vm delete after-1 >/dev/null && ok "C: DeleteVm works again" || fail "C: DeleteVm"
host_matches_store "C: after new creates"
stop_daemon
umount "$STATE"
echo "# A+B+C took $(($(date +%s) - T0)) s"

# ----------------------------------- D. read-only under a running daemon (ext4)
if ! command -v mkfs.ext4 >/dev/null || ! [ -e /dev/loop-control ]; then
  echo "# skip D: no mkfs.ext4 or loop devices"
else
  truncate -s 8M "$TMP/ext4.img"
  mkfs.ext4 -q -F "$TMP/ext4.img"
  if ! mount -o loop,errors=remount-ro "$TMP/ext4.img" "$STATE"; then
    echo "# skip D: cannot loop-mount ext4"
  else
    dev=$(basename "$(findmnt -no SOURCE "$STATE")")
    start_daemon || { fail "D: start on ext4"; tail -5 "$TMP/daemon.log"; }
    d_ok=()
    for i in 1 2 3; do create "ro-$i" && d_ok+=("ro-$i"); done
    [ ${#d_ok[@]} = 3 ] && ok "D: 3 VMs created on ext4" || fail "D: creates on ext4: $(cat "$TMP/err")"
    want=$(stored_ids)
    # synchronous=NORMAL makes commits durable across a crash of the daemon,
    # not of the disk: what the page cache still held is the disk error's.
    sync -f "$STATE/state.db"
    echo 1 >/sys/fs/ext4/$dev/trigger_fs_error
    busywait 5000 bash -c "! touch '$STATE/probe' 2>/dev/null" && ok "D: the kernel turned the state dir read-only" ||
      fail "D: the state dir is still writable"
    clear_ro() { grep -q '^error: unavailable: ' <<<"$1" && grep -qi 'read-only' <<<"$1"; }
    create ro-4; echo "# CreateVm on the read-only state dir: $(cat "$TMP/err")"
    create ro-4 && fail "D: CreateVm on the read-only state dir succeeded" ||
      { clear_ro "$(cat "$TMP/err")" && ok "D: CreateVm gets unavailable naming the read-only state" ||
        fail "D: unclear CreateVm error: $(cat "$TMP/err")"; }
    ctl --json vm delete ro-1 >"$TMP/out" 2>"$TMP/err" && fail "D: DeleteVm on the read-only state dir succeeded" ||
      { clear_ro "$(cat "$TMP/err")" && ok "D: DeleteVm gets unavailable naming the read-only state" ||
        fail "D: unclear DeleteVm error: $(cat "$TMP/err")"; }
    check "D: v6guardd still running" kill -0 $PID
    [ "$(stored_ids)" = "$want" ] && ok "D: reads still work and list every VM" || fail "D: listing on the read-only state dir"
    host_matches_store "D: on the read-only state dir"
    stop_daemon
    umount "$STATE"
    e2fsck -fy "$TMP/ext4.img" >/dev/null 2>&1
    mount -o loop "$TMP/ext4.img" "$STATE" || fail "D: mount after fsck"
    start_daemon && ok "D: v6guardd starts after fsck and a read-write mount" || { fail "D: start after fsck"; tail -5 "$TMP/daemon.log"; }
    [ "$(stored_ids)" = "$want" ] && ok "D: every VM is back" || fail "D: VMs differ after the disk error"
    create ro-5 && ok "D: CreateVm works again" || fail "D: CreateVm after fsck: $(cat "$TMP/err")"
    host_matches_store "D: after the disk error"
    stop_daemon
    umount "$STATE"
  fi
fi

echo "# took $(($(date +%s) - T0)) s"
echo "1..$n"
if [ $failed -ne 0 ]; then
  echo "--- daemon log"; tail -30 "$TMP/daemon.log"
  exit 1
fi
