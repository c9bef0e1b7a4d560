#!/bin/bash
# ND / DHCPv6 / router-port RA attacks against v6guardd with the nfqueue
# inspector (nft datapath punting through br_netfilter), in network
# namespaces made by scripts/lab.sh. Every case checks both sides: the attack
# is stopped (victim's neighbour/route/address state unchanged, victim's
# tcpdump saw 0 attack frames) and legitimate traffic still works (SLAAC with
# learned bindings, DAD, ping).
# V6G_NO_GUARD=1 runs the same attacks without v6guardd and expects them to
# land (proves every assertion can fail); exit 0 when they all did.
set -u
SRC=${V6G_SOURCE_DIR:-$(cd "$(dirname "$0")/../../.." && pwd)}
. "$SRC/scripts/lab.sh"
lab_test_require radvd tcpdump nft ip6tables atk6-parasite6 atk6-fake_advertise6 atk6-dos-new-ip6 \
  atk6-ndpexhaust6 atk6-fake_dhcps6 atk6-fake_router26 atk6-flood_router26 dhclient
NO_GUARD=${V6G_NO_GUARD:-0}
MAX_BINDINGS=8
cleanup() { lab_daemon_stop; lab_down; }
trap cleanup EXIT INT TERM

# check GUARDED_OK UNGUARDED_OK NAME DETAIL: the assertion that must hold in
# the mode we run in (with v6guardd: the attack is stopped; without: it lands).
check() {
  local name=$3 detail=$4
  if [ "$NO_GUARD" = 1 ]; then
    [ "$2" = 1 ] && ok "$name: lands without v6guardd ($detail)" || fail "$name: had no effect without v6guardd ($detail)"
  else
    [ "$1" = 1 ] && ok "$name: stopped ($detail)" || fail "$name: $detail"
  fi
}

lab_up || { echo "not ok - lab setup"; exit 1; }
RTR_LL=$(ip -n $LAB_RTR -6 addr show dev eth0 scope link | awk '/inet6/{sub("/.*","",$2);print $2}')
if [ "$NO_GUARD" != 1 ]; then
  lab_daemon_start $LAB_TMP/v6guardd.log --datapath nft --port $LAB_P_RTR:router \
    --ra-source $LAB_P_RTR,$RTR_LL --ra-prefix $LAB_P_RTR,$LAB_PREFIX \
    --port $LAB_P_VM1:vm --port $LAB_P_VM2:vm --port $LAB_P_VM3:vm --learn-prefix $LAB_PREFIX \
    --max-bindings $MAX_BINDINGS --events $LAB_TMP/events.jsonl --flush-on-exit --no-api ||
    { echo "not ok - v6guardd start"; exit 1; }
fi
# Bindings are learned from DAD: bring the VM links up again now that the
# guard listens (a VM booting behind v6guardd does the same).
for ns in $LAB_VM1 $LAB_VM2 $LAB_VM3; do ip -n $ns link set eth0 down; ip -n $ns link set eth0 up; done
lab_radvd_start

vm_ll() { ip -n "$1" -6 addr show dev eth0 scope link | awk '/inet6/{sub("/.*","",$2);print $2; exit}'; }
bindings_of() {  # bindings in the nft fast path for bridge port $1
  ip netns exec $LAB_BR nft list set bridge v6guard bindings 2>/dev/null | tr ',{}' '\n\n\n' | grep -c "\"$1\" \."
}

# --- SLAAC and learning
if lab_wait_slaac $LAB_VM1 && lab_wait_slaac $LAB_VM2 && lab_wait_slaac $LAB_VM3; then
  ok "radvd SLAAC: vm1..vm3 have addresses + default route"
