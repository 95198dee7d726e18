# Seed scenario 12: as_completed prints each result as it arrives, errors included.
import asyncio

async def work(n, delay):
    await asyncio.sleep(delay)
    if n == 3:
        raise RuntimeError(f"job {n} failed")
    return n

async def main():
    for aw in asyncio.as_completed([work(1, 3), work(2, 1), work(3, 2), work(4, 0.5)]):
        try:
            print("got", await aw)
        except RuntimeError as e:
            print("error:", e)

asyncio.run(main())
