"""The `fetch_many` workload of shared/spec/performance.md: a client fetches
N small HTTP responses (URL/0 .. URL/N-1) from a local server with C
requests in flight, keeps them in input order and checks every body. The
server is nginx (Debian's), started here on a loopback port with a config
in a temporary directory: one worker on core 0, answering each GET with
its own path from memory (`return 200 $uri`), keep-alive without a
request limit; the clients run on core 1, one at a time:

  corio        libcurl inside corio tasks (bench/fetch_many.c; epoll)
  corio-uring  the same on the io_uring backend
  aiohttp      Debian's python3-aiohttp, one ClientSession (peers/aiohttp_fetch.py)
  go           net/http, the Transport keeping C idle connections (peers/gofetch)
  node         Node's built-in fetch (undici; peers/node_fetch.js)

Each client measures itself: secs= (wall time of the fetching) and cpu=
(its user+system CPU over it, getrusage). Reported: requests per second,
client CPU per request, nginx's worker CPU over the run (its share of the
wall time: under 0.9 the server was not the limit), and ratios within a
round against aiohttp and Go. Rounds are interleaved and rotated as in
run.py.

Used by bench/run.py; also on its own:
    python3 bench/fetch.py [--build build] [--quick] [--rounds 3] [--only corio,go]
"""
import argparse
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PEERS = os.path.join(ROOT, "bench", "peers")
N_FULL, N_QUICK, INFLIGHT = 10000, 1000, 100


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def taskset(core):
    return ["taskset", "-c", str(core)] if shutil.which("taskset") and os.cpu_count() >= 2 else []


# ---- the server ------------------------------------------------------------------

NGINX_CONF = """worker_processes 1;
daemon off;
pid {d}/nginx.pid;
error_log {d}/error.log;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  client_body_temp_path {d}; proxy_temp_path {d}; fastcgi_temp_path {d};
  uwsgi_temp_path {d}; scgi_temp_path {d};
  keepalive_requests 1000000;
  keepalive_timeout 60s;
  default_type text/plain;
  server {{
    listen 127.0.0.1:{port} backlog=4096;
    location /item/ {{ return 200 $uri; }}
  }}
}}
"""


def nginx_bin():
    for p in ("/usr/sbin/nginx", "/usr/bin/nginx"):
        if os.access(p, os.X_OK):
            return p
    return shutil.which("nginx")


class Nginx:
    """nginx on a free loopback port, its worker pinned to core 0."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="corio-fetch-")
        self.port = free_port()
        conf = os.path.join(self.dir, "nginx.conf")
        with open(conf, "w") as f:
            f.write(NGINX_CONF.format(d=self.dir, port=self.port))
        self.proc = subprocess.Popen(taskset(0) + [nginx_bin(), "-p", self.dir, "-c", conf, "-e", "stderr"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self.url = "http://127.0.0.1:%d/item" % self.port
        for _ in range(500):
            try:
                with urllib.request.urlopen(self.url + "/0", timeout=1) as r:
                    if r.read() == b"/item/0":
                        break
            except OSError:
                time.sleep(0.01)
        else:
            self.stop()
            raise RuntimeError("nginx did not answer: " + self.proc.stderr.read().decode()[-300:])
        self.workers = self.find_workers()

    def find_workers(self):
        out = []
        for pid in os.listdir("/proc"):
            try:
                with open("/proc/%s/stat" % pid) as f:
                    st = f.read().rsplit(")", 1)[1].split()
                if int(st[1]) == self.proc.pid:
                    out.append(int(pid))
            except (OSError, ValueError, IndexError):
                pass
        return out

    def cpu(self):
        """The workers' user+system CPU seconds so far."""
        t = 0
        for pid in self.workers:
            try:
                with open("/proc/%d/stat" % pid) as f:
                    st = f.read().rsplit(")", 1)[1].split()
                t += int(st[11]) + int(st[12])
            except (OSError, ValueError, IndexError):
                pass
        return t / os.sysconf("SC_CLK_TCK")

    def stop(self):
        self.proc.send_signal(signal.SIGQUIT)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


