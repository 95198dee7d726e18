#!/usr/bin/env python3
"""cold_rounds.py: run programs cold, in rotated rounds, and print medians.

    cold_rounds.py [-r ROUNDS] [--scrub MB] NAME=CMD ... 

Each round runs every NAME once, in an order rotated from round to round,
so that no program follows itself (a process that reuses memory its
predecessor just freed faults it in far more cheaply: see
shared/spec/performance.md). --scrub MB runs a process that touches MB of
fresh memory between any two programs. For each program: the median and
min-max over rounds of the `secs=` of its check line, its wall, user and
system time, peak RSS and minor page faults (from /usr/bin/time), and the
load average when it started. A measurement aid for the default stack
mode's cold cost; make bench's report is bench/run.py's."""
import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile

FMT = "%e %U %S %M %R"


def scrub(mb):
    # touch mb MiB of fresh memory, then exit (frees it)
    n = mb << 20
    code = "b = bytearray(%d)\nfor i in range(0, %d, 4096): b[i] = 1\n" % (n, n)
    subprocess.run([sys.executable, "-c", code], check=True)


def run(cmd):
    with tempfile.NamedTemporaryFile("r") as tf:
        load = os.getloadavg()[0]
        p = subprocess.run(["/usr/bin/time", "-o", tf.name, "-f", FMT] + cmd,
                           capture_output=True, text=True)
        if p.returncode != 0:
            sys.exit("cold_rounds: %s failed (%d): %s" % (" ".join(cmd), p.returncode, p.stderr[-400:]))
        wall, user, sys_, rss, minflt = tf.read().split()[-5:]
    m = re.search(r"secs=([0-9.]+)", p.stdout)
    return {"secs": float(m.group(1)) if m else float("nan"), "wall": float(wall), "user": float(user),
            "sys": float(sys_), "rss_mb": int(rss) / 1024, "minflt": int(minflt), "load": load,
            "line": p.stdout.strip().splitlines()[-1]}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("-r", "--rounds", type=int, default=5)
    ap.add_argument("--scrub", type=int, default=0)
    ap.add_argument("progs", nargs="+")
    a = ap.parse_args()
    progs = [p.split("=", 1) for p in a.progs]
    res = {name: [] for name, _ in progs}
    for r in range(a.rounds):
        order = progs[r % len(progs):] + progs[:r % len(progs)]
        for name, cmd in order:
            if a.scrub:
                scrub(a.scrub)
            x = run(cmd.split())
            res[name].append(x)
            print("round %d %-14s %s  wall=%.2f sys=%.2f rss=%.0fMB flt=%d load=%.2f" %
                  (r, name, x["line"], x["wall"], x["sys"], x["rss_mb"], x["minflt"], x["load"]), flush=True)
    print("%-14s %24s %8s %8s %8s %8s %10s" % ("program", "secs med [min-max]", "wall", "user", "sys", "rss MB", "minflt"))
    for name, _ in progs:
        xs = res[name]
        med = lambda k: statistics.median(x[k] for x in xs)
        s = [x["secs"] for x in xs]
        print("%-14s %8.4f [%.4f-%.4f] %8.3f %8.3f %8.3f %8.1f %10d" %
              (name, med("secs"), min(s), max(s), med("wall"), med("user"), med("sys"), med("rss_mb"), med("minflt")))


if __name__ == "__main__":
    main()
