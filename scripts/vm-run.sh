#!/usr/bin/env bash
# Boot Debian's 6.1 kernel under QEMU (TCG) with the host root shared read-only
# over virtio-9p, load kmod/v6guard.ko and run the kernel selftests
# (selftests/run.sh). TAP lines are printed here; the exit status is theirs.
#
# The guest kernel package is fetched with `apt-get download` into a cache
# outside the repo and unpacked with dpkg -x: it is never installed.
#
#   scripts/vm-run.sh [selftest-case ...]     (default: all cases)
# Env: V6G_KIMG_CACHE (default /var/cache/v6guard/kimg), KVER (default: the
#      kmod Makefile's choice), V6G_VM_TIMEOUT (seconds, default 480),
#      V6G_VM_MEM (MiB, default 1024), V6G_BUILD_DIR (userspace build with
#      v6guard-kmodctl; default build/), V6G_VM_SCRIPT (guest script instead
#      of selftests/guest.sh, e.g. the benchmark; it writes /tmp/out/tap.log).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cache=${V6G_KIMG_CACHE:-/var/cache/v6guard/kimg}
kver=${KVER:-$(make -s -C "$root/kmod" kver)}
timeout_s=${V6G_VM_TIMEOUT:-480}

skip() { echo "vm-run: SKIP: $*" >&2; exit 4; }
die() { echo "vm-run: $*" >&2; exit 1; }

[ -n "$kver" ] || skip "no linux-headers-6.1.0-*-amd64 installed"
command -v qemu-system-x86_64 >/dev/null || skip "qemu-system-x86_64 missing"
[ -x /bin/busybox ] || skip "busybox-static missing"
[ "$(id -u)" -eq 0 ] || skip "needs root (9p passthrough of the host root)"

# The guest mounts tmpfs over these host paths; what it needs must not be there.
for p in "$root" "$cache" "${V6G_BUILD_DIR:-$root/build}"; do
	case "$(readlink -f "$p")/" in
	/tmp/* | /run/* | /var/tmp/* | /var/log/*)
		die "$p is hidden from the guest (tmpfs there): use another location" ;;
	esac
done

ko="$root/kmod/v6guard.ko"
if [ ! -f "$ko" ] || [ -n "$(find "$root/kmod" -name '*.[ch]' -newer "$ko")" ]; then
	make -s -C "$root/kmod" KVER="$kver" >/dev/null || die "module build failed"
fi

# 1. The guest kernel and its modules, unpacked once per version.
kimg="$cache/$kver"
if [ ! -f "$kimg/boot/vmlinuz-$kver" ]; then
	mkdir -p "$cache"
	(cd "$cache" && ls linux-image-"$kver"_*.deb >/dev/null 2>&1 ||
		apt-get download "linux-image-$kver" >/dev/null) ||
		die "apt-get download linux-image-$kver failed"
	rm -rf "$kimg.tmp"
	dpkg -x "$(ls "$cache"/linux-image-"$kver"_*.deb | tail -1)" "$kimg.tmp"
	depmod -b "$kimg.tmp" "$kver"
	mv "$kimg.tmp" "$kimg"
fi

# 2. A tiny initramfs: busybox, virtio + 9p modules, an init that mounts the
#    host root and switches to it to run the selftests.
initrd="$cache/initramfs-$kver.cpio.gz"
if [ ! -f "$initrd" ] || [ "$0" -nt "$initrd" ]; then
	work=$(mktemp -d)
	mkdir -p "$work"/{bin,proc,sys,dev,newroot,mods}
	cp /bin/busybox "$work/bin/"
	for a in $(/bin/busybox --list); do
		[ -e "$work/bin/$a" ] || ln -s busybox "$work/bin/$a"
	done
	: >"$work/mods/order"
	for m in virtio_pci 9pnet_virtio 9p; do
		modprobe -d "$kimg" -S "$kver" --show-depends "$m" |
			awk '/^insmod/ { print $2 }' | while read -r k; do
			b=$(basename "$k")
			grep -qx "$b" "$work/mods/order" && continue
			cp "$k" "$work/mods/" && echo "$b" >>"$work/mods/order"
		done
	done
	cat >"$work/init" <<'INIT'
#!/bin/sh
export PATH=/bin
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev
for m in $(cat /mods/order); do insmod /mods/$m || echo "init: insmod $m failed"; done
mount -t 9p -o trans=virtio,version=9p2000.L,ro,cache=loose,msize=512000 root /newroot ||
	{ echo "init: 9p root mount failed"; poweroff -f; }
kver=$(cat /proc/sys/kernel/osrelease)
kimg=$(sed -n 's/.*v6g_kimg=\([^ ]*\).*/\1/p' /proc/cmdline)
script=$(sed -n 's/.*v6g_run=\([^ ]*\).*/\1/p' /proc/cmdline)
# The guest kernel's modules come from the unpacked package on the host.
if [ -d /newroot/lib/modules/$kver ]; then
	mount -o bind /newroot$kimg/lib/modules/$kver /newroot/lib/modules/$kver
