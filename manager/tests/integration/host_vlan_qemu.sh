#!/bin/bash
# Bridge VLAN filtering and 802.1Q detection, in a QEMU guest. The CI host
# kernel has neither CONFIG_BRIDGE_VLAN_FILTERING nor 8021q, so this boots
# Debian's 6.1 kernel (TCG) with the host root read-only over 9p and runs the
# VLAN half of the host tests there: v6g-hostctl in filtering mode (PVID +
# untagged per port, VLAN 1 removed), frames pass within a VLAN and not across,
# remove leaves nothing, and host_plan_test (which skips its filtering case on
# the host) runs with filtering available.
#
# Needs an extracted Debian kernel package (dpkg -x) with depmod run:
#   V6G_GUEST_KIMG (default: $V6G_KIMG_CACHE/<kver>, the cache
#   scripts/vm-run.sh uses, filled here the same way if empty).
# Skips (exit 4) when it, qemu or busybox is missing.
set -u
SELF=$(readlink -f "$0")

if [ "${1:-}" = --guest ]; then
  # ---- inside the guest (PID 1's child, root, fresh kernel) ----
  BUILD=$2
  HOSTCTL=$BUILD/manager/host/v6g-hostctl
  modprobe -a bridge veth tun 8021q nf_tables nft_limit nf_tables_bridge 2>/dev/null
  FAILS=0
  ok() { echo "ok - $*"; }
  nok() { echo "not ok - $*"; FAILS=$((FAILS + 1)); }
  check() { local what=$1; shift; if "$@"; then ok "$what"; else nok "$what"; fi; }
  H=v6g-g-host
  "$HOSTCTL" caps
  check "guest kernel has bridge vlan filtering" eval '"$HOSTCTL" caps | grep -q "bridge_vlan_filtering yes"'
  check "guest kernel has 8021q" eval '"$HOSTCTL" caps | grep -q "vlan_8021q yes"'
  ip netns add $H
  for n in vm1 vm2 vm3; do
    ip netns add v6g-g-$n
    ip -n $H link add h-$n type veth peer name eth0 netns v6g-g-$n
    ip -n v6g-g-$n link set eth0 up
  done
  # The router side of a tagged uplink: VLAN 10 only, on an 802.1Q subinterface.
  ip netns add v6g-g-up
  ip -n $H link add h-up type veth peer name eth0 netns v6g-g-up
  ip -n $H link set h-up up
  ip -n v6g-g-up link set eth0 up
  ip -n v6g-g-up link add link eth0 name eth0.10 type vlan id 10
  ip -n v6g-g-up link set eth0.10 up
  ip -n v6g-g-up addr add 2001:db8::1/64 dev eth0.10 nodad
  ip -n v6g-g-vm1 addr add 2001:db8::11/64 dev eth0 nodad
  ip -n v6g-g-vm2 addr add 2001:db8::12/64 dev eth0 nodad
  ip -n v6g-g-vm3 addr add 2001:db8::13/64 dev eth0 nodad
  hc() { ip netns exec $H "$HOSTCTL" "$@"; }
  U="--uplink h-up"
  hc apply --bridge brt --port h-vm1 --adopt --vlan 10 --vlan-mode filtering $U | tail -1
  hc apply --bridge brt --port h-vm2 --adopt --vlan 10 --vlan-mode filtering $U >/dev/null
  hc apply --bridge brt --port h-vm3 --adopt --vlan 20 --vlan-mode filtering $U >/dev/null
  check "one bridge in filtering mode" eval 'ip -n $H -d link show brt | grep -q "vlan_filtering 1"'
  ip netns exec $H bridge vlan show
  check "vm1 port carries only vlan 10 (pvid, untagged)" \
    eval '[ "$(hc show --port h-vm1 | grep ^vlan)" = "vlan 10 pvid untagged" ]'
  check "vm3 port carries only vlan 20" eval '[ "$(hc show --port h-vm3 | grep ^vlan)" = "vlan 20 pvid untagged" ]'
  try_ping() { ip netns exec v6g-g-$1 ping -c1 -W2 -q $2 >/dev/null 2>&1; }
  check "uplink is a trunk: vlans 10 and 20 tagged" \
    eval '[ "$(hc show --port h-up | grep -E "^vlan (10|20)" | tr "\n" " ")" = "vlan 10 vlan 20 " ]'
  passes=0; for i in 1 2 3 4 5; do try_ping vm1 2001:db8::1 && { passes=1; break; }; done
  check "vm1 reaches the router over tagged vlan 10" test $passes = 1
  check "vm3 (vlan 20) can't reach the vlan-10 router" eval '! try_ping vm3 2001:db8::1'
  passes=0; for i in 1 2 3 4 5; do try_ping vm1 2001:db8::12 && { passes=1; break; }; done
  check "same vlan passes (vm1 -> vm2)" test $passes = 1
  check "different vlan blocked (vm1 -> vm3)" eval '! try_ping vm1 2001:db8::13 && ! try_ping vm1 2001:db8::13'
  check "different vlan blocked (vm3 -> vm2)" eval '! try_ping vm3 2001:db8::12'
  out=$(hc apply --bridge brt --port h-vm1 --adopt --vlan 10 --vlan-mode filtering $U)
  check "re-apply is a no-op" grep -q "changed 0$" <<<"$out"
  # Bridge conntrack exists here (nf_conntrack_bridge): the firewall goes
  # stateful. vm1 may only send ICMPv6; the echo replies it gets back pass as
  # established, while vm2's own echo requests to vm1 stay denied.
  hc apply --bridge brt --port h-vm1 --adopt --vlan 10 --vlan-mode filtering $U \
    --egress "allow icmpv6 from any to any" >/dev/null || nok "apply firewall"
  check "firewall is stateful (ct state in the port chain)" \
    eval 'ip netns exec $H nft list chain bridge v6guard_fw out_h-vm1 | grep -q "ct state established,related"'
  check "replies to vm1's pings pass (established)" try_ping vm1 2001:db8::12
  check "new pings to vm1 are denied" eval '! try_ping vm2 2001:db8::11'
  out=$(hc apply --bridge brt --port h-vm1 --adopt --vlan 10 --vlan-mode filtering $U \
    --egress "allow icmpv6 from any to any")
  check "re-apply with firewall is a no-op" grep -q "changed 0$" <<<"$out"
  hc apply --bridge brt --port tapz --vlan 4095 --vlan-mode filtering >/dev/null 2>&1
  check "vlan 4095 refused" test $? -ne 0
  hc remove --bridge brt --port h-vm3 --vlan 20 --vlan-mode filtering $U >/dev/null || nok "remove vm3"
  check "vlan 20 left the uplink with its last port" eval '! hc show --port h-up | grep -q "^vlan 20"'
  for n in vm1 vm2; do hc remove --bridge brt --port h-$n --vlan 10 --vlan-mode filtering $U >/dev/null || nok "remove $n"; done
  check "bridge deleted with its last port" eval '! ip -n $H link show brt >/dev/null 2>&1'
  check "adopted veths released" eval '! ip -n $H -d link show | grep -q "master "'
  check "uplink released, not deleted" eval 'ip -n $H link show h-up >/dev/null && [ "$(hc show --port h-up | grep ^master)" = "master 0" ]'
  # Without VLAN filtering the tagged uplink is an owned 802.1Q subinterface.
  hc apply --bridge brt --port h-vm1 --adopt --vlan 10 --vlan-mode bridge-per-vlan $U | tail -1
  check "bridge-per-vlan: h-up.10 enslaved to brtv10" eval 'ip -n $H -d link show h-up.10 | grep -q "master brtv10"'
  passes=0; for i in 1 2 3 4 5; do try_ping vm1 2001:db8::1 && { passes=1; break; }; done
  check "bridge-per-vlan: vm1 reaches the router over h-up.10" test $passes = 1
  hc remove --bridge brt --port h-vm1 --vlan 10 --vlan-mode bridge-per-vlan $U >/dev/null || nok "remove per-vlan"
  check "bridge-per-vlan: subinterface and bridge removed" \
    eval '! ip -n $H link show h-up.10 >/dev/null 2>&1 && ! ip -n $H link show brtv10 >/dev/null 2>&1'
  check "no v6guard nft objects left" eval '! ip netns exec $H nft list ruleset | grep -q v6guard'
  # The VM programmer (what v6guardd runs for CreateVm) in filtering mode with
  # the uplink as a tagged trunk: VmConfig JSON in, VLANs per port out.
  cfg() {
    jq -n --arg tap "$1" --arg vlan "$2" '{tenant_id: "t", network: [{id: "eth0", tap_device: $tap,
      bridge_name: "brv", vlan_id: $vlan, options: {tap_mode: "adopt"},
      security_policy: {egress_rules: ["allow icmpv6 from any to any"]}}]}' >/tmp/$1.json
  }
  cfg h-vm1 10; cfg h-vm3 20
  vmp() { hc vm-$1 --config /tmp/$2.json --vm-id $2 --vlan-mode filtering --vm-uplink brv=h-up; }
  vmp program h-vm1 | tail -1
  vmp program h-vm3 >/dev/null || nok "vm-program h-vm3"
  check "vm-program: vm1 port carries only vlan 10" \
    eval '[ "$(hc show --port h-vm1 | grep ^vlan)" = "vlan 10 pvid untagged" ]'
  check "vm-program: uplink trunk carries vlans 10 and 20 tagged" \
    eval '[ "$(hc show --port h-up | grep -E "^vlan (10|20)" | tr "\n" " ")" = "vlan 10 vlan 20 " ]'
  passes=0; for i in 1 2 3 4 5; do try_ping vm1 2001:db8::1 && { passes=1; break; }; done
  check "vm-program: vm1 reaches the router over tagged vlan 10 (through its firewall)" test $passes = 1
  check "vm-program: vm3 (vlan 20) can't reach it" eval '! try_ping vm3 2001:db8::1'
  out=$(vmp program h-vm1)
  check "vm-program: re-apply is a no-op" grep -q "changed 0$" <<<"$out"
  vmp unprogram h-vm3 >/dev/null || nok "vm-unprogram h-vm3"
  vmp unprogram h-vm1 >/dev/null || nok "vm-unprogram h-vm1"
  check "vm-unprogram: bridge gone, uplink released, no nft objects" \
    eval '! ip -n $H link show brv >/dev/null 2>&1 && [ "$(hc show --port h-up | grep ^master)" = "master 0" ] &&
      ! ip netns exec $H nft list ruleset | grep -q v6guard'
  check "host_plan_test passes with filtering available" \
    eval '"$BUILD/manager/tests/host_plan_test" --gtest_brief=1 >/tmp/plan.log 2>&1 || { cat /tmp/plan.log; false; }'
  grep -E "PASSED|SKIPPED|FAILED" /tmp/plan.log
  echo "# $FAILS failure(s)"
  [ $FAILS = 0 ]
  exit
