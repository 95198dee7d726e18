# Seed scenario 9: fast (1 s) and slow (10 s) under a 2 s deadline: 1 done,
# 1 pending; the pending one is cancelled and that cancellation awaited.
import asyncio

async def fetch(name, delay):
    await asyncio.sleep(delay)
    return name

async def main():
    fast = asyncio.create_task(fetch("fast", 1))
    slow = asyncio.create_task(fetch("slow", 10))
    done, pending = await asyncio.wait([fast, slow], timeout=2)
    print(f"{len(done)} done, {len(pending)} pending")
    for t in pending:
        t.cancel()
    try:
        await slow
    except asyncio.CancelledError:
        print("slow was cancelled:", slow.cancelled())

asyncio.run(main())
