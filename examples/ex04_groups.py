# Seed scenario 4: three groups of 5, 3 and 9 coroutines with random 1-3 s
# delays, gathered per group, all groups gathered together: nested lists.
# Then again, cancelling group 2: only its members are cancelled.
import asyncio
import random

async def worker(group, i):
    await asyncio.sleep(random.uniform(1, 3))
    return group * 100 + i

async def main():
    groups = [asyncio.gather(*(worker(g, i) for i in range(n)))
              for g, n in ((1, 5), (2, 3), (3, 9))]
    print(await asyncio.gather(*groups))

    groups = [asyncio.gather(*(worker(g, i) for i in range(n)))
              for g, n in ((1, 5), (2, 3), (3, 9))]
    everything = asyncio.gather(*groups, return_exceptions=True)
    await asyncio.sleep(0.5)
    groups[1].cancel()
    results = await everything
    for g, r in zip((1, 2, 3), results):
        print(f"group {g}:", "cancelled" if isinstance(r, asyncio.CancelledError) else r)

asyncio.run(main())
