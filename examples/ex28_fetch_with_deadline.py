# Section 12.3, fetch_with_deadline: wait with a 1 s timeout keeps the bodies
# that arrived (100 and 200 ms) and cancels the slow transfers (1.5 and 5 s);
# the cancellations are awaited. The network counterpart of ex09_deadline.py.
import asyncio
import aiohttp
from http_server import start_server

async def fetch(session, url):
    async with session.get(url) as response:
        return await response.text()

async def main():
    server = await start_server()
    pages = [("fast", 100), ("quick", 200), ("slow", 1500), ("slower", 5000)]
    async with aiohttp.ClientSession() as session:
        tasks = [asyncio.create_task(fetch(session, server.url(f"/delay/{ms}/{name}")))
                 for name, ms in pages]
        done, pending = await asyncio.wait(tasks, timeout=1.0)
        print(f"{len(done)} done, {len(pending)} pending")
        for t in tasks:
            if t in done:
                print("arrived:", t.result())
        for t in pending:
            t.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        print("cancelled:", [name for (name, _), t in zip(pages, tasks) if t.cancelled()])
    await server.stop()

asyncio.run(main())
