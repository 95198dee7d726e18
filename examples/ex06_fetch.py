# Seed scenario 6: gather gives results in input order; wait in completion order.
import asyncio

async def fetch(url, delay):
    await asyncio.sleep(delay)
    return f"data from {url}"

async def main():
    urls = [("url1", 2), ("url2", 1), ("url3", 3)]
    print("gather:", await asyncio.gather(*(fetch(u, d) for u, d in urls)))
    pending = {asyncio.create_task(fetch(u, d)) for u, d in urls}
    while pending:
        done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
        for t in done:
            print("wait:", t.result())

asyncio.run(main())
