"""make bench: build the peers that can be built here, run every workload
of shared/spec/performance.md on corio and on each peer several times,
and report medians (min-max), peak RSS and corio's ratio to each peer.
Writes docs/benchmarks.md and docs/benchmarks.png (gnuplot, if present);
--quick (the CI smoke test) writes them under the build directory instead,
so that its figures never replace the real ones.

    python3 bench/run.py [--build build] [--quick] [--repeat 3] [--only corio,go]
"""
import argparse
import datetime
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import chart as charts  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PEERS = os.path.join(ROOT, "bench", "peers")

# workload -> (sizes full, sizes quick, metric, unit). The quick sizes are a
# smoke test (every program builds, runs and checks its answer; the report
# is written), small enough for a fresh clone's QUICK=1 run to stay inside
# two minutes on a noisy machine, where a slow peer can take 10x its usual.
WORKLOADS = [
    ("spawn_gather", [1000000], [20000], "ns per task"),
    ("yield", [1000000], [20000], "ns per switch"),
    ("pingpong", [1000000], [20000], "ns per hand-off"),
    ("timers", [1000000], [20000], "ns per arm / cancel"),
    ("wait_loop", [10000, 100000], [2000], "overhead s"),  # every run sleeps 1 s
    ("sleepers", [100000, 1000000], [10000], "wall s / peak RSS"),
]


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def have(cmd):
    return shutil.which(cmd) is not None


def build_peers(build):
    """Each peer: name -> command prefix (or None with the reason)."""
    out = os.path.join(ROOT, build, "peers")
    os.makedirs(out, exist_ok=True)
    peers = {"corio": [os.path.join(ROOT, build, "bench")]}
    skipped = {}
    py = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else shutil.which("python3")
    peers["asyncio"] = [py, os.path.join(PEERS, "asyncio_bench.py")]
    if subprocess.run([py, "-c", "import uvloop"], capture_output=True).returncode == 0:
        peers["uvloop"] = [py, os.path.join(PEERS, "asyncio_bench.py"), "--uvloop"]
    else:
        skipped["uvloop"] = "python3-uvloop is not installed"
    if have("go"):
        r = subprocess.run(["go", "build", "-o", os.path.join(out, "go_bench"), "."],
                           cwd=os.path.join(PEERS, "go"), capture_output=True, text=True,
                           env=dict(os.environ, GOFLAGS="-mod=mod", GO111MODULE="on",
                                    GOCACHE=os.path.join(out, "gocache"), GOPATH=os.path.join(out, "gopath")))
        if r.returncode == 0:
            peers["go"] = [os.path.join(out, "go_bench")]
        else:
            skipped["go"] = "go build failed: " + r.stderr[-200:]
    else:
        skipped["go"] = "no go toolchain (golang-go)"
    if have("node"):
        peers["node"] = ["node", os.path.join(PEERS, "node_bench.js")]
    else:
        skipped["node"] = "no node (nodejs)"
    if have("cargo") and os.path.isdir("/usr/share/cargo/registry") and any(
            d.startswith("tokio-") for d in os.listdir("/usr/share/cargo/registry")):
        r = subprocess.run(["cargo", "build", "--release", "--offline", "-q"], cwd=os.path.join(PEERS, "tokio"),
                           capture_output=True, text=True,
                           env=dict(os.environ, CARGO_TARGET_DIR=os.path.join(out, "cargo")))
        exe = os.path.join(out, "cargo", "release", "tokio_bench")
        if r.returncode == 0:
            peers["tokio-ct"] = [exe, "ct"]
            peers["tokio-mt"] = [exe, "mt"]
        else:
            skipped["tokio"] = "cargo build failed: " + r.stderr[-300:]
    else:
        skipped["tokio"] = "no cargo or no librust-tokio-dev"
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc and subprocess.run(["pkg-config", "--exists", "libuv"]).returncode == 0:
        r = subprocess.run([cc, "-O2", "-o", os.path.join(out, "libuv_bench"), os.path.join(PEERS, "libuv_bench.c"),
                            "-luv"], capture_output=True, text=True)
        if r.returncode == 0:
            peers["libuv"] = [os.path.join(out, "libuv_bench")]
        else:
            skipped["libuv"] = "build failed: " + r.stderr[-200:]
    else:
        skipped["libuv"] = "no libuv1-dev"
    return peers, skipped


