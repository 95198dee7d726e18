# Seed scenario 13: the three exercises.
import asyncio
import random

async def job(n):
    await asyncio.sleep(0.1)
    if n in (2, 4):
        raise ValueError(f"job {n} failed")
    return n

async def rand_job(n):
    await asyncio.sleep(random.uniform(0.1, 1.0))
    return n

async def short(n):
    await asyncio.sleep(0.1 * n)
    return n

async def main():
    # 1. five tasks, failures at 2 and 4: split into successes and errors
    results = await asyncio.gather(*(job(n) for n in range(1, 6)), return_exceptions=True)
    print("successes:", [r for r in results if not isinstance(r, Exception)])
    print("errors:", [str(r) for r in results if isinstance(r, Exception)])
    # 2. five random tasks drained one at a time, printing the completion rank
    pending = {asyncio.create_task(rand_job(n)) for n in range(1, 6)}
    rank = 0
    while pending:
        done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
        for t in done:
            rank += 1
            print(f"rank {rank}: job {t.result()}")
    # 3. five tasks of 0.1-0.5 s under a 0.3 s timeout
    tasks = [asyncio.create_task(short(n)) for n in range(1, 6)]
    done, pending = await asyncio.wait(tasks, timeout=0.3)
    print(f"completed: {len(done)}, pending: {len(pending)}")
    for t in pending:
        t.cancel()
    await asyncio.wait(pending)
    print("pending now cancelled:", [t.cancelled() for t in pending])

asyncio.run(main())
