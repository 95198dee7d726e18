"""The `echo` workload of shared/spec/performance.md: every echo server
(corio in each stack mode and on each backend, the peers' natural servers,
and the floors: a plain C epoll server and a plain liburing one) driven by one C load generator (bench/echo_load.c),
over sweeps of 1 / 100 / 1 000 connections x 64 B / 4 KiB messages, plus a
streaming mode (16 messages in flight per connection). The server is
pinned to one core, the generator to the other. Reported: round trips per
second and the server's CPU time per round trip (utime + stime from
/proc/PID/stat over the measured window); a run whose server was under 90%
busy is marked client-bound.

Rounds are interleaved: each round runs every server once per
configuration, in an order rotated so no server runs right after itself.

Used by bench/run.py; also on its own:
    python3 bench/echo.py [--build build] [--quick] [--secs 2] [--rounds 3]
"""
import argparse
import os
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import time

import chart as charts

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PEERS = os.path.join(ROOT, "bench", "peers")

CONFIGS_FULL = [(1, 64, 1), (100, 64, 1), (1000, 64, 1), (1, 4096, 1), (100, 4096, 1),
                (1000, 4096, 1), (100, 64, 16)]
CONFIGS_QUICK = [(1, 64, 1), (100, 64, 1), (100, 64, 16)]


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def servers(build, quick=False):
    """name -> command taking the port as {port}; and the skipped ones.
    quick: corio on io_uring, but not its floor (a smoke test's time)."""
    out = os.path.join(ROOT, build, "peers")
    os.makedirs(out, exist_ok=True)
    bench = os.path.join(ROOT, build, "bench")
    srv = {
        "corio": [os.path.join(bench, "echo_server"), "{port}", "epoll", "own"],
        "corio-copy": [os.path.join(bench, "echo_server"), "{port}", "epoll", "copy"],
        "floor": [os.path.join(bench, "echo_floor"), "{port}"],
    }
    skipped = {}
    if os.path.exists(os.path.join(bench, "echo_floor_uring")):
        srv["corio-uring"] = [os.path.join(bench, "echo_server"), "{port}", "io_uring", "own"]
        if not quick:
            srv["floor-uring"] = [os.path.join(bench, "echo_floor_uring"), "{port}"]
    else:
        skipped["io_uring"] = "corio built without liburing-dev (make deps installs it)"

    cc = shutil.which("cc") or shutil.which("gcc")
    if cc and subprocess.run(["pkg-config", "--exists", "libuv"]).returncode == 0:
        exe = os.path.join(out, "libuv_echo")
        r = subprocess.run([cc, "-O2", "-o", exe, os.path.join(PEERS, "libuv_echo.c"), "-luv"],
                           capture_output=True, text=True)
        if r.returncode == 0:
            srv["libuv"] = [exe, "{port}"]
        else:
            skipped["libuv"] = "build failed: " + r.stderr[-200:]
    else:
        skipped["libuv"] = "no libuv1-dev"
    exe = os.path.join(out, "cargo", "release", "tokio_echo")
    if shutil.which("cargo") and os.path.isdir("/usr/share/cargo/registry"):
        r = subprocess.run(["cargo", "build", "--release", "--offline", "-q"], cwd=os.path.join(PEERS, "tokio"),
                           capture_output=True, text=True,
                           env=dict(os.environ, CARGO_TARGET_DIR=os.path.join(out, "cargo")))
        if r.returncode == 0:
            srv["tokio-ct"] = [exe, "{port}", "ct"]
        else:
            skipped["tokio"] = "cargo build failed: " + r.stderr[-300:]
    else:
        skipped["tokio"] = "no cargo or no librust-tokio-dev"
    if shutil.which("go"):
        exe = os.path.join(out, "goecho")
        r = subprocess.run(["go", "build", "-o", exe, "."], cwd=os.path.join(PEERS, "goecho"), capture_output=True,
                           text=True, env=dict(os.environ, GOFLAGS="-mod=mod", GO111MODULE="on",
                                               GOCACHE=os.path.join(out, "gocache"),
                                               GOPATH=os.path.join(out, "gopath")))
        if r.returncode == 0:
            srv["go"] = [exe, "{port}"]
        else:
            skipped["go"] = "go build failed: " + r.stderr[-200:]
    else:
        skipped["go"] = "no go toolchain (golang-go)"
    if shutil.which("node"):
        srv["node"] = ["node", os.path.join(PEERS, "node_echo.js"), "{port}"]
    else:
        skipped["node"] = "no node (nodejs)"
    py = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else shutil.which("python3")
    srv["asyncio-streams"] = [py, os.path.join(PEERS, "asyncio_echo.py"), "{port}", "streams"]
    srv["asyncio-protocol"] = [py, os.path.join(PEERS, "asyncio_echo.py"), "{port}", "protocol"]
    if subprocess.run([py, "-c", "import uvloop"], capture_output=True).returncode == 0:
        srv["uvloop"] = [py, os.path.join(PEERS, "asyncio_echo.py"), "{port}", "protocol", "--uvloop"]
    else:
        skipped["uvloop"] = "python3-uvloop is not installed"
    return srv, skipped


