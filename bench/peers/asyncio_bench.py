"""The benchmark workloads on Python asyncio (or uvloop with --uvloop).
    asyncio_bench.py [--uvloop] NAME N [as_completed]
Prints the same check line as corio's programs, ending in secs=; each
workload returns it with whether its answer is right, and a wrong one exits 1."""
import asyncio
import sys
import time


async def spawn_gather(n):
    async def task(i):
        return i
    t0 = time.perf_counter()
    res = await asyncio.gather(*(task(i) for i in range(n)))
    secs = time.perf_counter() - t0
    return "spawn_gather n=%d sum=%d secs=%.6f" % (n, sum(res), secs), sum(res) == n * (n - 1) // 2


async def sleepers(n):
    async def sleeper():
        await asyncio.sleep(1.0)
        return 1
    t0 = time.perf_counter()
    res = await asyncio.gather(*(sleeper() for _ in range(n)))
    return "sleepers n=%d mode=default sum=%d secs=%.6f" % (n, sum(res), time.perf_counter() - t0), sum(res) == n


async def pingpong(n):
    to_pong, to_ping = asyncio.Queue(1), asyncio.Queue(1)

    async def ping():
        v = None
        for i in range(n):
            await to_pong.put(i)
            v = await to_ping.get()
        return v

    async def pong():
        for _ in range(n):
            await to_ping.put(await to_pong.get())
    t0 = time.perf_counter()
    last, _ = await asyncio.gather(ping(), pong())
    return "pingpong n=%d last=%d handoffs=%d secs=%.6f" % (n, last, 2 * n, time.perf_counter() - t0), last == n - 1


async def yield_(n):
    async def y():
        made = 0
        for _ in range(n):
            await asyncio.sleep(0)
            made += 1
        return made
    t0 = time.perf_counter()
    switches = sum(await asyncio.gather(y(), y()))
    return "yield n=%d switches=%d secs=%.6f" % (n, switches, time.perf_counter() - t0), switches == 2 * n


async def wait_loop(n, style):
    async def sleeper(i):
        await asyncio.sleep(i / n)
        return i
    t0 = time.perf_counter()
    total = rounds = 0
    if style == "as_completed":
        for aw in asyncio.as_completed([sleeper(i) for i in range(n)]):
            total += await aw
            rounds += 1
    else:
        pending = {asyncio.create_task(sleeper(i)) for i in range(n)}
        while pending:
            done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            total += sum(t.result() for t in done)
            rounds += 1
    wall = time.perf_counter() - t0
    line = "wait_loop n=%d style=%s sum=%d rounds=%d secs=%.6f" % (n, style, total, rounds, wall - 1.0)
    return line, total == n * (n - 1) // 2


async def timers(n):
    """Deadlines LEAD + a spread over 1 s (bench/timers.c says why), on the
    loop's clock: uvloop's is the time its current iteration began, and the
    final sleep, reckoned on it too, ends after every deadline (the loop runs
    due timers in deadline order)."""
    loop = asyncio.get_running_loop()
    fired = [0]

    def fire():
        fired[0] += 1
    lead = 0.25 + 5e-6 * n
    t0 = time.perf_counter()
    base = loop.time() + lead
    hs = [loop.call_at(base + ((i * 7919) % n) / n, fire) for i in range(n)]
    t1 = time.perf_counter()
    for h in hs[::2]:
        h.cancel()
    t2 = time.perf_counter()
    in_lead = t2 - t0 < lead
    await asyncio.sleep(base + 1.05 - loop.time())
    kept = n - (n + 1) // 2
    return "timers n=%d fired=%d arm_ns=%.1f cancel_ns=%.1f armed_in_lead=%d secs=%.6f" % (
        n, fired[0], (t1 - t0) * 1e9 / n, (t2 - t1) * 1e9 / ((n + 1) // 2), in_lead, t1 - t0), \
        fired[0] == kept and in_lead


def main():
    args = sys.argv[1:]
    if args and args[0] == "--uvloop":
        import uvloop
        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
        args = args[1:]
    name, n = args[0], int(args[1])
    fn = {"spawn_gather": spawn_gather, "sleepers": sleepers, "pingpong": pingpong,
          "yield": yield_, "timers": timers}.get(name)
    coro = wait_loop(n, args[2] if len(args) > 2 else "wait") if name == "wait_loop" else fn(n)
    line, ok = asyncio.run(coro)
    print(line)
    if not ok:
        sys.exit("asyncio_bench: wrong answer (see the check line)")


main()