else
	mount -t tmpfs tmpfs /newroot/lib/modules && mkdir /newroot/lib/modules/$kver &&
		mount -o bind /newroot$kimg/lib/modules/$kver /newroot/lib/modules/$kver
fi
# Writable scratch space (hides these host dirs from the guest).
for d in tmp run var/tmp var/log; do
	mount -t tmpfs -o mode=1777 tmpfs /newroot/$d
done
mkdir -p /newroot/tmp/out
mount -t 9p -o trans=virtio,version=9p2000.L out /newroot/tmp/out ||
	echo "init: results share missing"
mount --move /proc /newroot/proc; mount --move /sys /newroot/sys; mount --move /dev /newroot/dev
exec switch_root /newroot /bin/sh -c "export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/tmp; mount -t tmpfs tmpfs /dev/shm; ln -sfn /proc/self/fd /dev/fd; mkdir -p /dev/pts; mount -t devpts devpts /dev/pts; $script; echo \$? > /tmp/out/rc; sync; busybox poweroff -f"
INIT
	chmod +x "$work/init"
	(cd "$work" && find . | /bin/busybox cpio -o -H newc 2>/dev/null | gzip -1) >"$initrd.tmp"
	mv "$initrd.tmp" "$initrd"
	rm -rf "$work"
fi

# 3. Boot once for all cases; results come back through a writable share.
out=$(mktemp -d /tmp/v6g-vm-XXXXXX)
trap 'rm -rf "$out"' EXIT
printf '%s\n' "$@" >"$out/cases"
# The selftests drive the module with v6guard-kmodctl from a userspace build.
build=${V6G_BUILD_DIR:-$root/build}
for b in "$build" "$root/build" "$root/build-kmod"; do
	[ -x "$b/manager/netlink/v6guard-kmodctl" ] && { build=$b; break; }
done
{
	echo "V6G_BUILD_DIR=$build"
	env | grep '^V6G_BENCH_' || true
} >"$out/env"
# Helper programs (nfqueue verdict reader) are built here: the guest's view
# of the host root is read-only.
make -s -C "$root/selftests" O="$build/selftests" >/dev/null || die "selftest helpers build failed"
kernel="$kimg/boot/vmlinuz-$kver"
set +e
timeout "$timeout_s" qemu-system-x86_64 -accel tcg -cpu max -smp 2 \
	-m "${V6G_VM_MEM:-1024}" -nographic -no-reboot -nic none \
	-kernel "$kernel" -initrd "$initrd" \
	-virtfs local,path=/,security_model=none,readonly=on,multidevs=remap,mount_tag=root \
	-virtfs "local,path=$out,security_model=none,mount_tag=out" \
	-append "console=ttyS0 panic=-1 quiet loglevel=3 v6g_kimg=$kimg v6g_run=${V6G_VM_SCRIPT:-$root/selftests/guest.sh}" \
	>"$out/console.log" 2>&1
qemu_rc=$?
set -e

if [ -f "$out/tap.log" ]; then
	cat "$out/tap.log"
fi
if [ ! -f "$out/rc" ]; then
	echo "vm-run: guest did not finish (qemu exit $qemu_rc); console tail:" >&2
	tail -40 "$out/console.log" >&2
	echo "not ok 1 - vm-run: guest did not finish"
	exit 1
fi
rc=$(cat "$out/rc")
[ "$rc" -eq 0 ] || echo "vm-run: selftests exit status $rc" >&2
exit "$rc"