def taskset(core):
    return ["taskset", "-c", str(core)] if shutil.which("taskset") and os.cpu_count() >= 2 else []


def raise_nofile():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def start_server(argv):
    """The server, with as many descriptors as allowed (1 000 connections
    and echo_idle's 10 000 need more than the usual 1 024)."""
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=raise_nofile)


def drive(build, cmd, tool, args, timeout):
    """Start the server, run bench/TOOL with args(port, pid) against it, stop
    the server: the tool's key=value fields as floats, or None and why."""
    port = free_port()
    p = start_server(taskset(0) + [c.replace("{port}", str(port)) for c in cmd])
    try:
        line = p.stdout.readline()  # "listening"
        if "listening" not in line:
            return None, "did not start: " + (p.stderr.read() or line)[-200:]
        r = subprocess.run(taskset(1) + [os.path.join(ROOT, build, "bench", tool)] + [str(a) for a in args(port, p.pid)],
                           capture_output=True, text=True, timeout=timeout, preexec_fn=raise_nofile)
        if r.returncode != 0:
            return None, (r.stderr or r.stdout)[-200:]
        return {k: float(v) for k, v in (kv.split("=", 1) for kv in r.stdout.split() if "=" in kv)}, None
    finally:
        p.terminate()
        try:
            p.wait(timeout=5)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def run_idle(build, cmd, n):
    """echo_idle: the server's memory per idle connection, or None."""
    return drive(build, cmd, "echo_idle", lambda port, pid: [n, pid, port], 300)


def idle_sweep(build, quick=False, only=None):
    srv, _ = servers(build, quick)
    if quick:  # the smoke test measures the default server's memory only
        srv = {k: v for k, v in srv.items() if not k.endswith("-uring")}
    if only:
        srv = {k: v for k, v in srv.items() if k in only}
    n = 500 if quick else 10000
    out = {}
    for name, cmd in srv.items():
        f, err = run_idle(build, cmd, n)
        if f is None:
            log("echo_idle: %s: %s" % (name, err))
            continue
        out[name] = f
        log("echo_idle: %-16s %d connections: %.0f bytes each" % (name, n, f["bytes_per_conn"]))
    return n, out


def idle_report(n, out):
    lines = ["## echo_idle (%d idle connections, then one byte each)" % n, "",
             "The server's resident memory per connection (after minus before, over N; kernel socket "
             "buffers aside).", "", "| server | bytes per connection |", "|---|---|"]
    for name, f in out.items():
        lines.append("| %s | %.0f |" % (name, f["bytes_per_conn"]))
    lines.append("")
    if "corio" in out:
        b = out["corio"]["bytes_per_conn"]
        lines.append("Target (performance.md): at most 4.5 KB per idle connection in the default stack "
                     "mode: corio %.0f B (%s)." % (b, "met" if b <= 4500 else "not met"))
        lines.append("")
    return lines


def run_one(build, cmd, conns, size, depth, secs):
    """One server, one configuration: the generator's fields, or None."""
    return drive(build, cmd, "echo_load", lambda port, pid: [port, conns, size, secs, depth, pid], secs + 60)


