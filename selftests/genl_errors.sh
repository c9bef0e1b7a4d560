#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Generic netlink: malformed requests are refused by the policies with clear
# errno (EINVAL, ERANGE for ranges and lengths) and extack messages, mutations need CAP_NET_ADMIN, state is per netns.
. "$(dirname "$0")/lib.sh"
trap cleanup_ns EXIT
require "$KMODCTL"
load_module || fail "insmod"

out=$(kmodctl bad-attrs) || fail "bad-attrs run failed"
echo "$out" | sed 's/^/# /'
expect() {  # name errno [message-regex]
	local line
	line=$(echo "$out" | grep "^$1 ") || fail "$1: no result"
	echo "$line" | grep -q "errno=$2 " || fail "$1: want errno $2, got: $line"
	[ -z "${3:-}" ] || echo "$line" | grep -qE "$3" || fail "$1: message: $line"
}
expect missing-ifindex 22 "required attribute missing"
expect ifindex-zero 34 "integer out of range"
expect role-out-of-range 34 "integer out of range"
expect unknown-flags 22 "reserved bit set"
expect mac-5-bytes 34 "size out of range"
expect vlan-4095 34 "integer out of range"
expect no-such-ifindex 19 "no such interface"
expect del-unknown-port 2 "port not configured"
expect binding-addr-15-bytes 34 "size out of range"
expect binding-missing-mac 22 "needs ifindex, mac and addr"
expect unknown-attribute 22 "Unknown attribute type"
expect output-only-attribute 22 "Unsupported attribute"

# Mutations need CAP_NET_ADMIN; reads don't.
if command -v setpriv >/dev/null; then
	err=$(setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all \
		"$KMODCTL" flush 2>&1) && fail "unprivileged flush accepted"
	echo "# unprivileged: $err"
	echo "$err" | grep -q "Operation not permitted" || fail "want EPERM: $err"
	setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all \
		"$KMODCTL" counters >/dev/null || fail "unprivileged dump refused"
fi

# Per-netns state: a port set in one namespace is invisible in another.
setup_ns n1 n2 || fail "netns"
ip -n "$n1" link add d0 type dummy
ip netns exec "$n1" "$KMODCTL" port-set d0 --role vm || fail "port-set in n1"
ip netns exec "$n1" "$KMODCTL" counters >/dev/null || fail "dump n1"
[ "$(ip netns exec "$n1" "$KMODCTL" counter d0 accept_not_ipv6)" = 0 ] || fail "fresh counters"
ip -n "$n2" link add d0 type dummy
ip netns exec "$n2" "$KMODCTL" port-del d0 2>/dev/null && fail "n2 sees n1's port"
ip netns exec "$n1" "$KMODCTL" port-del d0 || fail "port-del in n1"
exit 0
