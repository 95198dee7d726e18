# Seed scenario 2: the same two jobs as tasks under wait: prints "2 0".
import asyncio

async def job(n):
    await asyncio.sleep(n)
    return n

async def main():
    tasks = [asyncio.create_task(job(1)), asyncio.create_task(job(2))]
    done, pending = await asyncio.wait(tasks)
    print(len(done), len(pending))

asyncio.run(main())
