#!/bin/bash
# Runs every benchmark and writes one table:
#   - each Google Benchmark binary in <build-dir>/manager/bench (JSON output)
#   - every executable scripts/bench-*.sh, called with <build-dir> (exit 4 = skip);
#     their "ratio ...: <n> (goal ...)" lines become rows of the table.
# A new *_bench binary or bench-*.sh script shows up without changes here;
# the ROWS table below only adds a peer and a goal to known figures.
# The table (figure, value, peer, ratio, goal, machine) goes to <out.md>
# (default <build-dir>/bench-results.md; `make bench` writes docs/BENCHMARKS.md).
# Env: V6G_BENCH_MIN_TIME (seconds per benchmark, default 0.2);
#      V6G_BENCH_KMOD=0 skips scripts/bench-kmod.sh (QEMU, several minutes);
#      V6G_BENCH_ONLY=REGEX runs only the binaries/scripts whose name matches.
# Usage: scripts/bench.sh <build-dir> [out.md]
set -uo pipefail

BUILD=${1:?usage: bench.sh <build-dir> [out.md]}
BUILD=$(cd "$BUILD" && pwd)
SRC=$(cd "$(dirname "$0")/.." && pwd)
OUT=${2:-$BUILD/bench-results.md}
MIN_TIME=${V6G_BENCH_MIN_TIME:-0.2}
JSON_DIR="$BUILD/bench-json"
LOG_DIR="$BUILD/bench-logs"
rm -rf "$JSON_DIR" "$LOG_DIR"
mkdir -p "$JSON_DIR" "$LOG_DIR"