fi

# ---- on the host ----
BUILD=$(readlink -f "${V6G_BUILD_DIR:-build}")
# Default: the unpacked kernel in the cache scripts/vm-run.sh keeps (same
# layout: $cache/<kver>). On a fresh machine the integration tier runs before
# the selftests, so fill the cache the same way vm-run.sh does.
CACHE=${V6G_KIMG_CACHE:-/var/cache/v6guard/kimg}
if [ -z "${V6G_GUEST_KIMG:-}" ]; then
  SRC=$(cd "$(dirname "$SELF")/../../.." && pwd)
  KVER=$(make -s -C "$SRC/kmod" kver 2>/dev/null)
  if [ -n "$KVER" ] && [ ! -f "$CACHE/$KVER/boot/vmlinuz-$KVER" ] && command -v apt-get >/dev/null; then
    mkdir -p "$CACHE"
    (cd "$CACHE" && { ls linux-image-"$KVER"_*.deb >/dev/null 2>&1 ||
      apt-get download "linux-image-$KVER" >/dev/null 2>&1; }) &&
      rm -rf "$CACHE/$KVER.tmp.$$" &&
      dpkg -x "$(ls "$CACHE"/linux-image-"$KVER"_*.deb | tail -1)" "$CACHE/$KVER.tmp.$$" &&
      depmod -b "$CACHE/$KVER.tmp.$$" "$KVER" &&
      { mv -T "$CACHE/$KVER.tmp.$$" "$CACHE/$KVER" 2>/dev/null || rm -rf "$CACHE/$KVER.tmp.$$"; }
  fi
  V6G_GUEST_KIMG=${KVER:+$CACHE/$KVER}
