# Section 12.2, first_response: the same file from three servers, FIRST_COMPLETED,
# the other downloads cancelled, the winner's body returned. Server A answers
# after 300 ms, B after 100 ms, C after 200 ms. A cancelled download closes its
# connection: the servers that lost see their clients hang up. The network
# counterpart of ex10_first_wins.py.
import asyncio
import aiohttp
from http_server import start_server

async def fetch(session, url):
    async with session.get(url) as response:
        return await response.text()

async def first_response(session, urls):
    tasks = [asyncio.create_task(fetch(session, u)) for u in urls]
    done, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    for t in pending:
        t.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    return done.pop().result()

async def main():
    servers = {name: await start_server() for name in "ABC"}
    delays = {"A": 300, "B": 100, "C": 200}
    urls = [servers[n].url(f"/delay/{delays[n]}/server-{n}") for n in "ABC"]
    async with aiohttp.ClientSession() as session:
        print("first response:", await first_response(session, urls))
        for n in "AC":
            print(f"server {n}: {await servers[n].wait_idle(2)} connections open")
    for server in servers.values():
        await server.stop()

asyncio.run(main())