status=0
shopt -s nullglob
started=$(date +%s)
# The bench scripts (and vm-run.sh for bench-kmod) find binaries through this.
export V6G_BUILD_DIR="$BUILD"
for bin in "$BUILD"/manager/bench/*_bench; do
	[ -x "$bin" ] || continue
	name=$(basename "$bin")
	[[ $name =~ ${V6G_BENCH_ONLY:-.} ]] || continue
	echo "== $name"
	t0=$(date +%s)
	if ! "$bin" --benchmark_min_time="$MIN_TIME" --benchmark_out="$JSON_DIR/$name.json" \
		--benchmark_out_format=json; then
		echo "FAIL: $name" >&2
		echo "failed" >"$LOG_DIR/$name.status"
		status=1
		continue
	fi
	echo "ok $(($(date +%s) - t0))s" >"$LOG_DIR/$name.status"
done

for script in "$SRC"/scripts/bench-*.sh; do
	[ -x "$script" ] || continue
	name=$(basename "$script" .sh)
	[[ $name =~ ${V6G_BENCH_ONLY:-.} ]] || continue
	if [ "$name" = bench-kmod ] && [ "${V6G_BENCH_KMOD:-1}" = 0 ]; then
		echo "skipped (V6G_BENCH_KMOD=0)" >"$LOG_DIR/$name.status"
		continue
	fi
	echo "== $name"
	t0=$(date +%s)
	"$script" "$BUILD" 2>&1 | tee "$LOG_DIR/$name.log"
	rc=${PIPESTATUS[0]}
	case $rc in
	0) echo "ok $(($(date +%s) - t0))s" >"$LOG_DIR/$name.status" ;;
	4) echo "skipped: $(tail -1 "$LOG_DIR/$name.log")" >"$LOG_DIR/$name.status" ;;
	*) echo "FAILED rc=$rc" >"$LOG_DIR/$name.status"; status=1 ;;
	esac
done
echo "bench: $(($(date +%s) - started))s in all"

# Known figures: binary, benchmark (regex), figure, metric (items_per_second,
# ns, or a counter name), peer binary:benchmark regex (or -), goal (>= N / <= N, or -).
/usr/bin/python3 - "$JSON_DIR" "$LOG_DIR" "$OUT" "$MIN_TIME" <<'PY'
import datetime, json, os, pathlib, platform, re, sys
json_dir, log_dir, out, min_time = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2]), sys.argv[3], sys.argv[4]

ROWS = [
    ("packet_bench", r"BM_ParseMixInto$", "packet parse+classify, first-hop mix", "items_per_second",
     r"packet_bench:BM_ParseMix$", ">= 20000000"),
    ("packet_bench", r"BM_ParseEvasionsInto$", "packet parse, RA evasion frames", "ns", "-", "<= 50"),
    ("guard_bench", r"BM_GuardMixed$", "guard decisions, 100k bindings, mixed stream", "items_per_second",
     "-", ">= 5000000"),
    ("guard_bench", r"BM_TableLookup$", "binding lookup, engine's flat table", "items_per_second",
     r"guard_bench:BM_UnorderedMapLookup$", "-"),
    ("guard_bench", r"BM_TableLookup$", "bytes per binding, flat table", "bytes_per_binding",
     r"guard_bench:BM_UnorderedMapLookup$", "<= 64"),
    ("config_bench", r"BM_ValidateSpecRequest$", "CreateVm validation (10k VMs on the host)",
     "items_per_second", "-", ">= 100000"),
    ("config_bench", r"BM_AllocateFromPool$", "CreateVm validate + allocate from a pool",
     "items_per_second", "-", ">= 100000"),
    ("config_bench", r"BM_ParseFirewallRule$", "firewall rule parse", "items_per_second", "-",
     ">= 100000"),
    ("api_bench", r"BM_CreateVmOverUnixSocket/", "CreateVm over the unix socket (best)",
     "items_per_second", r"api_bench:BM_CreateVmInProcess.*", ">= 5000"),
]

def load():
    runs = {}
    for f in sorted(json_dir.glob("*.json")):
        try:
            doc = json.loads(f.read_text())
        except ValueError:
            continue
        runs[f.stem] = [b for b in doc.get("benchmarks", []) if b.get("run_type", "iteration") != "aggregate"]
    return runs

def metric(b, m):
    if m == "ns":
        scale = {"ns": 1, "us": 1e3, "ms": 1e6, "s": 1e9}[b.get("time_unit", "ns")]
        return b["real_time" if "real_time" in b and "UseRealTime" in b["name"] else "cpu_time"] * scale
    return b.get(m)

def best(runs, binary, pattern, m):
    vals = [metric(b, m) for b in runs.get(binary, []) if re.search(pattern, b["name"])]
    vals = [v for v in vals if v is not None]
    if not vals:
        return None
    return min(vals) if m in ("ns", "bytes_per_binding") else max(vals)

def fmt(v, m):
    if v is None:
        return "n/a"
    unit = {"items_per_second": "/s", "ns": " ns", "bytes_per_binding": " B"}.get(m, "")
    if m == "items_per_second":
        for div, suf in ((1e6, " M"), (1e3, " k")):
            if v >= div:
                return f"{v / div:.3g}{suf}{unit}"
    return f"{v:.3g}{unit}"

def goal_met(v, goal):
    if v is None or goal == "-":
        return "not run"
    op, n = goal.split()
    ok = v >= float(n) if op == ">=" else v <= float(n)
    return "met" if ok else "NOT met"

runs = load()
rows, used = [], set()
for binary, pat, figure, m, peer, goal in ROWS:
    v = best(runs, binary, pat, m)
    if v is None and binary not in runs:
        continue
    for b in runs.get(binary, []):
        if re.search(pat, b["name"]):
            used.add((binary, b["name"]))
    pv, ptxt, ratio = None, "-", "-"
    if peer != "-":
        pb, ppat = peer.split(":", 1)
        pv = best(runs, pb, ppat, m)
        for b in runs.get(pb, []):
            if re.search(ppat, b["name"]):
                used.add((pb, b["name"]))
        ptxt = f"{fmt(pv, m)} ({ppat.rstrip('$.*')})"
        if v and pv:
            ratio = f"{v / pv:.2f}"
    gtxt = "-" if goal == "-" else f"{goal} ({goal_met(v, goal)})"
    rows.append((figure, f"{fmt(v, m)}", ptxt, ratio, gtxt, f"{binary} {pat.rstrip('$.*')}"))
# Everything else that ran: one row each, no peer or goal known here.
for binary, bs in runs.items():
    for b in bs:
        if (binary, b["name"]) in used:
            continue
        m = "items_per_second" if "items_per_second" in b else "ns"
        rows.append((b["name"], fmt(metric(b, m), m), "-", "-", "-", binary))

# Script benchmarks: every line with a ratio or a goal, e.g.
# "ratio kmod/bare: 0.957 (goal >= 0.95)", "ratio b/c = 7.05 (goal >= 3)";
# the pps/bindings lines before it are the measurements it came from.
line_re = re.compile(r"^(?P<fig>.+?)\s*[:=]\s*(?P<v>-?[0-9]+(?:\.[0-9]+)?)x?\s*(?:\((?P<goal>goal[^)]*)\))?\s*$")
script_rows, statuses = [], {}
for st in sorted(log_dir.glob("*.status")):
    statuses[st.stem] = st.read_text().strip()
for log in sorted(log_dir.glob("bench-*.log")):
    context = []
    for raw in log.read_text(errors="replace").splitlines():
        line = raw.strip().lstrip("# ").strip()
        mo = line_re.match(line)
        if mo and ("ratio" in line.lower() or "goal" in line.lower()):
            goal = (mo.group("goal") or "-").replace("goal ", "").strip()
            gm = re.match(r"(>=|<=)\s*([0-9.]+)", goal)
            if gm:
                ok = (float(mo.group("v")) >= float(gm.group(2))) == (gm.group(1) == ">=")
                goal += " (met)" if ok else " (NOT met)"
            # Latency rows show the latency measurements, the others pps.
            kind = "lat" if re.search(r"latency|service", line) else "pps"
            script_rows.append((log.stem, mo.group("fig").strip(), mo.group("v"), goal,
                                "; ".join([c for k, c in context if k == kind][-4:])))
        elif re.search(r"\b(pps|bindings)\b.*[0-9]", line):
            context.append(("pps", re.sub(r"\s+", " ", line.replace("|", "/"))))
        elif re.search(r"^(rtt|service)\b.*[0-9]", line):
            context.append(("lat", re.sub(r"\s+", " ", line.replace("|", "/"))))

cpu = "unknown"
for line in open("/proc/cpuinfo"):
    if line.startswith("model name"):
        cpu = line.split(":", 1)[1].strip()
        break
now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
load = open("/proc/loadavg").read().split()[:3]
with open(out, "w") as f:
    f.write("# v6guard benchmarks\n\n")
    f.write("Generated by `make bench` (scripts/bench.sh); do not edit by hand.\n\n")
    f.write(f"Machine: {cpu}, {os.cpu_count()} cores, kernel {platform.release()}, {now}, "
            f"load average at the end {' '.join(load)}. "
            f"Google Benchmark min time {min_time} s per benchmark. The build machine is shared "
            "(other jobs run alongside), so absolute numbers are noisy; ratios come from the "
            "same run side by side.\n\n")
    f.write("## In-process benchmarks (manager/bench)\n\n")
    f.write("| figure | value | peer | ratio | goal | source |\n|---|---:|---|---:|---|---|\n")
    for r in rows:
        f.write("| " + " | ".join(r) + " |\n")
    f.write("\n## Datapath benchmarks (scripts/bench-*.sh)\n\n")
    if script_rows:
        f.write("| bench | figure | ratio | goal | measured |\n|---|---|---:|---|---|\n")
        for r in script_rows:
            f.write("| " + " | ".join(r) + " |\n")
    f.write("\n| bench | status |\n|---|---|\n")
    for name, st in statuses.items():
        f.write(f"| {name} | {st} |\n")
print(open(out).read())
PY
[ -s "$OUT" ] || status=1
exit $status