def command(peer, prefix, workload, n, extra):
    if peer == "corio":
        return [os.path.join(prefix[0], workload), str(n)] + extra
    return prefix + [workload, str(n)] + extra


TIME = "/usr/bin/time" if os.access("/usr/bin/time", os.X_OK) else None


def run_measured(cmd, timeout):
    """Run cmd; its check line's fields, plus wall time and its own peak RSS.
    /usr/bin/time measures the RSS from a small parent; without it, wait4's
    figure also counts the moments between fork and exec, when the child
    still shares this Python process (about 16 MB)."""
    if TIME:
        cmd = [TIME, "-f", "corio_bench_rss_kb=%M"] + cmd
    t0 = time.perf_counter()
    p = RusagePopen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        p.communicate()
        return None, "timed out after %d s" % timeout
    wall = time.perf_counter() - t0
    if p.returncode != 0:
        return None, (err or out).strip()[-200:]
    line = out.strip().splitlines()[-1] if out.strip() else ""
    fields = dict(kv.split("=", 1) for kv in line.split() if "=" in kv)
    fields["wall"] = wall
    fields["rss_kb"] = getattr(p, "rusage_maxrss", None)
    m = [l for l in err.splitlines() if l.startswith("corio_bench_rss_kb=")]
    if m:
        fields["rss_kb"] = int(m[-1].split("=", 1)[1])
    return fields, line


class RusagePopen(subprocess.Popen):
    """Popen that reaps with wait4 and keeps the child's peak RSS."""

    def _try_wait(self, wait_flags):
        try:
            pid, sts, ru = os.wait4(self.pid, wait_flags)
            if pid == self.pid:
                self.rusage_maxrss = ru.ru_maxrss
        except ChildProcessError:
            pid, sts = self.pid, 0
        return (pid, sts)


def metric(workload, f, n):
    """The figure(s) a run contributes: dict name -> value."""
    secs = float(f.get("secs", "nan"))
    if workload == "spawn_gather":
        return {"ns": secs / n * 1e9, "rss_mb": (f.get("rss_kb") or 0) / 1024.0}
    if workload in ("yield", "pingpong"):
        return {"ns": secs / (2 * n) * 1e9}
    if workload == "timers":
        return {"arm": float(f.get("arm_ns", "nan")), "cancel": float(f.get("cancel_ns", "nan"))}
    if workload == "wait_loop":
        return {"overhead": secs}
    if workload == "sleepers":
        return {"wall": float(f["wall"]), "rss_mb": (f.get("rss_kb") or 0) / 1024.0,
                "bytes_per_task": (f.get("rss_kb") or 0) * 1024.0 / n}
    return {}


