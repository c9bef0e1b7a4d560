#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Module load/unload: the genl family appears and goes, and unloading while
# frames cross a guarded bridge leaves nothing behind.
. "$(dirname "$0")/lib.sh"
trap cleanup_ns EXIT
require insmod rmmod genl ping

module_loaded && { rmmod v6guard || fail "rmmod of a stale module"; }
load_module || fail "insmod"
genl ctrl get name v6guard >/dev/null 2>&1 || fail "genl family v6guard missing"
dmesg | grep -q "v6guard: loaded" || fail "no load message (pr_fmt)"

# Unload under traffic: a bridge with a configured port and a flood running.
lab_bridge && lab_attach a && lab_attach b || fail "lab setup"
ip -n "$a" addr add 2001:db8::a/64 dev eth0 nodad
ip -n "$b" addr add 2001:db8::b/64 dev eth0 nodad
if [ -x "$KMODCTL" ]; then
	ip netns exec "$br" "$KMODCTL" port-set "$a_port" --role vm ||
		fail "port-set"
fi
ip netns exec "$a" ping -q -f -w 4 2001:db8::b >/dev/null 2>&1 &
sleep 1
rmmod v6guard || fail "rmmod under traffic"
! genl ctrl get name v6guard >/dev/null 2>&1 || fail "family left behind"
wait
load_module || fail "reload"
rmmod v6guard || fail "second unload"
dmesg | grep -iE "v6guard.*(BUG|WARN|leak)|kmemleak|refcount" && fail "kernel complained"
load_module || fail "final reload"
exit 0
