# Section 12.1, fetch_all: gather over real fetches gives the bodies in input
# order; wait gives them in completion order. The server is local (the
# example starts it): its handlers wait 200, 100 and 300 ms. The network
# counterpart of ex06_fetch.py.
import asyncio
import aiohttp
from http_server import start_server

async def fetch(session, url):
    async with session.get(url) as response:
        return await response.text()

async def main():
    server = await start_server()
    pages = [("url1", 200), ("url2", 100), ("url3", 300)]
    urls = [server.url(f"/delay/{ms}/{name}") for name, ms in pages]
    async with aiohttp.ClientSession() as session:
        print("gather:", await asyncio.gather(*(fetch(session, u) for u in urls)))
        pending = {asyncio.create_task(fetch(session, u)) for u in urls}
        while pending:
            done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            for t in done:
                print("wait:", t.result())
    await server.stop()

asyncio.run(main())
