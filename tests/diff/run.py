"""Differential test: run scenarios on corio (C driver) and on CPython's
asyncio (pydriver.py) and compare the traces line for line.

    run.py --driver build/tests/diff_driver [--count N] [--seed S] [cases.txt ...]

Generates N random scenarios (seeded) and adds the hand-written cases. A
mismatch prints the scenario, so it can be replayed with either driver."""
import argparse
import difflib
import os
import random
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def q(rng, lo=0, hi=8):
    """A delay in quarter seconds (exact in binary and in nanoseconds)."""
    return "%g" % (rng.randint(lo, hi) / 4)


def gen_scenario(rng, k):
    names = "ABCDE"[: rng.randint(2, 5)]
    lines = ["=== gen-%d" % k]
    for i, n in enumerate(names):
        ops = []
        for _ in range(rng.randint(1, 3)):
            r = rng.random()
            if r < 0.6:
                ops.append("sleep " + q(rng))
            elif r < 0.8:
                ops.append("sleepc " + q(rng))
            elif r < 0.9:
                ops.append("yield")
            elif i > 0:  # await / cancel an earlier task: no cycles
                ops.append(rng.choice(["await", "cancel"]) + " " + rng.choice(names[:i]))
        end = rng.random()
        if end < 0.55:
            ops.append("return %d" % rng.randint(1, 99))
        elif end < 0.85:
            ops.append("fail %d" % rng.randint(1, 9))
        lines.append("%s: %s" % (n, "; ".join(ops)))
    lines.append("> spawn " + " ".join(names))

    def items(allow_coro=True, lo=1, hi=4):
        out = []
        for _ in range(rng.randint(lo, hi)):
            if allow_coro and rng.random() < 0.4:
                out.append("~" + rng.choice(names))
            else:
                out.append(rng.choice(names))
        return out

    gathers = []
    for _ in range(rng.randint(1, 3)):
        r = rng.random()
        if rng.random() < 0.25:
            target = rng.choice(list(names) + ["main"] + gathers)
            lines.append("> cancelat %s %s" % (q(rng, 0, 6), target))
        if r < 0.15:
            lines.append("> gatherwait %s%s" % ("re " if rng.random() < 0.5 else "", " ".join(items())))
        elif r < 0.25:
            g = "G%d" % len(gathers)
            inner = items() + ([rng.choice(gathers)] if gathers and rng.random() < 0.5 else [])
            lines.append("> gather %s %s%s" % (g, "re " if rng.random() < 0.5 else "", " ".join(inner)))
            gathers.append(g)
            if rng.random() < 0.5:
                lines.append("> cancelat %s %s" % (q(rng, 0, 4), g))
            lines.append("> await " + g)
        elif r < 0.40:
            opts = []
            if rng.random() < 0.5:
                opts.append("t=" + q(rng, 0, 6))
            opts.append(rng.choice(["first", "exc", "all"]))
            lines.append("> wait %s %s" % (" ".join(opts), " ".join(items(False))))
        elif r < 0.48:
            lines.append("> drain " + " ".join(items(False, 1, 5)))
        elif r < 0.58:
            t = ("t=" + q(rng, 0, 6) + " ") if rng.random() < 0.5 else ""
            lines.append("> ascompleted %s%s" % (t, " ".join(items())))
        elif r < 0.66:
            lines.append("> waitfor %s %s" % (q(rng, 0, 6), items(True, 1, 1)[0]))
        elif r < 0.72:
            lines.append("> timeout %s %s" % (q(rng, 0, 6), items(True, 1, 1)[0]))
        elif r < 0.78:
            lines.append("> shield %s" % items(True, 1, 1)[0])
        elif r < 0.84:
            lines.append("> taskgroup %s %s" % (q(rng, 0, 6), " ".join("~" + rng.choice(names) for _ in range(rng.randint(1, 4)))))
        elif r < 0.90:
            lines.append("> any " + " ".join(items(True, 1, 4)))
        elif r < 0.95:
            lines.append("> cancel " + rng.choice(names))
        else:
            lines.append("> sleep " + q(rng))
    return "\n".join(lines) + "\n"


