# A rate limiter with a semaphore: ten requests, at most three at a time.
import asyncio

async def request(sem, i, running):
    async with sem:
        running[0] += 1
        running[1] = max(running[1], running[0])
        print(f"request {i} starts")
        await asyncio.sleep(0.2)
        running[0] -= 1
    return i

async def main():
    sem = asyncio.Semaphore(3)
    running = [0, 0]  # now, most at once
    done = await asyncio.gather(*(request(sem, i, running) for i in range(10)))
    print("all done:", done)
    print("at most", running[1], "ran at once")

asyncio.run(main())
