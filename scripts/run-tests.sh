#!/usr/bin/env bash
# Runs every test tier and prints one closing summary line:
#   1. unit tests (ctest -L unit) of the release build
#   2. host integration tests in network namespaces (ctest -L integration, root)
#   3. kernel selftests in a QEMU guest (scripts/vm-run.sh), when present;
#      vm-run.sh exiting 4 (no QEMU, no guest kernel headers, not root) is a skip
#   4. the unit tests under ASan+UBSan (CMake preset `asan`, build-asan/;
#      only the unit-test targets and v6guardd are built there), then host
#      integration scripts against that v6guardd (V6G_ASAN_INTEGRATION lists
#      them; root only). V6G_ASAN=0 skips this tier.
#   5. the threaded unit tests under ThreadSanitizer (preset `tsan`,
#      build-tsan/; only those targets). V6G_TSAN=0 skips this tier.
# The kernel module (tier 3) and the sanitizer builds (tiers 4 and 5) are
# built in the background from the start, at idle CPU and I/O priority
# (SCHED_IDLE, ionice idle): tiers 1-3 mostly wait (sleeps, daemons, packet
# tools, a QEMU guest) and leave most of the 2 cores unused, so the builds get
# only CPU time the tests don't want - never a share against a test. The
# sanitizer tiers run once their build is done (see docs/testing.md).
# Each tier's wall time is printed (a sanitizer tier's includes waiting for
# the rest of its build), and the background builds' own wall times.
# Exit status is non-zero if any tier failed.
set -uo pipefail
build=${1:-build}
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
jobs=${JOBS:-$(nproc)}
asan_build=${V6G_ASAN_BUILD_DIR:-build-asan}
tsan_build=${V6G_TSAN_BUILD_DIR:-build-tsan}
abspath() { case $1 in /*) echo "$1" ;; *) echo "$root/$1" ;; esac; }

# Logs per run: two runs on one machine (or a helper's run) must not tally
# each other's output.
logdir=$(mktemp -d /tmp/v6g-tests.XXXXXX)
echo "logs: $logdir"
passed=0 failed=0 skipped=0
tally_ctest() {  # parse "N% tests passed, F tests failed out of T" and skipped count
	local log=$1 total fail skip
	total=$(sed -n 's/.*tests failed out of \([0-9]*\).*/\1/p' "$log" | tail -1)
	fail=$(sed -n 's/.*tests passed, \([0-9]*\) tests failed out of.*/\1/p' "$log" | tail -1)
	skip=$(grep -c '\*\*\*Skipped\|Not Run.*Disabled' "$log")
	total=${total:-0} fail=${fail:-0}
	passed=$((passed + total - fail - skip)) failed=$((failed + fail)) skipped=$((skipped + skip))
}
t_start=$(date +%s)
timings=()
tier_done() { timings+=("$1 $(($(date +%s) - t_start))s"); t_start=$(date +%s); }