else fail "radvd SLAAC"; fi
VM1_ADDR=$(lab_global_addr $LAB_VM1) VM2_ADDR=$(lab_global_addr $LAB_VM2) VM3_ADDR=$(lab_global_addr $LAB_VM3)
VM1_LL=$(vm_ll $LAB_VM1)
if [ "$NO_GUARD" != 1 ]; then
  # A DAD-learned binding turns VALID after the engine's DAD timeout (1 s).
  for _ in $(seq 1 30); do
    set_text=$(ip netns exec $LAB_BR nft list set bridge v6guard bindings)
    echo "$set_text" | grep -q "\"$LAB_P_VM1\" . $LAB_MAC_VM1 . $VM1_ADDR" &&
      echo "$set_text" | grep -q "\"$LAB_P_VM2\" . $LAB_MAC_VM2 . $VM2_ADDR" && break
    sleep 0.2
  done
  if echo "$set_text" | grep -q "\"$LAB_P_VM1\" . $LAB_MAC_VM1 . $VM1_ADDR" &&
    echo "$set_text" | grep -q "\"$LAB_P_VM2\" . $LAB_MAC_VM2 . $VM2_ADDR"; then
    ok "learned bindings (port . MAC . SLAAC address) are in the nft fast path"
  else fail "learned bindings missing from the fast path"; echo "$set_text" | sed 's/^/#   /'; fi
fi
ping_ok() { ip netns exec "$1" ping -6 -c 2 -i 0.2 -W 2 "$2" >/dev/null; }
ping_ok $LAB_VM2 "$VM1_ADDR" && ok "ping vm2 -> vm1 (global)" || fail "ping vm2 -> vm1 (global)"
ping_ok $LAB_VM2 "$VM1_LL%eth0" && ok "ping vm2 -> vm1 (link-local)" || fail "ping vm2 -> vm1 (link-local)"
ping_ok $LAB_VM1 "2600:beef:1000:100::1" && ok "ping vm1 -> router" || fail "ping vm1 -> router"

# capture NAME FILTER CMD... : victim-side tcpdump around an attack from vm3.
capture() {
  local cap=$LAB_TMP/$1.pcap filter=$2; shift 2
  ip netns exec $LAB_VM2 timeout 8 tcpdump -nni eth0 -w $cap "$filter" 2>/dev/null &
  local tp=$!
  sleep 0.8
  "$@" >/dev/null 2>&1
  sleep 0.8
  kill $tp 2>/dev/null; wait $tp 2>/dev/null
}
frames() { tcpdump -nnr $LAB_TMP/$1.pcap 2>/dev/null | wc -l; }
# NAs from the attacker's MAC for someone else's address.
FOREIGN_NA="ether src $LAB_MAC_VM3 and icmp6 and ip6[40] == 136"
VM3_LL=$(vm_ll $LAB_VM3)
# ... counting only those whose target is not one of vm3's own addresses.
foreign_nas() {
  tcpdump -nnvr $LAB_TMP/$1.pcap 2>/dev/null | grep -o "tgt is [0-9a-f:]*" |
    grep -vc -e "tgt is $VM3_ADDR\$" -e "tgt is $VM3_LL\$"
}
# The neighbour entry vm2 holds for an address: its MAC (or empty).
neigh_mac() { ip -n $LAB_VM2 -6 neigh show "$1" dev eth0 | awk '{for(i=1;i<NF;i++) if($i=="lladdr") print $(i+1)}'; }

# --- atk6-parasite6: answers every NS with the attacker's MAC.
ip -n $LAB_VM2 -6 neigh flush dev eth0
attack_parasite() {
  ip netns exec $LAB_VM3 timeout 4 atk6-parasite6 eth0 >/dev/null 2>&1 &
  local ap=$!
  sleep 1
  ip -n $LAB_VM2 -6 neigh flush dev eth0
  ip netns exec $LAB_VM2 ping -6 -c 3 -i 0.3 -W 1 "$VM1_ADDR" >/dev/null 2>&1
  PARASITE_MAC=$(neigh_mac "$VM1_ADDR")
  wait $ap 2>/dev/null
}
capture parasite "$FOREIGN_NA" attack_parasite
seen=$(foreign_nas parasite)
[ "$seen" -eq 0 ] && [ "$PARASITE_MAC" = "$LAB_MAC_VM1" ] && g=1 || g=0
[ "$seen" -gt 0 ] && u=1 || u=0
check $g $u "atk6-parasite6" "victim saw $seen forged NAs; vm1's address resolves to ${PARASITE_MAC:-nothing}"

