# Seed scenario 11: successes and failures collected separately, with
# gather(return_exceptions=True) and with wait.
import asyncio

async def work(n):
    await asyncio.sleep(0.1 * n)
    if n % 2 == 0:
        raise RuntimeError(f"job {n} failed")
    return n

async def main():
    results = await asyncio.gather(*(work(n) for n in range(1, 6)), return_exceptions=True)
    ok = [r for r in results if not isinstance(r, Exception)]
    bad = [str(r) for r in results if isinstance(r, Exception)]
    print("gather: successes", ok, "failures", bad)
    tasks = [asyncio.create_task(work(n)) for n in range(1, 6)]
    await asyncio.wait(tasks)
    ok = [t.result() for t in tasks if t.exception() is None]
    bad = [str(t.exception()) for t in tasks if t.exception() is not None]
    print("wait: successes", ok, "failures", bad)

asyncio.run(main())