# ---- the clients -------------------------------------------------------------------


def clients(build):
    """name -> argv prefix (then N C URL); and the skipped ones with why."""
    out = os.path.join(ROOT, build, "peers")
    os.makedirs(out, exist_ok=True)
    exe = os.path.join(ROOT, build, "bench", "fetch_many")
    cl, skipped = {}, {}
    if os.path.exists(exe):
        cl["corio"] = [exe, "{n}", "{c}", "{url}", "epoll"]
        cl["corio-uring"] = [exe, "{n}", "{c}", "{url}", "io_uring"]
    else:
        skipped["corio"] = "bench/fetch_many not built (libcurl4-openssl-dev missing?)"
    py = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else shutil.which("python3")
    if subprocess.run([py, "-c", "import aiohttp"], capture_output=True).returncode == 0:
        cl["aiohttp"] = [py, os.path.join(PEERS, "aiohttp_fetch.py"), "{n}", "{c}", "{url}"]
    else:
        skipped["aiohttp"] = "python3-aiohttp is not installed"
    if shutil.which("go"):
        gexe = os.path.join(out, "gofetch")
        r = subprocess.run(["go", "build", "-o", gexe, "."], cwd=os.path.join(PEERS, "gofetch"),
                           capture_output=True, text=True,
                           env=dict(os.environ, GOFLAGS="-mod=mod", GO111MODULE="on",
                                    GOCACHE=os.path.join(out, "gocache"), GOPATH=os.path.join(out, "gopath")))
        if r.returncode == 0:
            cl["go"] = [gexe, "{n}", "{c}", "{url}"]
        else:
            skipped["go"] = "go build failed: " + r.stderr[-200:]
    else:
        skipped["go"] = "no go toolchain (golang-go)"
    if shutil.which("node"):
        cl["node"] = ["node", os.path.join(PEERS, "node_fetch.js"), "{n}", "{c}", "{url}"]
    else:
        skipped["node"] = "no node (nodejs)"
    return cl, skipped


def run_client(srv, argv, n, c):
    """One run: {rps, cpu_us, server_busy} or None, and its check line."""
    cmd = taskset(1) + [a.format(n=n, c=c, url=srv.url) for a in argv]
    s0, t0 = srv.cpu(), time.perf_counter()
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    except subprocess.TimeoutExpired:
        return None, "timed out"
    wall = time.perf_counter() - t0
    line = p.stdout.strip().splitlines()[-1] if p.stdout.strip() else ""
    if p.returncode != 0 or "secs=" not in line:
        return None, ("exit %d: %s %s" % (p.returncode, line, p.stderr.strip()))[-300:]
    f = dict(kv.split("=", 1) for kv in line.split() if "=" in kv)
    secs, cpu = float(f["secs"]), float(f["cpu"])
    # nginx's CPU over the whole process run (start-up included): an upper
    # bound on its share of the fetching's wall time.
    busy = (srv.cpu() - s0) / secs if secs > 0 else float("nan")
    return {"rps": n / secs, "cpu_us": cpu / n * 1e6, "server": min(busy, wall / secs)}, line


def sweep(build, quick=False, rounds=None, only=None):
    """{name: {round: figures}}, the names in order, N, C, and the skipped."""
    n = N_QUICK if quick else N_FULL
    rounds = rounds or (1 if quick else 3)
    cl, skipped = clients(build)
    if only:
        cl = {k: v for k, v in cl.items() if k in only}
    res = {k: {} for k in cl}
    if not nginx_bin():
        skipped["all"] = "no nginx (Debian package nginx)"
        return res, list(cl), n, INFLIGHT, skipped
    srv = Nginx()
    try:
        names = list(cl)
        for r in range(rounds):
            k = r % len(names) if len(names) > 2 else 0
            for name in names[k:] + names[:k]:
                f, line = run_client(srv, cl[name], n, INFLIGHT)
                log("  r%d %-12s fetch_many %6d x %d  %s" % (r + 1, name, n, INFLIGHT, line if f else "FAILED: " + line))
                if f:
                    res[name][r] = f
    finally:
        srv.stop()
    return res, list(cl), n, INFLIGHT, skipped