def sweep(build, quick=False, secs=None, rounds=None, only=None):
    """results: (server, conns, size, depth) -> list of field dicts."""
    srv, skipped = servers(build, quick)
    if only:
        srv = {k: v for k, v in srv.items() if k in only}
    for name, why in skipped.items():
        log("echo: %s skipped: %s" % (name, why))
    configs = CONFIGS_QUICK if quick else CONFIGS_FULL
    secs = secs or (0.5 if quick else 2.0)
    rounds = rounds or (1 if quick else 3)
    names = list(srv)
    results = {}
    for rnd in range(rounds):
        for ci, (conns, size, depth) in enumerate(configs):
            k = (rnd * len(configs) + ci) % len(names)
            order = names[k:] + names[:k]  # rotated: nobody runs right after itself
            for name in order:
                f, err = run_one(build, srv[name], conns, size, depth, secs)
                if f is None:
                    log("echo: %s %d x %d B depth %d: %s" % (name, conns, size, depth, err))
                    continue
                results.setdefault((name, conns, size, depth), []).append(f)
                log("echo: %-16s %4d conns %5d B depth %2d: %8.0f rt/s, server %.2f us/rt (busy %.2f)"
                    % (name, conns, size, depth, f["rt_per_s"], f["server_us_per_rt"], f["server_busy"]))
    return results, names, configs, skipped


def med(vals):
    vals = [v for v in vals if v == v and v >= 0]
    return statistics.median(vals) if vals else float("nan")


def report(results, names, configs):
    """Markdown lines: the two tables and the targets of performance.md."""
    lines = ["## echo (TCP on 127.0.0.1, one load generator)", "",
             "Server CPU time per round trip (median of the rounds; lower is better) and, below it, "
             "round trips per second. `*`: the server was under 90% busy (client-bound).", "",
             "![echo: server CPU per round trip](benchmarks-echo.png)", ""]
    head = "| server | " + " | ".join("%d × %d B%s" % (c, s, " ×%d" % d if d > 1 else "") for c, s, d in configs) + " |"
    lines += [head, "|---|" + "---|" * len(configs)]
    for n in names:
        row = []
        for c, s, d in configs:
            fs = results.get((n, c, s, d), [])
            if not fs:
                row.append("—")
                continue
            us = med([f["server_us_per_rt"] for f in fs])
            busy = med([f["server_busy"] for f in fs])
            row.append("%.2f µs%s" % (us, "*" if busy < 0.9 else ""))
        lines.append("| %s | %s |" % (n, " | ".join(row)))
    lines += ["", head, "|---|" + "---|" * len(configs)]
    for n in names:
        row = []
        for c, s, d in configs:
            fs = results.get((n, c, s, d), [])
            row.append("%.0f k" % (med([f["rt_per_s"] for f in fs]) / 1000) if fs else "—")
        lines.append("| %s | %s |" % (n, " | ".join(row)))
    lines.append("")
    key = (100, 64, 1)
    if key in configs:
        def us(n):
            return med([f["server_us_per_rt"] for f in results.get((n,) + key, [])])
        c, fl = us("corio"), us("floor")
        lines.append("Targets (performance.md, 100 connections × 64 B, epoll):")
        lines.append("")
        if c == c and fl == fl:
            lines.append("- server CPU per round trip within 1.05× of the C epoll floor: corio %.2f µs, "
                         "floor %.2f µs: **%.3f×** (%s)" % (c, fl, c / fl, "met" if c <= 1.05 * fl else "not met"))
        for peer in ("libuv", "tokio-ct"):
            p = us(peer)
            if p == p and c == c:
                lines.append("- below %s: %.2f µs against %.2f µs: %.3f× (%s)"
                             % (peer, c, p, c / p, "met" if c < p else "not met"))
        ours = ("corio", "corio-copy", "corio-uring", "floor", "floor-uring")
        rts = {n: med([f["rt_per_s"] for f in results.get((n,) + key, [])]) for n in names}
        best = max((v, n) for n, v in rts.items() if n not in ours and v == v) \
            if any(v == v for n, v in rts.items() if n not in ours) else None
        if best and rts.get("corio") == rts.get("corio"):
            lines.append("- round trips per second ahead of every peer: corio %.0f k, best peer %s %.0f k (%s)"
                         % (rts["corio"] / 1000, best[1], best[0] / 1000,
                            "met" if rts["corio"] > best[0] else "not met"))
        lines.append("")
    lines += uring_targets(results, configs)
    return lines


