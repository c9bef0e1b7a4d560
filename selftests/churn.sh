#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# 1M binding add/delete cycles leave kernel memory flat (no leaked binding
# objects or table buckets), then the module unloads cleanly.
. "$(dirname "$0")/lib.sh"
trap cleanup_ns EXIT
require "$KMODCTL"
load_module || fail "insmod"

setup_ns n || fail "netns"
ip -n "$n" link add d0 type dummy
ctl() { ip netns exec "$n" "$KMODCTL" "$@"; }
ctl port-set d0 --role vm || fail "port-set"
mem() {  # slab + vmalloc in KiB (rhashtable buckets may live in either)
	awk '/^Slab:|^VmallocUsed:/ { s += $2 } END { print s }' /proc/meminfo
}
ctl bind-churn d0 02:00:00:00:00:01 2 >/dev/null || fail "warm-up"  # caches, tables
sleep 1
before=$(mem)
out=$(ctl bind-churn d0 02:00:00:00:00:01 100) || fail "churn"
log "$out"
[ -z "$(ctl bindings)" ] || fail "bindings left behind"
# Let kfree_rcu batches and the table's deferred shrink run. A function, so
# busywait re-reads /proc/meminfo on every try (an inline $((...)) would be
# expanded once, before the first try, and never see the memory drain).
# shellcheck disable=SC2317  # invoked through busywait
mem_flat() { [ $(($(mem) - before)) -lt 4096 ]; }
busywait 10000 mem_flat
delta=$(($(mem) - before))
log "slab+vmalloc delta after 1M cycles: ${delta} KiB"
[ "$delta" -lt 4096 ] || fail "kernel memory grew by ${delta} KiB (a leak of 1M bindings is ~100 MiB)"
ctl port-del d0 || fail "port-del"
rmmod v6guard || fail "rmmod after churn"
load_module || fail "reload"
exit 0
