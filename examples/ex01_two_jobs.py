# Seed scenario 1: two sleeping jobs run concurrently: [1, 2] after ~2 s.
import asyncio
import time

async def job(n):
    await asyncio.sleep(n)
    return n

async def main():
    start = time.perf_counter()
    t1 = asyncio.create_task(job(1))
    t2 = asyncio.create_task(job(2))
    results = [await t1, await t2]
    print(results)
    print(f"took {time.perf_counter() - start:.2f} s")

asyncio.run(main())