# ---- sanitizer builds, in the background at idle priority ----
# Only the unit-test binaries (and the libraries they link): the CLI and
# benches add build time and are covered by the release tiers.
# v6g_unit_tests depends on every *_test binary; one make goal instead of one
# per test (each goal re-walks the library tree: 50 s for 34). Plus the
# daemon: the host-integration scripts of the ASan tier run against it.
asan_targets="v6g_unit_tests v6guardd"
# TSan: the tests that run real threads against shared state (the API
# server's worker pool and stop(), VmManager's group commit, the inspector's
# queue workers sharing one guard engine with its applier and NA-listener
# threads, on real punted frames). Only their targets are built. Not
# api_abuse_test: each of its concurrent cases, run alone, reports a race
# inside Debian's uninstrumented libcpp-httplib (first use of its
# function-local statics by two workers, every frame in the library; see
# docs/hardening.md).
tsan_targets="api_server_test api_vm_manager_test inspector_shared_engine_test"
# Idle CPU and I/O priority for the builds, where the system allows it.
idle=()
chrt --idle 0 true 2>/dev/null && idle+=(chrt --idle 0)
ionice -c 3 true 2>/dev/null && idle+=(ionice -c 3)
# sanitizer_build <name> <preset> <dir> <targets...>: configure (every time,
# seconds: new *_test.cc files must become targets) and build; writes
# $logdir/<name>.rc (exit status) and <name>.secs (wall time) when done.
sanitizer_build() {
	local name=$1 preset=$2 dir=$3 start rc
	shift 3
	start=$(date +%s)
	cmake --preset "$preset" -B "$dir" >$logdir/v6g-$name-configure.log 2>&1 &&
		cmake --build "$dir" -j"$jobs" --target "$@" >$logdir/v6g-$name-build.log 2>&1
	rc=$?
	echo $(($(date +%s) - start)) >$logdir/$name.secs
	echo $rc >$logdir/$name.rc
}
# The kernel module for tier 3 is built first in the same job (~20 s).
kmod_bg=0
[ -x scripts/vm-run.sh ] && kmod_bg=1
bg_builds=
if [ $kmod_bg = 1 ] || [ "${V6G_ASAN:-1}" != 0 ] || [ "${V6G_TSAN:-1}" != 0 ]; then
	export -f sanitizer_build
	export logdir jobs asan_build tsan_build asan_targets tsan_targets
	# Its own process group (setsid), so that it can be stopped as a whole.
	V6G_KMOD=$kmod_bg V6G_ASAN=${V6G_ASAN:-1} V6G_TSAN=${V6G_TSAN:-1} setsid -w "${idle[@]}" bash -c '
		[ "$V6G_KMOD" = 0 ] || { make -s kmod >$logdir/v6g-kmod-build.log 2>&1; echo $? >$logdir/kmod.rc; }
		[ "$V6G_ASAN" = 0 ] || sanitizer_build asan asan "$asan_build" $asan_targets
		[ "$V6G_TSAN" = 0 ] || sanitizer_build tsan tsan "$tsan_build" $tsan_targets' &
	bg_builds=$!
	echo "== background builds started (${idle[*]:-normal priority}): kmod, $asan_build, $tsan_build"
	# Stop them if this script ends early (interrupted, killed).
	trap 'kill -- -$bg_builds 2>/dev/null; kill -CONT -- -$bg_builds 2>/dev/null' EXIT
fi
# wait_for <name>: wait until the background job has done <name> (or ended).
wait_for() {
	while [ ! -f $logdir/$1.rc ] && [ -n "$bg_builds" ] && kill -0 $bg_builds 2>/dev/null; do
		sleep 1
	done
}
# wait_build <name>: wait for a background sanitizer build; its exit status.
wait_build() {
	wait_for $1
	if [ ! -f $logdir/$1.rc ]; then
		echo "$1 build: background job ended without a result" >&2
		return 1
	fi
	timings+=("$1-build(bg) $(cat $logdir/$1.secs)s")
	return "$(cat $logdir/$1.rc)"
}

status=0
echo "== unit tests"
(cd "$build" && ctest -L unit --output-on-failure -j"$jobs") 2>&1 | tee $logdir/v6g-unit.log
[ "${PIPESTATUS[0]}" -eq 0 ] || status=1
tally_ctest $logdir/v6g-unit.log
tier_done unit

if [ "$(id -u)" -eq 0 ]; then
	echo "== host integration tests (network namespaces)"
	(cd "$build" && ctest -L integration --output-on-failure) 2>&1 | tee $logdir/v6g-integ.log
	[ "${PIPESTATUS[0]}" -eq 0 ] || status=1
	tally_ctest $logdir/v6g-integ.log
	tier_done integration
else
	echo "== host integration tests skipped: need root"
fi

if [ -x scripts/vm-run.sh ]; then
	echo "== kernel selftests (QEMU)"
	# The background job built the module; make again (a no-op then) prints
	# its errors if that failed.
	wait_for kmod
	# The guest (TCG, 2 vCPUs) keeps both cores busy (~1.5 cores on average)
	# and its cases have timeouts: the background builds pause meanwhile
	# (SIGSTOP to their process group), not even taking the idle time.
	[ -n "$bg_builds" ] && kill -STOP -- -$bg_builds 2>/dev/null
	make -s kmod && scripts/vm-run.sh 2>&1 | tee $logdir/v6g-selftest.log
	rc=${PIPESTATUS[0]}
	[ -n "$bg_builds" ] && kill -CONT -- -$bg_builds 2>/dev/null
	sp=$(grep -c '^ok ' $logdir/v6g-selftest.log) sf=$(grep -c '^not ok ' $logdir/v6g-selftest.log)
	ss=$(grep -c '^ok .*# SKIP' $logdir/v6g-selftest.log)
	passed=$((passed + sp - ss)) failed=$((failed + sf)) skipped=$((skipped + ss))
	case $rc in
	0) ;;
	4) echo "== kernel selftests skipped (vm-run.sh: $(grep -m1 'SKIP' $logdir/v6g-selftest.log))"
		skipped=$((skipped + 1)) ;;
	*) status=1
		[ "$sf" -gt 0 ] || failed=$((failed + 1)) ;;
	esac
	tier_done selftest