def uring_targets(results, configs):
    """io_uring against epoll (performance.md via issue 19): at 1 000
    connections ≤ 0.75× the epoll floor's CPU per round trip; at 1
    connection never worse than corio on epoll; every configuration listed."""
    def us(n, key):
        return med([f["server_us_per_rt"] for f in results.get((n,) + key, [])])
    if not any(n == "corio-uring" for (n, *_k) in results):
        return []
    lines = ["io_uring against epoll (server CPU per round trip, medians; ratios within the same runs):", "",
             "| configuration | corio io_uring | corio epoll | epoll floor | io_uring floor | "
             "io_uring / epoll corio | io_uring / epoll floor |", "|---|---|---|---|---|---|---|"]
    for key in configs:
        u, e, f, fu = us("corio-uring", key), us("corio", key), us("floor", key), us("floor-uring", key)
        lines.append("| %d × %d B%s | %.2f µs | %.2f µs | %.2f µs | %.2f µs | %.3f× | %.3f× |"
                     % (key[0], key[1], " ×%d" % key[2] if key[2] > 1 else "", u, e, f, fu, u / e, u / f))
    lines.append("")
    k1000, k1 = (1000, 64, 1), (1, 64, 1)
    if k1000 in configs:
        u, f = us("corio-uring", k1000), us("floor", k1000)
        lines.append("- 1 000 connections × 64 B: corio on io_uring ≤ 0.75× the epoll floor: %.2f µs against "
                     "%.2f µs: **%.3f×** (%s)" % (u, f, u / f, "met" if u <= 0.75 * f else "not met"))
    if k1 in configs:
        u, e = us("corio-uring", k1), us("corio", k1)
        lines.append("- 1 connection × 64 B: io_uring never worse than epoll: %.2f µs against %.2f µs: "
                     "**%.3f×** (%s)" % (u, e, u / e, "met" if u <= e else "not met"))
    lines.append("")
    return lines


def chart(table, configs, png):
    """Server CPU per round trip: a cluster per configuration, a bar per
    server. table: name -> {configuration label: µs}."""
    rows = [(c, {n: table[n].get(c, 0) for n in table}) for c in configs]
    ok = charts.bars(png, "echo: server CPU time per round trip, µs (lower is better; connections x message size)",
                     "server CPU µs per round trip", list(table), rows, size="1400,600")
    log("echo: %s %s" % ("wrote" if ok else "could not write (no gnuplot?)", png))


def label(c, s, d):
    return "%d x %d B%s" % (c, s, " x%d" % d if d > 1 else "")


def chart_from_results(results, names, configs, png):
    table = {n: {label(*k): med([f["server_us_per_rt"] for f in results.get((n,) + k, [])])
                 for k in configs} for n in names}
    chart(table, [label(*k) for k in configs], png)


def chart_from_report(md, png):
    """The chart from the first echo table of a written report."""
    lines = open(md).read().split("## echo (TCP", 1)[1].splitlines()
    rows = [l for l in lines if l.startswith("| ")]
    head = [h.strip().replace("×", "x") for h in rows[0].strip("|").split("|")][1:]
    table = {}
    for l in rows[1:]:
        cells = [c.strip() for c in l.strip("|").split("|")]
        if cells[0] == "server":
            break
        table[cells[0]] = {h: float(v.split()[0]) for h, v in zip(head, cells[1:]) if v[0].isdigit()}
    chart(table, head, png)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--secs", type=float, default=None)
    ap.add_argument("--rounds", type=int, default=None)
    ap.add_argument("--only", default="")
    ap.add_argument("--chart-from", nargs=2, metavar=("REPORT", "PNG"),
                    help="only draw the chart from a written report's echo table")
    a = ap.parse_args()
    if a.chart_from:
        chart_from_report(*a.chart_from)
        return
    only = a.only.split(",") if a.only else None
    res, names, configs, _ = sweep(a.build, a.quick, a.secs, a.rounds, only)
    n, idle = idle_sweep(a.build, a.quick, only)
    print("\n".join(report(res, names, configs) + idle_report(n, idle)))


if __name__ == "__main__":
    main()