# --- atk6-fake_advertise6: unsolicited override NA for vm1's address.
ip netns exec $LAB_VM2 ping -6 -c 1 -W 2 "$VM1_ADDR" >/dev/null 2>&1
capture fake_adv "$FOREIGN_NA" ip netns exec $LAB_VM3 timeout 4 atk6-fake_advertise6 -n 3 -w 1 eth0 "$VM1_ADDR"
seen=$(foreign_nas fake_adv) mac_now=$(neigh_mac "$VM1_ADDR")
[ "$seen" -eq 0 ] && [ "$mac_now" = "$LAB_MAC_VM1" ] && g=1 || g=0
[ "$seen" -gt 0 ] && u=1 || u=0
check $g $u "atk6-fake_advertise6" "victim saw $seen forged NAs; vm1's address resolves to ${mac_now:-nothing}"
ip -n $LAB_VM2 -6 neigh flush dev eth0

# --- atk6-dos-new-ip6: claims every address under DAD. vm2 adds a new one.
NEW_ADDR=2600:beef:1000:100::222
attack_dad() {
  ip netns exec $LAB_VM3 timeout 5 atk6-dos-new-ip6 eth0 >/dev/null 2>&1 &
  local ap=$!
  sleep 1.2
  ip -n $LAB_VM2 -6 addr add $NEW_ADDR/64 dev eth0
  sleep 2.5
  DAD_STATE=$(ip -n $LAB_VM2 -6 addr show dev eth0 | grep "$NEW_ADDR")
  wait $ap 2>/dev/null
}
# dos-new-ip6 forges random MACs: count every NA for the new address that vm2
# did not send itself.
capture dos_new_ip "icmp6 and ip6[40] == 136 and not ether src $LAB_MAC_VM2" attack_dad
seen=$(tcpdump -nnvr $LAB_TMP/dos_new_ip.pcap 2>/dev/null | grep -c "tgt is $NEW_ADDR,")
if echo "$DAD_STATE" | grep -qE "dadfailed|tentative"; then dad_ok=0; else dad_ok=1; fi
[ "$seen" -eq 0 ] && [ "$dad_ok" = 1 ] && [ -n "$DAD_STATE" ] && g=1 || g=0
[ "$dad_ok" = 0 ] && u=1 || u=0
check $g $u "atk6-dos-new-ip6" "victim saw $seen forged NAs; DAD of $NEW_ADDR: $(echo $DAD_STATE | grep -oE 'dadfailed|tentative' || echo succeeded)"
if [ "$NO_GUARD" != 1 ]; then
  sleep 1
  ip netns exec $LAB_VM2 ping -6 -c 2 -i 0.2 -W 2 -I $NEW_ADDR "$VM1_ADDR" >/dev/null &&
    ok "vm2 uses the address it claimed under attack (binding learned)" || fail "vm2 cannot use $NEW_ADDR"
fi
ip -n $LAB_VM2 -6 addr del $NEW_ADDR/64 dev eth0 2>/dev/null

# --- Router impersonation: vm3 claims the router's global address and its
# link-local (the RA source) with DAD - the router defends the global one,
# but its defence arrives on the router port, whose ND is not punted - then
# advertises both as its own. Unguarded, vm2 sends its off-link traffic to vm3.
RTR_GA=2600:beef:1000:100::1
ip netns exec $LAB_VM2 ping -6 -c 1 -W 2 "$RTR_GA" >/dev/null 2>&1
ip netns exec $LAB_VM2 ping -6 -c 1 -W 2 "$RTR_LL%eth0" >/dev/null 2>&1
attack_router_claim() {
  ip -n $LAB_VM3 -6 addr add $RTR_GA/64 dev eth0
  ip -n $LAB_VM3 -6 addr add $RTR_LL/64 dev eth0
  sleep 2.5
  ip netns exec $LAB_VM3 timeout 4 atk6-fake_advertise6 -n 3 -w 1 eth0 "$RTR_GA"
  ip netns exec $LAB_VM3 timeout 4 atk6-fake_advertise6 -n 3 -w 1 eth0 "$RTR_LL"
}
capture rtr_claim "ether src $LAB_MAC_VM3 and icmp6 and ip6[40] == 136" attack_router_claim
seen=$(tcpdump -nnvr $LAB_TMP/rtr_claim.pcap 2>/dev/null | grep -c -e "tgt is $RTR_GA," -e "tgt is $RTR_LL,")
ga_mac=$(neigh_mac "$RTR_GA") ll_mac=$(neigh_mac "$RTR_LL")
claimed=$(ip netns exec $LAB_BR nft list set bridge v6guard bindings 2>/dev/null | tr ',{}' '\n\n\n' |
  grep "\"$LAB_P_VM3\" \." | grep -c -e " $RTR_GA\$" -e " $RTR_LL\$")
