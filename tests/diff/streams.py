#!/usr/bin/env python3
"""Differential test of corio's stream reader against asyncio's StreamReader.

Generates byte streams cut into random fragments and random sequences of
read / read_all / readexactly / readuntil / readline between the fragments,
runs each scenario on asyncio (StreamReader.feed_data) and on corio (the C
driver, over a socket pair), and compares the results line for line.

An operation that cannot finish with the bytes fed so far is cancelled (a
timeout): that is where cancel safety shows. Where io.md makes corio
deliberately better, the reference encodes it explicitly:
  - read_all (read(-1)) cancelled keeps its bytes: CPython's gathers them
    in a local list and loses them; the reference reads to EOF the
    cancel-safe way (waits for EOF, then takes the buffer).
Everything else is CPython's own StreamReader.

usage: streams.py --driver PATH [--count N] [--seed S] [--emulator CMD]
"""
import argparse
import asyncio
import os
import random
import shlex
import subprocess
import sys
import tempfile

ALPHABET = b"ab\n\r\n-"


def gen_scenario(rng, i):
    limit = rng.choice([4, 8, 16, 64])
    lines = ["scenario %d limit %d" % (i, limit)]
    nfrag = rng.randint(1, 8)
    for k in range(nfrag):
        frag = bytes(rng.choice(ALPHABET) for _ in range(rng.randint(1, 24)))
        lines.append("feed " + frag.hex())
        for _ in range(rng.randint(0, 3)):
            lines.append("op " + gen_op(rng))
    if rng.random() < 0.8:
        lines.append("eof")
    for _ in range(rng.randint(1, 4)):
        lines.append("op " + gen_op(rng))
    lines.append("end")
    return lines


MULTI = sys.version_info >= (3, 13)  # readuntil with several separators


def gen_op(rng):
    k = rng.choice(["read", "read", "readexactly", "readuntil", "readuntil", "readline", "readline", "read_all"]
                   + (["readuntil_any"] * 2 if MULTI else []))
    if k == "readuntil_any":
        seps = rng.sample([b"\n", b"ab", b"\r\n", b"-a", b"b\n-"], rng.randint(2, 3))
        return "readuntil_any " + ",".join(x.hex() for x in seps)
    if k == "read":
        return "read %d" % rng.randint(1, 10)
    if k == "readexactly":
        return "readexactly %d" % rng.randint(0, 12)
    if k == "readuntil":
        return "readuntil " + rng.choice([b"\n", b"ab", b"\r\n", b"-a"]).hex()
    return k


def show(b):
    return b.hex() if b else "-"


async def run_op(reader, op):
    parts = op.split()
    name = parts[0]
    if name == "read":
        return "ok " + show(await reader.read(int(parts[1])))
    if name == "read_all":
        # The cancel-safe read to EOF (see the module's docstring).
        while not reader._eof:
            await reader._wait_for_data("read_all")
        return "ok " + show(await reader.read(-1))
    if name == "readexactly":
        try:
            return "ok " + show(await reader.readexactly(int(parts[1])))
        except asyncio.IncompleteReadError as e:
            return "incomplete " + show(e.partial)
    if name == "readuntil":
        try:
            return "ok " + show(await reader.readuntil(bytes.fromhex(parts[1])))
        except asyncio.IncompleteReadError as e:
            return "incomplete " + show(e.partial)
        except asyncio.LimitOverrunError as e:
            return "limit %d" % e.consumed
    if name == "readuntil_any":
        try:
            return "ok " + show(await reader.readuntil(tuple(bytes.fromhex(x) for x in parts[1].split(","))))
        except asyncio.IncompleteReadError as e:
            return "incomplete " + show(e.partial)
        except asyncio.LimitOverrunError as e:
            return "limit %d" % e.consumed
    if name == "readline":
        try:
            return "ok " + show(await reader.readline())
        except ValueError:
            return "limit"
    raise ValueError(op)


async def run_scenario(lines):
    out = []
    reader = None
    for line in lines:
        w = line.split()
        if w[0] == "scenario":
            reader = asyncio.StreamReader(limit=int(w[3]))
            out.append(line)
        elif w[0] == "feed":
            reader.feed_data(bytes.fromhex(w[1]))
        elif w[0] == "eof":
            reader.feed_eof()
        elif w[0] == "op":
            op = " ".join(w[1:])
            t = asyncio.ensure_future(run_op(reader, op))
            for _ in range(5):  # what the bytes fed so far allow
                await asyncio.sleep(0)
            if not t.done():
                t.cancel()
                try:
                    await t
                except asyncio.CancelledError:
                    pass
                out.append("%s -> cancelled" % op)
            else:
                out.append("%s -> %s" % (op, t.result()))
        elif w[0] == "end":
            out.append("end")
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--driver", required=True)
    ap.add_argument("--emulator", default="")
    ap.add_argument("--count", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--need-multi", action="store_true", help="skip (77) without Python 3.13")
    a = ap.parse_args()
    if a.need_multi and not MULTI:
        print("no Python 3.13 here (readuntil with several separators): skipped")
        return 77
    rng = random.Random(a.seed)
    scenarios = [gen_scenario(rng, i) for i in range(a.count)]
    expected = []
    for sc in scenarios:
        expected.extend(asyncio.run(run_scenario(sc)))
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as f:
        f.write("\n".join(l for sc in scenarios for l in sc) + "\n")
        path = f.name
    try:
        cmd = shlex.split(a.emulator) + [a.driver, path]
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    finally:
        os.unlink(path)
    got = p.stdout.splitlines()
    if p.returncode != 0:
        print("driver failed (rc %d): %s" % (p.returncode, p.stderr[-2000:]))
        return 1
    bad = 0
    for i, (e, g) in enumerate(zip(expected, got)):
        if e != g:
            bad += 1
            if bad <= 5:
                # the scenario header before this line
                j = i
                while j > 0 and not expected[j].startswith("scenario"):
                    j -= 1
                print("mismatch in %s:\n  asyncio: %s\n  corio:   %s" % (expected[j], e, g))
    if len(expected) != len(got):
        print("different lengths: asyncio %d lines, corio %d" % (len(expected), len(got)))
        bad += 1
    print("stream differential: %d scenarios, %d lines, %d mismatches (seed %d, Python %d.%d%s)"
          % (a.count, len(expected), bad, a.seed, sys.version_info[0], sys.version_info[1],
             ", several separators too" if MULTI else ""))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
