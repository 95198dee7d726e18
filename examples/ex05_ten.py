# Seed scenario 5: ten coroutines with random 0.5-5 s delays: wait
# FIRST_COMPLETED, print the first result and the unfinished count; then
# wait the rest with a 2 s timeout; then wait all others.
import asyncio
import random

async def work(i):
    await asyncio.sleep(random.uniform(0.5, 5))
    return i

async def main():
    tasks = [asyncio.create_task(work(i)) for i in range(10)]
    done, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    print(f"first result: {done.pop().result()}, unfinished: {len(pending)}")
    done, pending = await asyncio.wait(pending, timeout=2)
    print(f"after 2 s more: {len(done)} done, {len(pending)} pending")
    done, pending = await asyncio.wait(pending)
    print(f"at the end: {len(done)} done, {len(pending)} pending")

asyncio.run(main())