[ "$seen" -eq 0 ] && [ "$ga_mac" = "$LAB_MAC_RTR" ] && [ "$ll_mac" = "$LAB_MAC_RTR" ] && [ "$claimed" -eq 0 ] && g=1 || g=0
[ "$ga_mac" = "$LAB_MAC_VM3" ] || [ "$ll_mac" = "$LAB_MAC_VM3" ] && u=1 || u=0
check $g $u "DAD claim + NAs for the router's addresses" \
  "victim saw $seen forged NAs; router resolves to ${ga_mac:-nothing} (global), ${ll_mac:-nothing} (link-local); vm3 bound to $claimed of them"
ip -n $LAB_VM3 -6 addr del $RTR_GA/64 dev eth0 2>/dev/null
ip -n $LAB_VM3 -6 addr del $RTR_LL/64 dev eth0 2>/dev/null
ip -n $LAB_VM2 -6 neigh flush dev eth0

# --- atk6-ndpexhaust6: vm3 pings random addresses of the prefix, and claims
# many addresses with DAD (each would be a binding): the per-port cap holds
# and the daemon's memory stays bounded.
rss() { awk '/VmRSS/{print $2}' /proc/$DAEMON_PID/status 2>/dev/null || echo 0; }
rss_before=$( [ -n "$DAEMON_PID" ] && rss || echo 0)
ip netns exec $LAB_VM3 timeout 3 atk6-ndpexhaust6 eth0 2600:beef:1000:100:: >/dev/null 2>&1
for i in $(seq 1 40); do ip -n $LAB_VM3 -6 addr add 2600:beef:1000:100::3:$i/64 dev eth0; done
sleep 2.5
rss_after=$( [ -n "$DAEMON_PID" ] && rss || echo 0)
vm3_bindings=$(bindings_of $LAB_P_VM3)
ok_addrs=$(ip -n $LAB_VM3 -6 addr show dev eth0 | grep -c "2600:beef:1000:100::3:")
if [ "$NO_GUARD" = 1 ]; then
  ip netns exec $LAB_VM3 ping -6 -c 1 -W 1 -I 2600:beef:1000:100::3:40 "$VM2_ADDR" >/dev/null 2>&1 &&
    ok "atk6-ndpexhaust6 + 40 DAD claims: without v6guardd all $ok_addrs addresses are usable (the 40th reaches vm2)" ||
    fail "ndpexhaust unguarded: the 40th address cannot reach vm2"
else
  [ "$vm3_bindings" -le "$MAX_BINDINGS" ] && [ $((rss_after - rss_before)) -lt 20480 ] &&
    ok "atk6-ndpexhaust6 + 40 DAD claims: vm3 holds $vm3_bindings bindings (cap $MAX_BINDINGS), RSS +$((rss_after - rss_before)) KiB" ||
    fail "ndpexhaust: vm3 bindings=$vm3_bindings (cap $MAX_BINDINGS) RSS +$((rss_after - rss_before)) KiB"
  ip netns exec $LAB_VM3 ping -6 -c 1 -W 1 -I 2600:beef:1000:100::3:40 "$VM2_ADDR" >/dev/null 2>&1 &&
    fail "vm3 traffic from an address over the cap got through" || ok "vm3 traffic from an address over the cap is dropped"
fi
for i in $(seq 1 40); do ip -n $LAB_VM3 -6 addr del 2600:beef:1000:100::3:$i/64 dev eth0 2>/dev/null; done
ping_ok $LAB_VM1 "$VM2_ADDR" && ok "ping vm1 -> vm2 after the exhaustion attempt" || fail "ping vm1 -> vm2 after the exhaustion attempt"