fi

if [ "${V6G_ASAN:-1}" != 0 ]; then
	echo "== unit tests under ASan+UBSan ($asan_build)"
	if wait_build asan; then
		# Leaks, heap errors and UB all fail the test (abort, non-zero exit).
		(cd "$asan_build" && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:detect_stack_use_after_return=1 \
			UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
			ctest -L unit --output-on-failure -j"$jobs") 2>&1 | tee $logdir/v6g-asan.log
		[ "${PIPESTATUS[0]}" -eq 0 ] || status=1
		tally_ctest $logdir/v6g-asan.log
		# Host integration under ASan+UBSan: the scripts that feed the daemon
		# attacker packets (inspector parsers, guard engine) and drive its API
		# (control plane, store), against the sanitizer build of v6guardd. A
		# report anywhere in the daemon is a failure even if the script passed.
		if [ "$(id -u)" -eq 0 ]; then
			for script in ${V6G_ASAN_INTEGRATION:-attack_nd daemon_api}; do
				echo "== $script.sh with the ASan+UBSan v6guardd"
				V6G_V6GUARDD=$(abspath "$asan_build")/manager/daemon/v6guardd V6G_READY_TIMEOUT=30 \
					ASAN_OPTIONS=detect_leaks=1:log_path=$logdir/asan-daemon:detect_stack_use_after_return=1 \
					UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1:log_path=$logdir/asan-daemon \
					V6G_BUILD_DIR=$(abspath "$build") V6G_SOURCE_DIR=$root \
					bash manager/tests/integration/$script.sh >$logdir/v6g-asan-$script.log 2>&1
				rc=$?
				reports=$(ls $logdir/asan-daemon.* 2>/dev/null)
				if [ $rc -eq 0 ] && [ -z "$reports" ]; then
					echo "ok - $script.sh under ASan+UBSan ($(grep -c '^ok' $logdir/v6g-asan-$script.log) checks)"
					passed=$((passed + 1))
				elif [ $rc -eq 4 ]; then
					echo "skip - $script.sh under ASan+UBSan: $(grep -m1 skip $logdir/v6g-asan-$script.log)"
					skipped=$((skipped + 1))
				else
					echo "not ok - $script.sh under ASan+UBSan (exit $rc)"
					grep '^not ok' $logdir/v6g-asan-$script.log
					[ -n "$reports" ] && head -40 $reports
					failed=$((failed + 1)) status=1
					rm -f $reports
				fi
			done
		fi
	else
		echo "ASan build failed; see $logdir/v6g-asan-configure.log $logdir/v6g-asan-build.log" >&2
		tail -30 $logdir/v6g-asan-build.log >&2
		status=1 failed=$((failed + 1))
	fi
	tier_done unit-asan
fi

if [ "${V6G_TSAN:-1}" != 0 ]; then
	echo "== threaded unit tests under TSan ($tsan_build)"
	if wait_build tsan; then
		# A race fails the test (halt_on_error: non-zero exit). Only these
		# targets' tests (the dir may hold others built by hand).
		(cd "$tsan_build" && TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 \
			ctest -L unit -R '^(ApiServerTest|VmManagerTest|InspectorSharedEngine)\.' --output-on-failure -j"$jobs") 2>&1 | tee $logdir/v6g-tsan.log
		[ "${PIPESTATUS[0]}" -eq 0 ] || status=1
		tally_ctest $logdir/v6g-tsan.log
	else
		echo "TSan build failed; see $logdir/v6g-tsan-configure.log $logdir/v6g-tsan-build.log" >&2
		tail -30 $logdir/v6g-tsan-build.log >&2
		status=1 failed=$((failed + 1))
	fi
	tier_done unit-tsan
fi

echo "tier times: ${timings[*]}"
echo "tests: $passed passed, $failed failed, $skipped skipped"
exit $status
