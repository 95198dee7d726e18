# Seed scenario 10: first response wins: FIRST_COMPLETED, cancel the others,
# return the winner.
import asyncio

async def fetch(mirror, delay):
    await asyncio.sleep(delay)
    return f"answer from {mirror}"

async def first_response(mirrors):
    tasks = [asyncio.create_task(fetch(m, d)) for m, d in mirrors]
    done, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    for t in pending:
        t.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    return done.pop().result()

async def main():
    print(await first_response([("eu", 1.5), ("us", 0.5), ("asia", 1.0)]))

asyncio.run(main())
