"""make bench: build the peers that can be built here, run every workload
of shared/spec/performance.md on corio (in each of its modes) and on each
peer in interleaved rounds, and report medians (min–max over the rounds),
peak RSS and corio's ratio to each peer within a round. Writes
docs/benchmarks.md and docs/benchmarks.png (gnuplot, if present); --quick
(the CI smoke test) writes them under the build directory instead, so that
its figures never replace the real ones.

A round runs every program of a workload and size once, in an order
rotated from round to round, so that no program runs right after itself:
a process faults in memory the previous one just freed for less, and
back-to-back repeats measured corio 3x faster than interleaved runs (see
performance.md). --warm adds back-to-back repeats, reported beside them and
labelled so.

    python3 bench/run.py [--build build] [--quick] [--rounds 3] [--warm] [--only corio,go] [--no-echo] [--no-fetch]
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
    ("timers", [1000, 1000000], [20000], "ns per arm / cancel"),  # every run waits 1.3 s + 5 us per timer
    ("wait_loop", [10000, 100000], [2000], "overhead s"),  # every run sleeps 1 s
    ("sleepers", [100000, 1000000], [10000], "wall s / peak RSS"),
]

# The variants of each workload: corio runs every one (its stack modes, its
# eager task start, both drain styles); asyncio and uvloop run the drain
# styles; the other peers have one natural idiom, the first variant.
CORIO_VARIANTS = {
    "spawn_gather": ["", "eager", "copy"],
    "yield": ["", "copy"],
    "pingpong": ["", "copy"],
    "timers": [""],  # callbacks: no task, no stack
    "wait_loop": ["", "as_completed", "copy", "as_completed copy"],
    "sleepers": ["", "copy"],
}
CORIO_ONLY = ("copy", "eager")  # a stack mode, and a task factory 3.11's asyncio lacks
STYLES = ("asyncio", "uvloop")  # the peers that run the drain styles too
NOT_RUN = {"libuv": ("yield", "wait_loop")}  # callbacks: nothing to yield or wait on

TIME = "/usr/bin/time" if os.access("/usr/bin/time", os.X_OK) else None
HZ = os.sysconf("SC_CLK_TCK")
COMPETED_CORES = 0.25  # other processes' average CPU, in cores, that flags a round
STEAL_CORES = 0.10


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def have(cmd):
    return shutil.which(cmd) is not None


# ---- the peers ----------------------------------------------------------------


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


def command(peer, prefix, workload, n, variant):
    extra = variant.split()
    if peer == "corio":
        return [os.path.join(prefix[0], workload), str(n)] + extra
    return prefix + [workload, str(n)] + extra


# ---- the programs of a round, and their order ------------------------------------


def variants(peer, workload):
    if workload in NOT_RUN.get(peer, ()):
        return []
    if peer == "corio":
        return CORIO_VARIANTS[workload]
    mine = [v for v in CORIO_VARIANTS[workload] if not set(v.split()) & set(CORIO_ONLY)]
    return mine if peer in STYLES else mine[:1]


def spread(corio, others):
    """corio's programs spaced evenly among the peers', so that one corio
    program does not follow another when there are peers enough."""
    out, others = [], list(others)
    per = len(others) / max(len(corio), 1)
    for k, prog in enumerate(corio):
        take = round((k + 1) * per) - round(k * per)
        out += [prog] + others[:take]
        others = others[take:]
    return out + others


def programs(workload, peers):
    """The programs of one round of a workload: (variant, peer) pairs."""
    corio = [(v, "corio") for v in variants("corio", workload)] if "corio" in peers else []
    others = [(v, p) for p in peers if p != "corio" for v in variants(p, workload)]
    return spread(corio, others)


def rotated(progs, r):
    """Round r's order: progs rotated by r, so each program has a new place
    and nothing runs twice in a row, across rounds too: a rotation by one
    puts the next round's first program two after the last one run. Two
    programs cannot be rotated so (A B | B A): they alternate instead."""
    k = r % len(progs) if len(progs) > 2 else 0
    return progs[k:] + progs[:k]


# ---- one measured run -------------------------------------------------------------


class RusagePopen(subprocess.Popen):
    """Popen that reaps with wait4 and keeps the child's resource usage
    (its children's included, so /usr/bin/time's child is counted)."""
    rusage = None

    def _try_wait(self, wait_flags):
        try:
            pid, sts, ru = os.wait4(self.pid, wait_flags)
            if pid == self.pid:
                self.rusage = ru
        except ChildProcessError:
            pid, sts = self.pid, 0
        return (pid, sts)


def machine_load():
    """(CPU seconds all processes ran, seconds stolen by the hypervisor),
    summed over the CPUs, from /proc/stat's first line."""
    try:
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:9]]
    except (OSError, ValueError):
        return None
    user, nice, system, _idle, _iowait, irq, softirq, steal = v
    return (user + nice + system + irq + softirq) / HZ, steal / HZ


