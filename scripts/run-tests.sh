#!/usr/bin/env bash
# Runs every test tier and prints one closing summary line:
#   1. unit tests (ctest -L unit)
#   2. host integration tests in network namespaces (ctest -L integration, root)
#   3. kernel selftests in a QEMU guest (scripts/vm-run.sh), when present
# Exit status is non-zero if any tier failed.
set -uo pipefail
build=${1:-build}
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

passed=0 failed=0 skipped=0
tally_ctest() {  # parse "N% tests passed, F tests failed out of T" and skipped count
	local log=$1 total fail skip
	total=$(sed -n 's/.*tests failed out of \([0-9]*\).*/\1/p' "$log" | tail -1)
	fail=$(sed -n 's/.*tests passed, \([0-9]*\) tests failed out of.*/\1/p' "$log" | tail -1)
	skip=$(grep -c '\*\*\*Skipped\|Not Run.*Disabled' "$log")
	total=${total:-0} fail=${fail:-0}
	passed=$((passed + total - fail - skip)) failed=$((failed + fail)) skipped=$((skipped + skip))
}

status=0
echo "== unit tests"
(cd "$build" && ctest -L unit --output-on-failure -j"$(nproc)") 2>&1 | tee /tmp/v6g-unit.log
[ "${PIPESTATUS[0]}" -eq 0 ] || status=1
tally_ctest /tmp/v6g-unit.log

if [ "$(id -u)" -eq 0 ]; then
	echo "== host integration tests (network namespaces)"
	(cd "$build" && ctest -L integration --output-on-failure) 2>&1 | tee /tmp/v6g-integ.log
	[ "${PIPESTATUS[0]}" -eq 0 ] || status=1
	tally_ctest /tmp/v6g-integ.log
else
	echo "== host integration tests skipped: need root"
fi

if [ -x scripts/vm-run.sh ]; then
	echo "== kernel selftests (QEMU)"
	make -s kmod && scripts/vm-run.sh 2>&1 | tee /tmp/v6g-selftest.log
	rc=${PIPESTATUS[0]}
	[ "$rc" -eq 0 ] || status=1
	sp=$(grep -c '^ok ' /tmp/v6g-selftest.log) sf=$(grep -c '^not ok ' /tmp/v6g-selftest.log)
	ss=$(grep -c '^ok .*# SKIP' /tmp/v6g-selftest.log)
	passed=$((passed + sp - ss)) failed=$((failed + sf)) skipped=$((skipped + ss))
	[ "$rc" -eq 0 ] || [ "$sf" -gt 0 ] || failed=$((failed + 1))
fi

echo "tests: $passed passed, $failed failed, $skipped skipped"
exit $status