def gen_prim_scenario(rng, k):
    """Tasks using a few primitives, with sleeps and cancels in between."""
    kinds = ["lock", "event", "sem", "bsem", "cond", "barrier", "queue", "lifo", "prio"]
    prims = []
    lines = ["=== prim-%d" % k]
    makes = []
    for i in range(rng.randint(1, 3)):
        kind = rng.choice(kinds)
        name = "%s%d" % (kind[0].upper(), i)
        n = {"sem": rng.randint(1, 3), "bsem": rng.randint(1, 2), "barrier": rng.randint(2, 4),
             "queue": rng.randint(0, 3), "lifo": rng.randint(0, 3), "prio": rng.randint(0, 3)}.get(kind, 0)
        makes.append("> make %s %s %d" % (kind, name, n))
        prims.append((kind, name))

    def ops_for(kind, name):
        d = "sleep " + q(rng, 0, 4)
        if kind == "lock" or kind in ("sem", "bsem"):
            r = [["acquire %s" % name, d, "release %s" % name], ["release %s" % name]]
            return rng.choice(r if kind == "bsem" else r[:1] * 3 + r[1:])
        if kind == "event":
            return rng.choice([["ewait %s" % name], ["eset %s" % name], ["eclear %s" % name], ["ewait %s" % name, d]])
        if kind == "cond":
            return rng.choice([["acquire %s" % name, "cwait %s" % name, "release %s" % name],
                               ["acquire %s" % name, "notify %s %d" % (name, rng.randint(1, 2)), "release %s" % name],
                               ["acquire %s" % name, "notifyall %s" % name, "release %s" % name],
                               ["cwait %s" % name]])
        if kind == "barrier":
            return rng.choice([["bwait %s" % name]] * 4 + [["breset %s" % name], ["babort %s" % name]])
        v = str(rng.randint(1, 9))
        return rng.choice([["put %s %s" % (name, v)], ["get %s" % name], ["putnw %s %s" % (name, v)],
                           ["getnw %s" % name], ["get %s" % name, "done %s" % name], ["join %s" % name],
                           ["shutdown %s" % name], ["shutdown %s now" % name], ["done %s" % name]])

    names = "ABCDEFG"[: rng.randint(2, 7)]
    for n in names:
        ops = []
        for _ in range(rng.randint(1, 3)):
            if rng.random() < 0.3:
                ops.append(rng.choice(["sleep " + q(rng, 0, 4), "sleepc " + q(rng, 0, 4), "yield"]))
            kind, name = rng.choice(prims)
            ops += ops_for(kind, name)
        if rng.random() < 0.3:
            ops.append("return %d" % rng.randint(1, 9))
        lines.append("%s: %s" % (n, "; ".join(ops)))
    lines += makes
    lines.append("> spawn " + " ".join(names))
    for _ in range(rng.randint(0, 3)):
        lines.append("> cancelat %s %s" % (q(rng, 0, 8), rng.choice(names)))
    lines.append("> sleep " + q(rng, 4, 16))
    return "\n".join(lines) + "\n"


def split(out):
    res, cur = {}, None
    for line in out.splitlines():
        if line.startswith("=== "):
            cur = line[4:]
            res[cur] = []
        elif cur is not None:
            res[cur].append(line)
    return res


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--driver", required=True)
    ap.add_argument("--emulator", default="", help="command prefix to run the driver (qemu)")
    ap.add_argument("--count", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--mode", choices=["own", "copy", "eager"], default="own",
                    help="corio's stack mode, or eager tasks (against 3.12's eager_task_factory)")
    ap.add_argument("cases", nargs="*")
    a = ap.parse_args()
    if sys.version_info < (3, 11):
        print("python3 older than 3.11 (no asyncio.timeout/TaskGroup): skipped")
        return 77
    rng = random.Random(a.seed)
    texts = [open(c).read() for c in a.cases]
    texts += [gen_scenario(rng, k) if k % 2 == 0 else gen_prim_scenario(rng, k)
              for k in range(a.count)]
    text = "\n".join(texts)
    src = {}
    for block in text.split("\n=== "):
        block = block if block.startswith("=== ") else "=== " + block
        src[block.split("\n", 1)[0][4:].strip()] = block
    python, pyargs, copt = [sys.executable], [], []
    if a.mode == "copy":
        copt = ["--copy"]
    elif a.mode == "eager":
        copt, pyargs = ["--eager"], ["--eager"]
        if sys.version_info < (3, 12):  # eager_task_factory is 3.12's: pyenv's, if there
            python = None
            for v in ("3.12.1", "3.13.0"):
                pre = subprocess.run(["pyenv", "prefix", v], capture_output=True, text=True) \
                    if shutil.which("pyenv") else None
                exe = os.path.join(pre.stdout.strip(), "bin", "python3") if pre and pre.returncode == 0 else ""
                if exe and subprocess.run([exe, "-c", "import asyncio; asyncio.eager_task_factory"],
                                          capture_output=True).returncode == 0:
                    python = [exe]
                    break
            if python is None:
                print("no Python 3.12+ (eager_task_factory): eager differential skipped")
                return 77
    py = subprocess.run(python + [os.path.join(HERE, "pydriver.py")] + pyargs, input=text,
                        capture_output=True, text=True)
    c = subprocess.run(a.emulator.split() + [a.driver] + copt, input=text, capture_output=True, text=True)
    if py.returncode or c.returncode:
        print("driver failed: python rc=%d, C rc=%d" % (py.returncode, c.returncode))
        print(py.stderr[-3000:], c.stderr[-3000:])
        return 1
    pyo, co = split(py.stdout), split(c.stdout)
    bad = [n for n in pyo if pyo[n] != co.get(n)]
    for n in bad[:5]:
        print("MISMATCH in scenario %s:\n%s" % (n, src.get(n, "")))
        for d in difflib.unified_diff(pyo[n], co.get(n, []), "asyncio", "corio", lineterm=""):
            print("   " + d)
    total = len(pyo)
    print("differential (%s): %d scenarios (%d hand-written, %d generated, seed %d), %d mismatches"
          % (a.mode, total, total - a.count, a.count, a.seed, len(bad)))
    print("%d passed, %d failed" % (total - len(bad), len(bad)))
    return 1 if bad or total != len(co) else 0


if __name__ == "__main__":
    sys.exit(main())