def loadavg():
    try:
        with open("/proc/loadavg") as f:
            return float(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return float("nan")


def self_cpu():
    t = os.times()
    return t.user + t.system


def conditions(before, after, wall, own_cpu):
    """What else ran beside the program: the CPU seconds other processes
    used (own_cpu: the program's and this script's) and the seconds
    stolen, over its wall time; the load average."""
    c = {"load": loadavg(), "wall": wall, "others_s": float("nan"), "steal_s": float("nan")}
    if before and after:
        c["others_s"] = max(0.0, after[0] - before[0] - own_cpu)
        c["steal_s"] = after[1] - before[1]
    c["competed"] = competed([c])
    return c


def competed(cs):
    """Whether another process competed during these runs: other processes'
    CPU, or the steal, averaged over their wall time, in cores. /proc/stat
    counts in ticks of 1/HZ s per CPU: runs shorter than 20 ticks together
    say nothing."""
    wall = sum(c["wall"] for c in cs)
    if wall < 20.0 / HZ:
        return False
    return cores(cs, "others_s") >= COMPETED_CORES or cores(cs, "steal_s") >= STEAL_CORES


def cores(cs, what):
    """Seconds of `what` over the runs' wall time: an average in cores."""
    wall = sum(c["wall"] for c in cs)
    return sum(c[what] for c in cs) / wall if wall > 0 else float("nan")


def run_measured(cmd, timeout):
    """Run cmd: (its check line's fields with wall and rss_kb, or None; the
    check line or the error; the conditions of the run, with its CPU)."""
    if TIME:
        cmd = [TIME, "-f", "corio_bench_rss_kb=%M"] + cmd
    before, mine = machine_load(), self_cpu()
    t0 = time.perf_counter()
    p = RusagePopen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        p.communicate()
        out, err = "", "timed out after %d s" % timeout
    wall = time.perf_counter() - t0
    ru = p.rusage
    cpu = ru.ru_utime + ru.ru_stime if ru else 0.0
    cond = conditions(before, machine_load(), wall, cpu + self_cpu() - mine)
    cond.update(cpu_s=cpu, sys_s=ru.ru_stime if ru else float("nan"))
    line = out.strip().splitlines()[-1] if out.strip() else ""
    timed = [l for l in err.splitlines() if l.startswith(("corio_bench_rss_kb=", "Command "))]
    if p.returncode != 0 or "secs=" not in line:
        said = [l for l in err.splitlines() if l not in timed]
        why = " ".join(["exit %s:" % p.returncode, line] + said).split()
        return None, " ".join(why)[-300:], cond
    fields = dict(kv.split("=", 1) for kv in line.split() if "=" in kv)
    fields.update(wall=wall, rss_kb=ru.ru_maxrss if ru else None)
    rss = [l for l in timed if l.startswith("corio_bench_rss_kb=")]
    if rss:  # /usr/bin/time's: the child's own peak, without the fork from this (large) process
        fields["rss_kb"] = int(rss[-1].split("=", 1)[1])
    return fields, line, cond


def metric(workload, f, n):
    """The figure(s) a run contributes: dict name -> value."""
    secs = float(f.get("secs", "nan"))
    rss_mb = (f.get("rss_kb") or 0) / 1024.0
    if workload == "spawn_gather":
        return {"ns": secs / n * 1e9, "rss_mb": rss_mb, "bytes_per_task": rss_mb * 1048576 / n}
    if workload in ("yield", "pingpong"):
        return {"ns": secs / (2 * n) * 1e9}
    if workload == "timers":
        return {"arm": float(f.get("arm_ns", "nan")), "cancel": float(f.get("cancel_ns", "nan"))}
    if workload == "wait_loop":
        return {"overhead": secs}
    if workload == "sleepers":
        return {"wall": float(f["wall"]), "rss_mb": rss_mb, "bytes_per_task": rss_mb * 1048576 / n}
    return {}


# ---- the rounds ---------------------------------------------------------------------


class Results:
    """Every run's figures and conditions. vals[(workload, n, variant, peer,
    kind)][metric][round] with kind "cold" (interleaved) or "warm" (back to
    back); conds[(workload, n, kind)][round] -> the runs' conditions."""

    def __init__(self):
        self.vals, self.conds, self.failures, self.runs = {}, {}, [], []

    def add(self, key, rnd, f, line, cond):
        workload, n, kind = key[0], key[1], key[-1]
        self.conds.setdefault((workload, n, kind), {}).setdefault(rnd, []).append(cond)
        self.runs.append((key, rnd, cond, line))
        if f is None:
            self.failures.append((key, rnd, line))
            return
        for k, v in metric(workload, f, n).items():
            self.vals.setdefault(key, {}).setdefault(k, {})[rnd] = v


def run_one(res, peers, workload, n, variant, peer, rnd, kind):
    f, line, cond = run_measured(command(peer, peers[peer], workload, n, variant), 300)
    res.add((workload, n, variant, peer, kind), rnd, f, line, cond)
    log("  %s %-9s %-13s %8d %-18s %s%s" % (kind[0] + str(rnd + 1), peer, workload, n, variant,
                                            line if f else "FAILED: " + line, "  [competed]" if cond["competed"] else ""))


def run_all(peers, quick, rounds, warm):
    res = Results()
    for workload, full, small, _ in WORKLOADS:
        progs = programs(workload, peers)
        for n in (small if quick else full):
            if len(progs) < 2:
                log("bench: %s: one program: its rounds run back to back" % workload)
            for r in range(rounds):
                for variant, peer in rotated(progs, r):
                    run_one(res, peers, workload, n, variant, peer, r, "cold")
            for variant, peer in (progs if warm else []):
                # A streak's first run follows another program: not counted.
                run_measured(command(peer, peers[peer], workload, n, variant), 300)
                for r in range(rounds):
                    run_one(res, peers, workload, n, variant, peer, r, "warm")
    return res


def write_runs(res, path):
    """Every run, one line each: what ran, its conditions, its check line."""
    with open(path, "w") as f:
        f.write("kind\tround\tworkload\tn\tvariant\tpeer\twall_s\tcpu_s\tsys_s\tload\tothers_cpu_s\t"
                "steal_s\tcompeted\tline\n")
        for (workload, n, variant, peer, kind), rnd, c, line in res.runs:
            f.write("%s\t%d\t%s\t%d\t%s\t%s\t%.3f\t%.3f\t%.3f\t%.2f\t%.2f\t%.2f\t%d\t%s\n" % (
                kind, rnd + 1, workload, n, variant, peer, c["wall"], c["cpu_s"], c["sys_s"], c["load"],
                c["others_s"], c["steal_s"], c["competed"], line))


# ---- figures and ratios ---------------------------------------------------------------


def fmt(x):
    if x >= 100:
        return "%.0f" % x
    if x >= 10:
        return "%.1f" % x
    return "%.3g" % x


def fmt_stat(vals, unit=""):
    """Median (min–max) of the values that are numbers; "—" if none."""
    vals = [v for v in vals if v == v]
    if not vals:
        return "—"
    med = statistics.median(vals)
    if len(vals) == 1 or max(vals) == min(vals):
        return fmt(med) + unit
    return "%s%s (%s–%s)" % (fmt(med), unit, fmt(min(vals)), fmt(max(vals)))


def peer_variant(peer, workload, variant):
    """The peer's program a corio row is set against: the same drain style
    if the peer has it, else the peer's own idiom (corio's stack modes and
    eager start compare with what the peers do by default)."""
    want = " ".join(w for w in variant.split() if w not in CORIO_ONLY)
    mine = variants(peer, workload)
    return want if want in mine else (mine[0] if mine else None)


def series(res, row, peer, pick):
    """{round: value} of one program for one metric; row = (workload, n,
    variant, kind), the variant being corio's (mapped to the peer's)."""
    workload, n, variant, kind = row
    if peer != "corio":
        variant = peer_variant(peer, workload, variant)
    return res.vals.get((workload, n, variant, peer, kind), {}).get(pick, {})


def ratios(res, row, peer, pick):
    """The peer's figure over corio's, within each round both ran."""
    c, p = series(res, row, "corio", pick), series(res, row, peer, pick)
    return [p[r] / c[r] for r in sorted(c) if r in p and c[r] > 0]


def best_ratios(res, row, peers, pick):
    """Round by round, the best (lowest) peer's figure over corio's; and the
    peer that was best in most rounds."""
    c = series(res, row, "corio", pick)
    out, best = [], []
    for r in sorted(c):
        there = {p: series(res, row, p, pick).get(r) for p in peers if p != "corio"}
        there = {p: v for p, v in there.items() if v is not None and v == v}
        if there and c[r] > 0:
            b = min(there, key=there.get)
            out.append(there[b] / c[r])
            best.append(b)
    return out, (max(sorted(set(best)), key=best.count) if best else None)


def fmt_ratio(rs, who=None):
    """Ratios as "median× (min–max)", and whose."""
    if not rs:
        return "—"
    out = "%.2f×" % statistics.median(rs)
    if max(rs) != min(rs):
        out += " (%.2f–%.2f)" % (min(rs), max(rs))
    return out + (" " + who if who else "")


def rows_of(res, workload, pick):
    """The rows of a table: (workload, n, variant, kind), by size, cold
    before warm, variants in corio's order."""
    order = {v: i for i, v in enumerate(CORIO_VARIANTS[workload])}
    keys = {(k[0], k[1], k[2], k[4]) for k, m in res.vals.items() if k[0] == workload and pick in m}
    return sorted(keys, key=lambda r: (r[1], r[3] != "cold", order.get(r[2], 99)))


def row_label(row):
    _, n, variant, kind = row
    return "%d%s%s" % (n, " " + variant if variant else "", ", warm (back to back)" if kind == "warm" else "")


# ---- the report -----------------------------------------------------------------------

# (workload, metric, title); the ratio table leaves out bytes per task (the
# same ratio as the peak RSS it is computed from).
TABLES = [
    ("spawn_gather", "ns", "spawn_gather: ns per task"),
    ("spawn_gather", "rss_mb", "spawn_gather: peak RSS, MB"),
    ("yield", "ns", "yield: ns per switch"),
    ("pingpong", "ns", "pingpong: ns per one-way hand-off"),
    ("timers", "arm", "timers: ns per arm"),
    ("timers", "cancel", "timers: ns per cancel"),
    ("wait_loop", "overhead", "wait_loop: overhead in seconds (wall − 1 s)"),
    ("sleepers", "wall", "sleepers: wall seconds (each task sleeps 1 s)"),
    ("sleepers", "rss_mb", "sleepers: peak RSS, MB"),
    ("sleepers", "bytes_per_task", "sleepers: peak RSS per task, bytes"),
]


def table(res, names, workload, pick, title, add, chart_rows):
    add("")
    add("## " + title)
    add("")
    add("| size | " + " | ".join(names) + " | best peer / corio |")
    add("|---|" + "---|" * (len(names) + 1))
    for row in rows_of(res, workload, pick):
        w, n, variant, kind = row
        runs = {p: res.vals.get((w, n, variant, p, kind), {}).get(pick, {}) for p in names}
        rs, who = best_ratios(res, row, names, pick)
        add("| %s | %s | %s |" % (row_label(row), " | ".join(fmt_stat(runs[p].values()) for p in names),
                                  fmt_ratio(rs, who)))
        if kind == "cold" and pick not in ("rss_mb", "bytes_per_task"):
            meds = {p: statistics.median(v.values()) for p, v in runs.items() if v}
            chart_rows.append(("%s %s %s" % (w, row_label(row), pick), meds))


def ratio_table(res, names, add):
    others = [p for p in names if p != "corio"]
    add("")
    add("## Ratios within a round: each peer's figure over corio's")
    add("")
    add("Above 1, corio is faster (or smaller). Each round's ratio is taken between runs a few "
        "seconds apart; the cell is their median (min–max). A corio mode the peers lack "
        "(`copy`, `eager`) is set against each peer's own program at that size.")
    add("")
    add("| workload | " + " | ".join(others) + " |")
    add("|---|" + "---|" * len(others))
    for workload, pick, title in TABLES:
        if pick == "bytes_per_task":
            continue
        for row in rows_of(res, workload, pick):
            if not series(res, row, "corio", pick):
                continue
            cells = [fmt_ratio(ratios(res, row, p, pick)) for p in others]
            add("| %s %s: %s | %s |" % (workload, row_label(row), title.split(": ", 1)[1], " | ".join(cells)))


def conditions_table(res, rounds, add):
    """Per workload and size, per round: the highest load average, and other
    processes' CPU and the steal over its runs; ⚑ where another process
    competed. Returns the number of flagged rounds."""
    add("")
    add("## What else ran: load, other processes, steal")
    add("")
    add("Each cell, for one round: the highest 1-minute load average at the end of one of its runs (it counts the "
        "benchmark's own threads, and lags); the CPU that other processes used during its runs (all "
        "CPUs' busy time in `/proc/stat` minus the programs' own), and the hypervisor's steal "
        "(`/proc/stat`), each in cores, averaged over the round's runs: *load / others / steal*. ⚑: another process "
        "competed — other processes used at least %.2f of a core, or steal took %.2f, over the round "
        "or over one of its runs of 0.2 s or more." % (COMPETED_CORES, STEAL_CORES))
    add("")
    add("| workload | " + " | ".join("round %d" % (r + 1) for r in range(rounds)) + " |")
    add("|---|" + "---|" * rounds)
    flagged = 0
    order = [w[0] for w in WORKLOADS]
    for g in sorted(res.conds, key=lambda g: (order.index(g[0]), g[1], g[2] != "cold")):
        cells = []
        for r in range(rounds):
            cs = res.conds[g].get(r, [])
            hit = bool(cs) and (competed(cs) or any(c["competed"] for c in cs))
            flagged += hit
            cells.append(condition_cell(cs, hit))
        add("| %s %d%s | %s |" % (g[0], g[1], ", warm" if g[2] == "warm" else "", " | ".join(cells)))
    return flagged


def condition_cell(cs, hit):
    if not cs:
        return "—"
    load = "%.2f" % max(c["load"] for c in cs)
    if sum(c["wall"] for c in cs) < 20.0 / HZ:  # too short for /proc/stat's ticks
        return load + " / – / –"
    return "%s / %.2f / %.2f%s" % (load, cores(cs, "others_s"), cores(cs, "steal_s"), " ⚑" if hit else "")


def failures(res, add):
    if not res.failures:
        return
    add("")
    add("## Failed runs (a wrong answer, a crash or a time-out)")
    add("")
    for (workload, n, variant, peer, kind), rnd, why in res.failures:
        add("- %s %s %d%s, %s round %d: %s" % (peer, workload, n, " " + variant if variant else "", kind,
                                               rnd + 1, why.replace("|", "\\|")))


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


def header(a, rounds, elapsed, add):
    add("# corio benchmarks")
    add("")
    add("Written by `make bench` (`bench/run.py`)%s on %s, in %.0f s. **Interleaved rounds**: a round runs "
        "every program of a workload and size once — corio in each of its modes and every peer — in an "
        "order rotated from round to round, so that no program runs right after itself (a process "
        "faults in memory the previous one just freed for less: back to back, the same binaries "
        "measured up to 3× faster). Each figure is the **median (min–max) over %d round(s)**; each "
        "ratio is taken within a round, then its median (min–max) over the rounds. Lower is better. "
        "Each program measures its own work (`secs=` in its check line) and exits non-zero when the "
        "line shows a wrong answer; peak RSS is the child's own (%s)."
        % (" with `QUICK=1`" if a.quick else "", datetime.date.today().isoformat(), elapsed, rounds,
           "`/usr/bin/time`" if TIME else "`wait4`"))
    if a.warm:
        add("")
        add("Rows marked *warm (back to back)* are the same programs run %d times in a row after one "
            "uncounted run: the warm state a single program's repeats see, for comparison only." % rounds)
    add("")
    add("| machine | |")
    add("|---|---|")
    for k, v in machine():
        add("| %s | %s |" % (k, v))


def include(add, *names):
    """Static sections kept beside the programs: how each peer does each
    workload, how to run them, the dated figures of earlier work (the
    design note keeps no measurements)."""
    for name in names:
        path = os.path.join(ROOT, "bench", name)
        if os.path.exists(path):
            add("")
            add(open(path).read().strip())


def write_report(res, peers, skipped, a, rounds, elapsed, echo_lines=()):
    names = list(peers)
    lines = []
    add = lines.append
    header(a, rounds, elapsed, add)
    if skipped:
        add("")
        add("Skipped here: " + "; ".join("%s (%s)" % (k, v.splitlines()[0] if v else "") for k, v in skipped.items()))
    failures(res, add)
    chart_rows = []
    for workload, pick, title in TABLES:
        if rows_of(res, workload, pick):
            table(res, names, workload, pick, title, add, chart_rows)
    ratio_table(res, names, add)
    targets(res, names, add)
    flagged = conditions_table(res, rounds, add)
    add("")
    add("%d round(s) flagged ⚑. Every run, with its conditions and check line: `bench-runs.tsv` in the "
        "build directory." % flagged)
    add("")
    lines += list(echo_lines)
    add("![corio and its peers](benchmarks.png)")
    include(add, "peers/README.md", "README.md", "history.md")
    os.makedirs(a.out, exist_ok=True)
    md = os.path.join(a.out, "benchmarks.md")
    with open(md, "w") as f:
        f.write("\n".join(lines).rstrip() + "\n")
    print("\n".join(lines[: lines.index("![corio and its peers](benchmarks.png)")]))
    chart(chart_rows, names, os.path.join(a.out, "benchmarks.png"))
    log("bench: wrote %s" % md)


# The targets of shared/spec/performance.md and issue 22, at the full sizes,
# in the default stack mode unless they name another: (workload, n, variant,
# metric, limit, what, against). against None: corio's median <= limit;
# against a peer ("best": the best peer of each round): corio's figure over
# the peer's, within each round, its median <= limit.
TARGETS = [
    ("spawn_gather", 1000000, "", "ns", 0.8, "ns per task", "best"),
    ("spawn_gather", 1000000, "", "rss_mb", 1.0, "memory per task", "tokio-ct"),
    ("spawn_gather", 1000000, "eager", "ns", 50, "ns per task", None),
    ("yield", 1000000, "", "ns", 15, "ns per switch", None),
    ("pingpong", 1000000, "", "ns", 25, "ns per hand-off", None),
    ("timers", 1000, "", "arm", 25, "ns per arm", None),
    ("timers", 1000000, "", "arm", 25, "ns per arm", None),
    ("timers", 1000, "", "cancel", 15, "ns per cancel", None),
    ("timers", 1000000, "", "cancel", 15, "ns per cancel", None),
    ("wait_loop", 100000, "", "overhead", 1.0, "overhead", "tokio-ct"),
    ("sleepers", 1000000, "", "wall", 0.8, "wall", "tokio-ct"),
    ("sleepers", 1000000, "", "bytes_per_task", 4500, "bytes per task", None),
    ("sleepers", 1000000, "copy", "bytes_per_task", 400, "bytes per task", None),
    ("sleepers", 1000000, "copy", "wall", 1.3, "s wall", None),
]


def verdict(m, limit):
    if m <= limit:
        return "yes"
    r = m / limit  # a near miss keeps a third decimal: "1.00×" would read as met
    return ("no: %.3f× the target" if r < 1.01 else "no: %.2f× the target") % r


def inverse(rs):
    return [1 / r for r in rs if r > 0]


def target_row(res, names, t):
    """One target: (target, corio, corio / peer in each round, met?) or None."""
    workload, n, variant, pick, limit, what, against = t
    row = (workload, n, variant, "cold")
    c = series(res, row, "corio", pick)
    if not c:
        return None
    if against in (None, "best"):
        rs, who = best_ratios(res, row, names, pick)
        who = "best peer (%s)" % who
    else:
        rs, who = ratios(res, row, against, pick), against
    vs = "corio / %s: %s" % (who, fmt_ratio(inverse(rs))) if rs else "—"
    if against is None:
        goal, m = "≤ %g %s" % (limit, what), statistics.median(c.values())
    else:
        goal = "%s ≤ %g× %s's" % (what, limit, "the best peer" if against == "best" else against)
        m = statistics.median(inverse(rs)) if rs else float("nan")
    label = "%s %d%s" % (workload, n, " " + variant if variant else "")
    return label, goal, fmt_stat(c.values()), vs, verdict(m, limit) if m == m else "—"


def linear_rows(res):
    """wait_loop per drain style: 10 000 -> 100 000 tasks costs <= 12x the
    overhead, and under 0.1 s at 100 000 (performance.md)."""
    out = []
    for variant in CORIO_VARIANTS["wait_loop"]:
        a = series(res, ("wait_loop", 10000, variant, "cold"), "corio", "overhead")
        b = series(res, ("wait_loop", 100000, variant, "cold"), "corio", "overhead")
        name = "wait_loop%s" % (" " + variant if variant else "")
        grow = [b[r] / a[r] for r in b if r in a and a[r] > 0 and b[r] > 0]
        if grow:
            out.append((name + " 10000 → 100000", "≤ 12× the overhead", fmt_stat(grow, "×"), "—",
                        verdict(statistics.median(grow), 12)))
        if b:
            out.append((name + " 100000", "≤ 0.1 s overhead", fmt_stat(b.values(), " s"), "—",
                        verdict(statistics.median(b.values()), 0.1)))
    return out


def targets(res, names, add):
    """Each target, met or not. Only at the full sizes: QUICK=1 skips it."""
    rows = [r for r in (target_row(res, names, t) for t in TARGETS) if r] + linear_rows(res)
    if not rows:
        return
    add("")
    add("## Targets (shared/spec/performance.md, issue 22), this run")
    add("")
    add("Corio's figure is its median (min–max) over the rounds; *corio / peer* is taken within each "
        "round (below 1, corio is ahead), and a target set against a peer is met when its median is.")
    add("")
    add("| workload | target | corio | corio / peer, within a round | met? |")
    add("|---|---|---|---|---|")
    for r in rows:
        add("| %s |" % " | ".join(r))


def chart(rows, names, png):
    if not have("gnuplot"):
        log("bench: no gnuplot: chart skipped")
        return
    ok = charts.bars(png, "corio and its peers: time per operation (log scale, lower is better)",
                     "ns per op, or seconds (wait_loop overhead, sleepers wall)", names, rows, rotate=True)
    log("bench: %s %s" % ("wrote" if ok else "could not write", png))


# ---- main -----------------------------------------------------------------------------


def echo_section(a):
    """The echo sweep (bench/echo.py, rotated rounds of its own): its lines."""
    import echo
    res, names, configs, _ = echo.sweep(a.build, quick=a.quick)
    lines = echo.report(res, names, configs)
    os.makedirs(a.out, exist_ok=True)
    echo.chart_from_results(res, names, configs, os.path.join(a.out, "benchmarks-echo.png"))
    n, idle = echo.idle_sweep(a.build, quick=a.quick)
    return lines + echo.idle_report(n, idle)


def fetch_section(a):
    """fetch_many (bench/fetch.py: libcurl in tasks, aiohttp, Go, Node against nginx): its lines."""
    import fetch
    res, names, n, c, skipped = fetch.sweep(a.build, quick=a.quick)
    return fetch.report(res, names, n, c, skipped)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    ap.add_argument("--quick", action="store_true", default=os.environ.get("QUICK") == "1")
    ap.add_argument("--rounds", type=int, default=None, help="interleaved rounds (3; 1 with --quick)")
    ap.add_argument("--warm", action="store_true", help="also run each program back to back, reported apart")
    ap.add_argument("--only", default="", help="peers to run, comma-separated (corio included if named)")
    ap.add_argument("--no-echo", action="store_true", help="leave out the echo sweep")
    ap.add_argument("--no-fetch", action="store_true", help="leave out fetch_many")
    ap.add_argument("--out", default=None)
    a = ap.parse_args()
    if a.out is None:
        a.out = os.path.join(a.build, "bench-quick") if a.quick else os.path.join(ROOT, "docs")
    a.runs_file = os.path.join(ROOT, a.build, "bench-runs.tsv")
    rounds = a.rounds or (1 if a.quick else 3)
    t_start = time.time()
    peers, skipped = build_peers(a.build)
    if a.only:
        peers = {k: v for k, v in peers.items() if k in a.only.split(",")}
    for name, why in skipped.items():
        log("bench: %s skipped: %s" % (name, why))
    log("bench: peers built in %.0f s; %d round(s)" % (time.time() - t_start, rounds))
    res = run_all(peers, a.quick, rounds, a.warm)
    write_runs(res, a.runs_file)
    echo_lines = []
    if not a.no_echo and (not a.only or any(k in a.only.split(",") for k in ("corio", "echo"))):
        echo_lines = echo_section(a)
    if not a.no_fetch and (not a.only or "corio" in a.only.split(",")):
        echo_lines = list(echo_lines) + fetch_section(a)
    write_report(res, peers, skipped, a, rounds, time.time() - t_start, echo_lines)
    wrong = [f for f in res.failures if f[0][3] == "corio"]
    for f in wrong:
        log("bench: corio failed: %s %d %s: %s" % (f[0][0], f[0][1], f[0][2], f[2]))
    return 1 if wrong else 0


if __name__ == "__main__":
    sys.exit(main())