def fmt_stat(vals, unit=""):
    vals = [v for v in vals if v == v]
    if not vals:
        return "—"
    med = statistics.median(vals)
    def f(x):
        if x >= 100:
            return "%.0f" % x
        if x >= 10:
            return "%.1f" % x
        return "%.3g" % x
    if len(vals) == 1 or max(vals) == min(vals):
        return f(med) + unit
    return "%s%s (%s–%s)" % (f(med), unit, f(min(vals)), f(max(vals)))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    ap.add_argument("--quick", action="store_true", default=os.environ.get("QUICK") == "1")
    ap.add_argument("--repeat", type=int, default=None)
    ap.add_argument("--only", default="")
    ap.add_argument("--out", default=None)
    a = ap.parse_args()
    if a.out is None:
        a.out = os.path.join(a.build, "bench-quick") if a.quick else os.path.join(ROOT, "docs")
    repeat = a.repeat or (1 if a.quick else 3)
    peers, skipped = build_peers(a.build)
    if a.only:
        keep = a.only.split(",")
        peers = {k: v for k, v in peers.items() if k in keep}
    for name, why in skipped.items():
        log("bench: %s skipped: %s" % (name, why))
    results = {}  # (workload, n, extra, peer) -> {metric: [values]}
    t_start = time.time()
    for workload, full, quick, unit in WORKLOADS:
        sizes = quick if a.quick else full
        variants = [[]]
        if workload == "wait_loop":  # both drain styles; corio also in its copy stack mode
            variants = [[], ["as_completed"], ["copy"], ["as_completed", "copy"]]
        if workload == "sleepers":
            variants = [[], ["copy"]]  # corio's stack modes: own stacks, copied stacks
        if workload == "spawn_gather":
            variants = [[], ["eager"]]  # corio also with eager tasks (asyncio 3.12's factory)
        for n in sizes:
            for extra in variants:
                for peer, prefix in peers.items():
                    if ("copy" in extra or "eager" in extra) and peer != "corio":
                        continue  # a stack mode or task factory only corio has (3.11's asyncio lacks eager)
                    if extra and peer != "corio" and peer not in ("asyncio", "uvloop"):
                        continue  # other peers have one natural drain idiom
                    if peer == "libuv" and workload in ("yield", "wait_loop"):
                        continue  # callbacks: nothing to yield or wait on
                    key = (workload, n, " ".join(extra), peer)
                    vals = {}
                    for r in range(repeat):
                        f, line = run_measured(command(peer, prefix, workload, n, extra), 300)
                        if f is None:
                            log("bench: %s %s %d: %s" % (peer, workload, n, line))
                            break
                        for k, v in metric(workload, f, n).items():
                            vals.setdefault(k, []).append(v)
                        log("  %-9s %-13s %8d %-12s %s" % (peer, workload, n, " ".join(extra), line))
                        if f["wall"] > 20:
                            break  # slow peers: one run is enough
                    if vals:
                        results[key] = vals
    echo_lines = []
    if not a.only or any(k in a.only.split(",") for k in ("corio", "echo")):
        import echo
        res, names, configs, _ = echo.sweep(a.build, quick=a.quick)
        echo_lines = echo.report(res, names, configs)
        os.makedirs(a.out, exist_ok=True)
        echo.chart_from_results(res, names, configs, os.path.join(a.out, "benchmarks-echo.png"))
        n, idle = echo.idle_sweep(a.build, quick=a.quick)
        echo_lines += echo.idle_report(n, idle)
    elapsed = time.time() - t_start
    write_report(results, peers, skipped, a, repeat, elapsed, echo_lines)
    return 0


def machine():
    model = ""
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    def ver(cmd):
        try:
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=20)
            return (r.stdout or r.stderr).strip().splitlines()[0]
        except Exception:
            return "not found"
    return [("CPU", "%s, %d cores" % (model, os.cpu_count())), ("kernel", platform.release()),
            ("cc", ver(["cc", "--version"])), ("python3", ver(["/usr/bin/python3", "--version"])),
            ("go", ver(["go", "version"])), ("node", ver(["node", "--version"])),
            ("rustc", ver(["rustc", "--version"])),
            ("tokio", "1.24 (Debian librust-tokio-dev)"),
            ("libuv", ver(["pkg-config", "--modversion", "libuv"]))]