fi
KIMG=${V6G_GUEST_KIMG:-/tmp/v6g-lab/kimg}
[ -x "$BUILD/manager/host/v6g-hostctl" ] || { echo "SKIP: v6g-hostctl not built"; exit 4; }
[ -x "$BUILD/manager/tests/host_plan_test" ] || { echo "SKIP: host_plan_test not built"; exit 4; }
KERNEL=$(ls "$KIMG"/boot/vmlinuz-* 2>/dev/null | head -1)
[ -n "$KERNEL" ] || { echo "SKIP: no guest kernel in $KIMG (set V6G_GUEST_KIMG)"; exit 4; }
KVER=${KERNEL##*/vmlinuz-}
[ -f "$KIMG/lib/modules/$KVER/modules.dep" ] || { echo "SKIP: run depmod -b $KIMG $KVER"; exit 4; }
for tool in qemu-system-x86_64 busybox cpio gzip; do
  command -v $tool >/dev/null || { echo "SKIP: $tool missing"; exit 4; }
done
[ -d /lib/modules/$KVER ] || { echo "SKIP: no /lib/modules/$KVER mount point on the host root"; exit 4; }

WORK=$(mktemp -d /tmp/v6g-hostvlan.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
R=$WORK/initramfs
mkdir -p $R/{bin,proc,sys,dev,newroot,mods}
cp "$(command -v busybox)" $R/bin/busybox
for a in sh mount insmod switch_root mkdir cat sed poweroff; do ln -s busybox $R/bin/$a; done
: >$R/mods/order
for m in virtio_pci 9pnet_virtio 9p; do
  modprobe -d "$KIMG" -S "$KVER" --show-depends $m | awk '/^insmod/ {print $2}' | while read -r ko; do
    b=$(basename "$ko")
    grep -qx "$b" $R/mods/order || { cp "$ko" $R/mods/; echo "$b" >>$R/mods/order; }
  done
done
cat >$R/init <<INIT
#!/bin/sh
export PATH=/bin
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev
for m in \$(cat /mods/order); do insmod /mods/\$m; done
mount -t 9p -o trans=virtio,version=9p2000.L,ro,cache=loose,msize=512000 root /newroot || poweroff -f
mount -o bind /newroot$KIMG/lib/modules/$KVER /newroot/lib/modules/$KVER
for d in tmp run var/tmp var/log root; do mount -t tmpfs -o mode=1777 tmpfs /newroot/\$d; done
mount --move /proc /newroot/proc; mount --move /sys /newroot/sys; mount --move /dev /newroot/dev
exec switch_root /newroot /bin/bash -c 'export PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root; \
  bash $SELF --guest $BUILD; echo "GUEST-EXIT=\$?"; busybox poweroff -f'
INIT
chmod +x $R/init
(cd $R && find . | cpio -o -H newc 2>/dev/null | gzip -1) >$WORK/initramfs.cpio.gz

timeout 300 qemu-system-x86_64 -accel tcg -cpu max -m 1024 -smp 2 -nographic -no-reboot -nic none \
  -kernel "$KERNEL" -initrd $WORK/initramfs.cpio.gz \
  -virtfs local,path=/,security_model=none,readonly=on,multidevs=remap,mount_tag=root \
  -append "console=ttyS0 panic=-1 quiet" >$WORK/console.log 2>&1
tr -d '\r' <$WORK/console.log | grep -vE '^\s*$' | grep -vE '^\[ *[0-9]+\.[0-9]+\]' | tail -40
grep -q "GUEST-EXIT=0" $WORK/console.log