# --- atk6-fake_dhcps6: rogue DHCPv6 server on vm3, dhclient -6 on vm2.
attack_dhcp() {
  ip netns exec $LAB_VM3 timeout 7 atk6-fake_dhcps6 eth0 2001:db8:dd::/64 2001:db8:dd::53 >/dev/null 2>&1 &
  local ap=$!
  sleep 1
  ip netns exec $LAB_VM2 timeout 5 dhclient -6 -1 -v -lf $LAB_TMP/dhclient.leases -pf $LAB_TMP/dhclient.pid \
    -sf /bin/true eth0 >$LAB_TMP/dhclient.log 2>&1
  wait $ap 2>/dev/null
}
: >$LAB_TMP/dhclient.leases
capture dhcp "ether src $LAB_MAC_VM3 and (udp dst port 546 or udp src port 547)" attack_dhcp
seen=$(frames dhcp) leased=$(grep -c "2001:db8:dd" $LAB_TMP/dhclient.leases)
[ "$seen" -eq 0 ] && [ "$leased" -eq 0 ] && g=1 || g=0
[ "$seen" -gt 0 ] && u=1 || u=0
check $g $u "atk6-fake_dhcps6" "victim saw $seen rogue server messages, leases from it: $leased"

# --- RA from the router port (allowed source) with a disallowed prefix, and
# an RA flood from a VM port.
rogue_state() {
  (ip -n $LAB_VM2 -6 route show; ip -n $LAB_VM2 -6 addr show) | grep -c "$1"
}
RA_FILTER="icmp6 and ip6[40] == 134 and not ether src $LAB_MAC_RTR"
capture ra_prefix "icmp6 and ip6[40] == 134" \
  ip netns exec $LAB_RTR timeout 3 atk6-fake_router26 -n 2 -i 1 -A 2001:db8:ad::/64 eth0
# radvd's own RAs are small (one prefix); the forged ones announce 2001:db8:ad.
seen=$(tcpdump -nnvr $LAB_TMP/ra_prefix.pcap 2>/dev/null | grep -c "2001:db8:ad::")
bad=$(rogue_state 2001:db8:ad:)
[ "$seen" -eq 0 ] && [ "$bad" -eq 0 ] && g=1 || g=0
[ "$seen" -gt 0 ] && u=1 || u=0
check $g $u "RA from the router port with a disallowed prefix" "victim saw $seen such RAs, rogue routes/addresses: $bad"
ip -n $LAB_VM2 -6 addr show dev eth0 | awk '/inet6 2001:db8:ad/{print $2}' | while read -r a; do ip -n $LAB_VM2 -6 addr del "$a" dev eth0; done

capture flood_router "$RA_FILTER" ip netns exec $LAB_VM3 timeout 3 atk6-flood_router26 eth0
seen=$(frames flood_router)
gw=$(ip -n $LAB_VM2 -6 route show default | grep -vc "via $RTR_LL ")
[ "$seen" -eq 0 ] && [ "$gw" -eq 0 ] && g=1 || g=0
[ "$seen" -gt 0 ] && u=1 || u=0
check $g $u "atk6-flood_router26" "victim saw $seen rogue RAs, rogue default routes: $gw"
ip -n $LAB_VM2 -6 route flush proto ra 2>/dev/null
ip -n $LAB_VM2 -6 addr show dev eth0 | awk '/inet6/ && !/2600:beef|fe80/{print $2}' | while read -r a; do ip -n $LAB_VM2 -6 addr del "$a" dev eth0; done

# --- legitimate traffic after everything; radvd's RAs still accepted.
lab_wait_slaac $LAB_VM2 20 && ping_ok $LAB_VM1 "$VM2_ADDR" && ok "SLAAC + ping vm1 -> vm2 after all attacks" ||
  fail "SLAAC + ping vm1 -> vm2 after all attacks"
if [ "$NO_GUARD" != 1 ]; then
  events=$(wc -l <$LAB_TMP/events.jsonl)
  lab_daemon_stop
  events=$(wc -l <$LAB_TMP/events.jsonl)
  grep -q '"nd_inspection"' $LAB_TMP/events.jsonl && grep -q '"ra_guard"' $LAB_TMP/events.jsonl &&
    ok "security events written as JSON lines ($events)" || fail "events file lacks nd_inspection/ra_guard events ($events lines)"
  ip netns exec $LAB_BR ip6tables -t raw -S | grep -q V6GUARD && fail "ip6tables punt rules left after --flush-on-exit" ||
    ok "graceful shutdown removed the punt rules"
  sed -n '/inspector:/p' $LAB_TMP/v6guardd.log | sed 's/^/# /'
fi
lab_test_done
