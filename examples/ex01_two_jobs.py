# Seed scenario 1: gather two sleeping jobs: [1, 2] after ~2 s, not 3.
import asyncio
import time

async def job(n):
    await asyncio.sleep(n)
    return n

async def main():
    start = time.perf_counter()
    results = await asyncio.gather(job(1), job(2))
    print(results)
    print(f"took {time.perf_counter() - start:.2f} s")

asyncio.run(main())
