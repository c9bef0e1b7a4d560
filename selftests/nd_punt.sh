#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# ND is punted to the port's nfqueue and the reader's verdicts are obeyed:
# without a reader ND on a fail-closed port is lost; with one, neighbours
# resolve and a spoofed NA (target owned by another port) is dropped.
# The reader is selftests/nfq_verdict (v6guardd with the inspector is not
# in the tree yet; it takes this reader's place when it lands).
. "$(dirname "$0")/lib.sh"
trap cleanup_ns EXIT
require "$KMODCTL" "$NFQ_VERDICT" ping atk6-fake_advertise6
load_module || fail "insmod"

lab_bridge && lab_attach a && lab_attach b && lab_attach evil || fail "lab setup"
ip -n "$a" addr add 2001:db8::a/64 dev eth0 nodad
ip -n "$b" addr add 2001:db8::b/64 dev eth0 nodad
ctl() { ip netns exec "$br" "$KMODCTL" "$@"; }
for p in "$a_port" "$b_port" "$evil_port"; do
	ctl port-set "$p" --role vm --queue 5 --fail closed || fail "port-set $p"
done
ctl bind-add "$a_port" "$a_mac" 2001:db8::a && ctl bind-add "$b_port" "$b_mac" 2001:db8::b ||
	fail "bindings"
ping_b() { ip netns exec "$a" ping -c 1 -W 1 2001:db8::b >/dev/null 2>&1; }
lladdr_of_b() { ip -n "$a" -6 neigh show 2001:db8::b dev eth0 | sed -n 's/.*lladdr \([0-9a-f:]*\).*/\1/p'; }
qlog=$(mktemp)
trap 'cleanup_ns; rm -f "$qlog"' EXIT
queue=5
reader() {  # extra args for nfq_verdict; reads queue $queue (on CPU $reader_cpu if set)
	ip netns exec "$br" ${reader_cpu:+taskset -c "$reader_cpu"} "$NFQ_VERDICT" -q "$queue" "$@" >"$qlog" 2>&1 &
	busywait 3000 grep -q listening "$qlog" || fail "reader did not start"
}
fail() { sed 's/^/# reader: /' "$qlog" | tail -20; echo "# FAIL: $*"; exit 1; }
stop_reader() { kill %1 2>/dev/null; wait 2>/dev/null; }
spoof_na() {
	ip netns exec "$evil" timeout 5 atk6-fake_advertise6 -n 1 eth0 2001:db8::b >/dev/null 2>&1
}

# 1. No reader: ND is queued to nobody and the fail-closed port loses it.
ping_b && fail "ND crossed a fail-closed port with no inspector"
[ "$(ctl counter "$a_port" punt)" -ge 1 ] || fail "NS punt not counted"

# 2. Reader accepting ND: neighbours resolve, data takes the fast path.
reader -D drop
busywait 5000 ping_b || fail "ping with ND through the reader failed"
grep -q "in=$a_port icmp6 type=135 -> ACCEPT" "$qlog" || fail "NS from a not seen by reader"
grep -q "in=$b_port icmp6 type=136 target=2001:db8::b -> ACCEPT" "$qlog" ||
	fail "NA from b not seen by reader"
[ "$(lladdr_of_b)" = "$b_mac" ] || fail "a resolved b to $(lladdr_of_b)"

# Control: an accepting reader lets the spoofed NA poison a's cache.
spoof_na
busywait 3000 test "$(lladdr_of_b)" = "$evil_mac" ||
	fail "control: spoofed NA had no effect (lladdr $(lladdr_of_b))"
stop_reader
ip -n "$a" -6 neigh flush dev eth0

# 3. Reader doing ND inspection: evil does not own 2001:db8::b.
reader -D drop -d "$evil_port,2001:db8::b"
busywait 5000 ping_b || fail "re-resolve failed"
spoof_na
busywait 3000 grep -q "in=$evil_port icmp6 type=136 target=2001:db8::b -> DROP" "$qlog" ||
	fail "spoofed NA not dropped by the reader"
sleep 0.3
[ "$(lladdr_of_b)" = "$b_mac" ] || fail "spoofed NA poisoned a: $(lladdr_of_b)"
busywait 5000 ping_b || fail "a lost b after the attack"
stop_reader
grep -c '^pkt' "$qlog" | sed 's/^/# packets seen by the reader: /'

# 4. CPU-local queues (port-set --queues 2): a punt goes to queue 5 + cpu % 2,
# cpu being the one that handles the frame (a veth transmit is received on
# the sender's CPU). Only queue 6 is read, by a reader pinned to CPU 1: ND
# from a process on CPU 1 resolves, from CPU 0 it is queued to 5, where
# nobody reads, and the fail-closed port loses it. The pin matters: the
# reader's verdict re-injects the NS, so b receives it and sends its NA on
# the reader's CPU - an unpinned reader on CPU 0 sent the NA to queue 5.
[ "$(nproc)" -ge 2 ] || { echo "# SKIP: CPU-local queues need 2 CPUs"; exit 0; }
echo "# [${SECONDS}s] 4. CPU-local queues"

for p in "$a_port" "$b_port" "$evil_port"; do
	ctl port-set "$p" --role vm --queue 5 --queues 2 --fail closed || fail "port-set $p --queues 2"
done
ip netns exec "$br" "$KMODCTL" port-set "$a_port" --role vm --queue 65535 --queues 2 2>/dev/null &&
	fail "a queue range beyond 65535 was accepted"
forget() { ip -n "$a" -6 neigh flush dev eth0; ip -n "$b" -6 neigh flush dev eth0; }
ping_on() { ip netns exec "$a" taskset -c "$1" ping -c 1 -W 1 2001:db8::b >/dev/null 2>&1; }
queue=6 reader_cpu=1
reader -D drop
forget
busywait 5000 ping_on 1 || fail "ND from CPU 1 did not resolve through queue 6"
echo "# [${SECONDS}s] resolved from CPU 1"
grep -q "in=$a_port icmp6 type=135 -> ACCEPT" "$qlog" || fail "NS from CPU 1 not on queue 6"
forget
before=$(ctl counter "$a_port" punt)
ping_on 0 && fail "ND from CPU 0 crossed: it should be on queue 5, which nobody reads"
[ "$(ctl counter "$a_port" punt)" -gt "$before" ] || fail "NS from CPU 0 not punted"
echo "# [${SECONDS}s] lost from CPU 0"
stop_reader
exit 0