def write_report(results, peers, skipped, a, repeat, elapsed, echo_lines=()):
    names = list(peers)
    lines = []
    add = lines.append
    add("# corio benchmarks")
    add("")
    add("Written by `make bench` (`bench/run.py`)%s on %s, in %.0f s. Medians of %d run(s) with the "
        "min–max spread; lower is better. Each program measures its own work (`secs=` in its check "
        "line); peak RSS is the child's own (%s). The ratio is the peer's figure over corio's: "
        "above 1, corio is faster." % (" with `QUICK=1`" if a.quick else "",
                                       datetime.date.today().isoformat(), elapsed, repeat,
                                       "`/usr/bin/time`" if TIME else "`wait4`"))
    add("")
    add("| machine | |")
    add("|---|---|")
    for k, v in machine():
        add("| %s | %s |" % (k, v))
    if skipped:
        add("")
        add("Skipped here: " + "; ".join("%s (%s)" % (k, v.splitlines()[0] if v else "") for k, v in skipped.items()))
    rows = []  # for the chart: (label, {peer: value})

    def table(title, unit, keyf, pick):
        add("")
        add("## " + title)
        add("")
        add("| size | " + " | ".join(names) + " | best peer / corio |")
        add("|---|" + "---|" * (len(names) + 1))
        for key in sorted({k[:3] for k in results if keyf(k)}, key=lambda k: (k[1], k[2])):
            cells, meds = [], {}
            for p in names:
                v = results.get(key + (p,))
                if v and pick in v:
                    cells.append(fmt_stat(v[pick]))
                    meds[p] = statistics.median(v[pick])
                else:
                    cells.append("—")
            ratio = "—"
            others = {p: m for p, m in meds.items() if p != "corio"}
            if not others and key[2]:  # a corio-only mode: against the peers' own idiom at that size
                for p in names:
                    v = results.get((key[0], key[1], "", p))
                    if p != "corio" and v and pick in v:
                        others[p] = statistics.median(v[pick])
            if "corio" in meds and others and meds["corio"] > 0:
                bp = min(others, key=others.get)
                ratio = "%.2f× (%s)" % (others[bp] / meds["corio"], bp)
            label = "%s %d%s" % (key[0], key[1], (" " + key[2]) if key[2] else "")
            add("| %d%s | %s | %s |" % (key[1], (" " + key[2]) if key[2] else "", " | ".join(cells), ratio))
            rows.append((label + " " + pick, meds))

    table("spawn_gather: ns per task", "ns", lambda k: k[0] == "spawn_gather", "ns")
    table("spawn_gather: peak RSS, MB", "MB", lambda k: k[0] == "spawn_gather", "rss_mb")
    table("yield: ns per switch", "ns", lambda k: k[0] == "yield", "ns")
    table("pingpong: ns per one-way hand-off", "ns", lambda k: k[0] == "pingpong", "ns")
    table("timers: ns per arm", "ns", lambda k: k[0] == "timers", "arm")
    table("timers: ns per cancel", "ns", lambda k: k[0] == "timers", "cancel")
    table("wait_loop: overhead in seconds (wall − 1 s)", "s", lambda k: k[0] == "wait_loop", "overhead")
    table("sleepers: wall seconds (each task sleeps 1 s)", "s", lambda k: k[0] == "sleepers", "wall")
    table("sleepers: peak RSS, MB", "MB", lambda k: k[0] == "sleepers", "rss_mb")
    table("sleepers: peak RSS per task, bytes", "B", lambda k: k[0] == "sleepers", "bytes_per_task")
    targets(results, names, add)
    add("")
    for l in echo_lines:
        add(l)
    add("![corio and its peers](benchmarks.png)")
    add("")
    # How to run them, then the dated figures of earlier optimisations
    # (bench/history.md: the design note keeps no measurements).
    for extra in ("README.md", "history.md"):
        path = os.path.join(ROOT, "bench", extra)
        if os.path.exists(path):
            add(open(path).read().strip())
            add("")
    os.makedirs(a.out, exist_ok=True)
    md = os.path.join(a.out, "benchmarks.md")
    with open(md, "w") as f:
        f.write("\n".join(lines).rstrip() + "\n")
    print("\n".join(lines[: lines.index("![corio and its peers](benchmarks.png)")]))
    chart(rows, names, os.path.join(a.out, "benchmarks.png"))
    log("bench: wrote %s" % md)


