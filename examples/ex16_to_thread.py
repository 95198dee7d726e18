# A blocking call moved to a thread: the loop keeps ticking meanwhile.
import asyncio
import time

def blocking_io(n):
    time.sleep(0.5)  # a call that blocks its thread
    return n * 2

async def ticker():
    for i in range(4):
        print(f"tick {i}")
        await asyncio.sleep(0.1)

async def main():
    result, _ = await asyncio.gather(asyncio.to_thread(blocking_io, 21), ticker())
    print("blocking call returned", result)

asyncio.run(main())
