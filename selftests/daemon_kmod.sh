#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# End to end: the real v6guardd drives the module (--datapath kmod) and reads
# its punts with the nfqueue inspector (bridge-family queue: payload is the
# IPv6 header, MAC from NFQA_L2HDR/HWADDR). A VM's DAD NS is punted and
# learnt into the module, data from the learnt address then takes the fast
# path, a spoofed NA from another port is dropped by the inspector and
# reported in the events file, a rogue RA from a VM port is dropped in the
# kernel, and SIGTERM stops the daemon cleanly. A restart with
# --datapath auto must pick kmod and say why.
. "$(dirname "$0")/lib.sh"
t0=$(date +%s)
step() { log "[$(($(date +%s) - t0))s] $*"; }
V6GUARDD=${V6GUARDD:-$V6G_BUILD_DIR/manager/daemon/v6guardd}
require "$KMODCTL" "$V6GUARDD" ping ra6 atk6-fake_advertise6
load_module || fail "insmod"

dlog=$(mktemp) events=$(mktemp)
dpid=
cleanup() {
	[ -n "$dpid" ] && kill "$dpid" 2>/dev/null && wait "$dpid" 2>/dev/null
	cleanup_ns
	rm -f "$dlog" "$events"
}
trap cleanup EXIT
fail() {
	sed 's/^/# v6guardd: /' "$dlog" | tail -20
	sed 's/^/# event: /' "$events" | tail -10
	ctl counters 2>/dev/null | grep -v ' 0$' | sed 's/^/# counter: /'
	echo "# FAIL: $*"
	exit 1
}

lab_bridge && lab_attach a && lab_attach b && lab_attach evil && lab_attach rtr ||
	fail "lab setup"
ctl() { ip netns exec "$br" "$KMODCTL" "$@"; }

# start_daemon DATAPATH: v6guardd in the bridge namespace, wait for "ready".
start_daemon() {
	: >"$dlog"
	ip netns exec "$br" "$V6GUARDD" --datapath "$1" --no-api \
		--port "$a_port:vm:$a_mac" --port "$b_port:vm:$b_mac" \
		--port "$evil_port:vm:$evil_mac" --port "$rtr_port:router" \
		--learn-prefix 2001:db8::/64 --events "$events" >"$dlog" 2>&1 &
	dpid=$!
	busywait 20000 grep -q 'ready' "$dlog" || fail "v6guardd --datapath $1 not ready"
}
# stop_daemon: SIGTERM, expect exit status 0 and the shutdown line.
stop_daemon() {
	local rc
	kill -TERM "$dpid"
	wait "$dpid"
	rc=$?
	dpid=
	[ "$rc" -eq 0 ] || fail "v6guardd exited $rc on SIGTERM"
	grep -q 'signal 15' "$dlog" || fail "no shutdown line after SIGTERM"
	# Datapath/netlink errors (e.g. a learnt binding the module refused).
	! grep -v -e ' ready ' -e 'inspector: queues' "$dlog" | grep -qi -e error -e fail ||
		fail "v6guardd reported errors"
}

step "starting v6guardd --datapath kmod"
# a's link came up moments ago: its stack may still send router
# solicitations and MLD reports while the daemon starts, and those are
# rightly punted. Any other punt (data, or one the daemon caused) is a bug.
a_icmp_before=$(snmp6 "$a" Icmp6OutMsgs)
start_daemon kmod
grep -q 'ready datapath=kmod inspector=on ports=4' "$dlog" || fail "ready line: $(grep ready "$dlog")"
log "$(grep ready "$dlog")"
# Counter first: a punted message was counted by a's stack before it left.
a_punts=$(ctl counter "$a_port" punt)
a_icmp_sent=$(($(snmp6 "$a" Icmp6OutMsgs) - a_icmp_before))
log "punts on $a_port before any traffic: $a_punts ($a_icmp_sent ICMPv6 messages sent by a's own stack)"
[ "$a_punts" -le "$a_icmp_sent" ] || fail "punts before any traffic: $a_punts, a sent $a_icmp_sent ICMPv6 messages"

step "1. DAD: a and b claim addresses with DAD on; the NS is punted and learnt."
# 1. DAD: a and b claim addresses with DAD on; the NS is punted and learnt.
# Like a VM booting behind v6guardd, the link comes up (link-local DAD)
# after the daemon: Linux sends unicast NUD probes from the link-local
# address, which must be learnt too.
for v in a b; do
	ns=${!v}
	ip netns exec "$ns" sysctl -qw net.ipv6.conf.eth0.accept_dad=1
	ip -n "$ns" link set eth0 down
	ip -n "$ns" link set eth0 up
	ip -n "$ns" addr add "2001:db8::$v/64" dev eth0
done
bound() {  # PORT MAC ADDR: the module holds this binding
	ctl bindings | grep -qx "$1 0 $2 $3"
}
busywait 10000 bound "$a_port" "$a_mac" 2001:db8::a ||
	fail "a's DAD binding not in the module: $(ctl bindings | tr '\n' ';')"
