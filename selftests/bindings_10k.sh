#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# 10k bindings: programmed in batches, listed back through a resumable
# dump, enforced (a member passes, a non-member does not), then removed.
. "$(dirname "$0")/lib.sh"
trap 'cleanup_ns; rm -f "$list"' EXIT
require "$KMODCTL" ping
load_module || fail "insmod"

lab_bridge && lab_attach a && lab_attach b || fail "lab setup"
ctl() { ip netns exec "$br" "$KMODCTL" "$@"; }
ctl port-set "$a_port" --role vm || fail "port-set a"
ctl port-set "$b_port" --role vm || fail "port-set b"

list=$(mktemp)
for i in $(seq 1 10000); do
	printf '%s 0 %s 2001:db8:1::%x\n' "$a_port" "$a_mac" "$i"
done >"$list"
printf '%s 0 %s 2001:db8:1::ffff:1\n' "$b_port" "$b_mac" >>"$list"
rate=$(ip netns exec "$br" "$KMODCTL" bind-file add "$list") || fail "bind-file add"
log "$rate"
n=$(ctl bindings | wc -l)
[ "$n" = 10001 ] || fail "dump lists $n bindings, want 10001"
[ "$(ctl bindings | sort -u | wc -l)" = 10001 ] || fail "dump has duplicates"

ip -n "$a" addr add 2001:db8:1::1e61/64 dev eth0 nodad   # member 7777
ip -n "$a" addr add 2001:db8:1::f000/64 dev eth0 nodad   # not a member
ip -n "$b" addr add 2001:db8:1::ffff:1/64 dev eth0 nodad
static_neigh "$a" 2001:db8:1::ffff:1 "$b_mac"
static_neigh "$b" 2001:db8:1::1e61 "$a_mac"
static_neigh "$b" 2001:db8:1::f000 "$a_mac"
ip netns exec "$a" ping -c 2 -i 0.3 -W 1 -I 2001:db8:1::1e61 2001:db8:1::ffff:1 >/dev/null ||
	fail "member binding not enforced as accept"
ip netns exec "$a" ping -c 1 -W 1 -I 2001:db8:1::f000 2001:db8:1::ffff:1 >/dev/null &&
	fail "non-member passed"

rate=$(ip netns exec "$br" "$KMODCTL" bind-file del "$list") || fail "bind-file del"
log "$rate"
[ "$(ctl bindings | wc -l)" = 0 ] || fail "bindings left after delete"
ip netns exec "$a" ping -c 1 -W 1 -I 2001:db8:1::1e61 2001:db8:1::ffff:1 >/dev/null &&
	fail "deleted binding still accepted"
exit 0