# The targets of shared/spec/performance.md, at the full sizes:
# (workload, n, extra, metric, limit, what).
TARGETS = [
    ("spawn_gather", 1000000, "eager", "ns", 50, "ns per task"),
    ("yield", 1000000, "", "ns", 15, "ns per switch"),
    ("pingpong", 1000000, "", "ns", 25, "ns per hand-off"),
    ("sleepers", 1000000, "copy", "bytes_per_task", 400, "bytes per task"),
    ("sleepers", 1000000, "copy", "wall", 1.3, "s wall"),
    ("sleepers", 1000000, "", "bytes_per_task", 4500, "bytes per task"),
    ("sleepers", 1000000, "", "wall", None, "s wall: bound by first-touch page faults, reported beside the peers"),
    ("timers", 1000000, "", "arm", 25, "ns per arm"),
    ("timers", 1000000, "", "cancel", 15, "ns per cancel"),
]


def targets(results, names, add):
    """Each target, met or not, with the ratio to the best peer; wait_loop:
    linear (10 000 -> 100 000 tasks: <= 12x the overhead) and under 0.1 s
    at 100 000, per drain style. Only at the full sizes: QUICK=1 skips it."""
    def med(key, pick):
        v = results.get(key)
        return statistics.median(v[pick]) if v and v.get(pick) else None

    def vs_best_peer(workload, n, pick, m):
        meds = {p: med((workload, n, "", p), pick) for p in names if p != "corio"}
        meds = {p: v for p, v in meds.items() if v is not None}
        if not meds or m <= 0:
            return "—"
        p = min(meds, key=meds.get)
        return "%.2f× (%s)" % (meds[p] / m, p)

    def verdict(m, limit):
        if limit is None:
            return "no target"
        if m <= limit:
            return "yes"
        r = m / limit  # a near miss keeps a third decimal: "1.00×" would read as met
        return ("no: %.3f× the target" if r < 1.01 else "no: %.2f× the target") % r

    rows = []
    for workload, n, extra, pick, limit, what in TARGETS:
        m = med((workload, n, extra, "corio"), pick)
        if m is not None:
            rows.append(("%s %d%s" % (workload, n, " " + extra if extra else ""),
                         what if limit is None else "≤ %g %s" % (limit, what), "%.4g" % m, verdict(m, limit),
                         vs_best_peer(workload, n, pick, m)))
    for extra in sorted({k[2] for k in results if k[0] == "wait_loop" and k[3] == "corio"}):
        name = " " + extra if extra else ""
        a = med(("wait_loop", 10000, extra, "corio"), "overhead")
        b = med(("wait_loop", 100000, extra, "corio"), "overhead")
        if a and b and a > 0 and b > 0:
            rows.append(("wait_loop 10000 → 100000" + name, "≤ 12× the overhead",
                         "%.1f×" % (b / a), verdict(b / a, 12), "—"))
        if b is not None:
            rows.append(("wait_loop 100000" + name, "≤ 0.1 s overhead", "%.3g s" % b,
                         verdict(b, 0.1), vs_best_peer("wait_loop", 100000, "overhead", b)))
    if not rows:
        return
    add("")
    add("## Targets (shared/spec/performance.md), this run")
    add("")
    add("| workload | target | corio | met? | best peer / corio |")
    add("|---|---|---|---|---|")
    for r in rows:
        add("| %s |" % " | ".join(r))


def chart(rows, names, png):
    if not have("gnuplot"):
        log("bench: no gnuplot: chart skipped")
        return
    rows = [r for r in rows if any(v > 0 for v in r[1].values()) and "rss" not in r[0] and "bytes" not in r[0]]
    ok = charts.bars(png, "corio and its peers: time per operation (log scale, lower is better)",
                     "ns per op, or seconds (wait_loop overhead, sleepers wall)", names, rows, rotate=True)
    log("bench: %s %s" % ("wrote" if ok else "could not write", png))


if __name__ == "__main__":
    sys.exit(main())