busywait 10000 bound "$b_port" "$b_mac" 2001:db8::b || fail "b's DAD binding not in the module"
lla() { ip -n "$1" -6 addr show dev eth0 scope link | sed -n 's/.*inet6 \([0-9a-f:]*\).*/\1/p'; }
busywait 5000 bound "$a_port" "$a_mac" "$(lla "$a")" || fail "a's link-local not learnt"
busywait 5000 bound "$b_port" "$b_mac" "$(lla "$b")" || fail "b's link-local not learnt"
[ "$(ctl counter "$a_port" punt)" -ge 1 ] || fail "a's DAD NS was not punted"
settled() { ! ip -n "$1" -6 addr show dev eth0 | grep -q -e tentative -e dadfailed; }
busywait 5000 settled "$a" && busywait 5000 settled "$b" || fail "DAD did not complete"
log "bindings: $(ctl bindings | tr '\n' ';')"

step "2. Data from the learnt address passes on the fast path (ND is inspected)."
# 2. Data from the learnt address passes on the fast path (ND is inspected).
fast0=$(ctl counter "$a_port" accept_binding)
ip netns exec "$a" ping -c 3 -i 0.3 -W 2 2001:db8::b >/dev/null ||
	fail "ping a -> b with learnt bindings"
fast1=$(ctl counter "$a_port" accept_binding)
[ $((fast1 - fast0)) -ge 3 ] || fail "echo requests not on the fast path ($fast0 -> $fast1)"
# An address a configured without DAD (RFC 6620 data-triggered binding):
# its first packet is punted and dropped while the inspector's NS probe is
# out; a answers the probe and the address is learnt into the module.
ip -n "$a" addr add 2001:db8::a2/64 dev eth0 nodad
ip netns exec "$a" ping -c 1 -W 1 -I 2001:db8::a2 2001:db8::b >/dev/null 2>&1 &&
	fail "ping from an unverified (nodad) address got through at once"
busywait 5000 bound "$a_port" "$a_mac" 2001:db8::a2 ||
	fail "a's nodad address not learnt from its traffic: $(ctl bindings | tr '\n' ';')"
ip netns exec "$a" ping -c 1 -W 2 -I 2001:db8::a2 2001:db8::b >/dev/null ||
	fail "ping from the verified nodad address"
ip -n "$a" addr del 2001:db8::a2/64 dev eth0

step "3. Spoofed NA from evil for a's address: dropped, reported, b keeps a's MAC."
# 3. Spoofed NA from evil for a's address: dropped, reported, b keeps a's MAC.
lladdr_of_a() { ip -n "$b" -6 neigh show 2001:db8::a dev eth0 | sed -n 's/.*lladdr \([0-9a-f:]*\).*/\1/p'; }
[ "$(lladdr_of_a)" = "$a_mac" ] || fail "b resolved a to '$(lladdr_of_a)'"
p0=$(ctl counter "$evil_port" punt)
ip netns exec "$evil" timeout 5 atk6-fake_advertise6 -n 1 eth0 2001:db8::a >/dev/null 2>&1
busywait 3000 test "$(ctl counter "$evil_port" punt)" -gt "$p0" || fail "spoofed NA was not punted"
sleep 0.5
[ "$(lladdr_of_a)" = "$a_mac" ] ||
	fail "b's entry for a changed: $(ip -n "$b" -6 neigh show 2001:db8::a dev eth0)"
# Reported once its 10 s aggregation window closes, or at shutdown (step 5).
spoof_event() {
	grep '"interface_id":"'"$evil_port"'"' "$events" | grep '"nd_target_bound_elsewhere"' |
		grep -q '"blocked_source":"2001:db8::a"'
}

step "4. Rogue RA from a VM port: dropped in the kernel, never queued."
# 4. Rogue RA from a VM port: dropped in the kernel, never queued.
ip netns exec "$b" sysctl -qw net.ipv6.conf.eth0.accept_ra=2
ra0=$(snmp6 "$b" Icmp6InRouterAdvertisements)
ip netns exec "$evil" ra6 -i eth0 -d ff02::1 -t 1800 -P "2001:db8:bad::/64#LA#3600#3600" \
	>/dev/null 2>&1
busywait 3000 test "$(ctl counter "$evil_port" ra_from_vm_port)" -ge 1 ||
	fail "rogue RA not dropped as ra_from_vm_port"
sleep 0.5
[ "$(snmp6 "$b" Icmp6InRouterAdvertisements)" = "$ra0" ] || fail "rogue RA reached b"
[ -z "$(ip -n "$b" -6 route show default)" ] || fail "b learnt a default route"

step "5. SIGTERM: clean exit; the learnt bindings stay in the module (fail closed)."
# 5. SIGTERM: clean exit; the learnt bindings stay in the module (fail closed).
stop_daemon
spoof_event || fail "spoofed NA not reported in the events file"
log "event: $(grep '"nd_target_bound_elsewhere"' "$events" | head -1)"
bound "$a_port" "$a_mac" 2001:db8::a || fail "learnt binding gone after exit"

step "6. --datapath auto with the module loaded picks kmod, and says why."
# 6. --datapath auto with the module loaded picks kmod, and says why.
start_daemon auto
grep -q 'ready datapath=kmod .*(kmod (auto: module v6guard loaded' "$dlog" ||
	fail "auto did not pick kmod: $(grep ready "$dlog")"
log "$(grep ready "$dlog")"
grep -q "port $a_ifindex: 3 learnt bindings restored" "$dlog" ||
	fail "a's learnt bindings (global, link-local, nodad) not taken back from the module"
ip netns exec "$a" ping -c 1 -W 2 2001:db8::b >/dev/null || fail "ping a -> b after restart"
stop_daemon
sed 's/^/# v6guardd (auto run): /' "$dlog"
log "events: $(wc -l <"$events") lines"
exit 0