def med(vals):
    vals = [v for v in vals if v == v]
    if not vals:
        return "—"
    m = statistics.median(vals)
    s = "%.0f" % m if m >= 100 else "%.3g" % m
    if len(vals) > 1 and max(vals) != min(vals):
        fm = (lambda x: "%.0f" % x) if m >= 100 else (lambda x: "%.3g" % x)
        s += " (%s–%s)" % (fm(min(vals)), fm(max(vals)))
    return s


def ratio(res, a, b, key, inverse=False):
    """a's figure over b's within each round (b's over a's if inverse)."""
    rs = []
    for r in res.get(a, {}):
        if r in res.get(b, {}):
            x, y = res[a][r][key], res[b][r][key]
            rs.append(y / x if inverse else x / y)
    if not rs:
        return "—"
    s = "%.2f×" % statistics.median(rs)
    if len(rs) > 1 and max(rs) != min(rs):
        s += " (%.2f–%.2f)" % (min(rs), max(rs))
    return s


def report(res, names, n, c, skipped):
    lines = ["", "## fetch_many: %d small HTTP responses, %d in flight" % (n, c), "",
             "The client fetches URL/0 .. URL/%d from nginx (one worker on core 0, `return 200 $uri`, "
             "keep-alive) on loopback, on core 1, and checks every body in input order "
             "(`bench/fetch.py`). *req/s*: N over the client's own wall time of the fetching; *CPU "
             "µs/req*: the client process's user+system CPU over it (getrusage) per request; *nginx "
             "busy*: its worker's CPU over that wall time (below 1, the server was not the limit). "
             "Median (min–max) over the rounds; ratios within a round." % (n - 1), ""]
    if skipped:
        lines += ["Skipped: " + "; ".join("%s (%s)" % (k, v) for k, v in skipped.items()), ""]
    lines += ["| client | req/s | CPU µs/req | nginx busy | req/s vs aiohttp | req/s vs Go | "
              "CPU/req: aiohttp's / this | CPU/req: Go's / this |",
              "|---|---|---|---|---|---|---|---|"]
    for name in names:
        rows = res.get(name, {}).values()
        if not rows:
            lines.append("| %s | failed | | | | | | |" % name)
            continue
        lines.append("| %s | %s | %s | %s | %s | %s | %s | %s |" % (
            name, med([x["rps"] for x in rows]), med([x["cpu_us"] for x in rows]),
            med([x["server"] for x in rows]),
            ratio(res, name, "aiohttp", "rps"), ratio(res, name, "go", "rps"),
            ratio(res, name, "aiohttp", "cpu_us", inverse=True), ratio(res, name, "go", "cpu_us", inverse=True)))
    lines += ["", "Target (performance.md): corio ≥ 5× aiohttp's req/s and ≥ Go's, CPU per request below both."]
    return lines


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    ap.add_argument("--quick", action="store_true", default=os.environ.get("QUICK") == "1")
    ap.add_argument("--rounds", type=int, default=None)
    ap.add_argument("--only", default="", help="clients, comma-separated")
    a = ap.parse_args()
    res, names, n, c, skipped = sweep(a.build, a.quick, a.rounds, a.only.split(",") if a.only else None)
    print("\n".join(report(res, names, n, c, skipped)))
    corio_failed = any(k.startswith("corio") and not v for k, v in res.items())
    return 1 if corio_failed else 0


if __name__ == "__main__":
    sys.exit(main())
