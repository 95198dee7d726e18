# Section 12.5: as_completed over real fetches prints each body as it arrives,
# errors included (a 404 at once; pages after 300, 100 and 200 ms). The
# network counterpart of ex12_as_completed.py.
import asyncio
import aiohttp
from http_server import start_server, show

class FetchError(Exception):
    pass

async def fetch(session, url):
    async with session.get(url) as response:
        if response.status >= 400:
            raise FetchError(f"{url}: {response.status}")
        return await response.text()

async def main():
    server = await start_server()
    paths = ["/delay/300/one", "/delay/100/two", "/status/404", "/delay/200/four"]
    async with aiohttp.ClientSession() as session:
        for aw in asyncio.as_completed([fetch(session, server.url(p)) for p in paths]):
            try:
                print("got", await aw)
            except FetchError as e:
                print("error:", show(str(e)))
    await server.stop()

asyncio.run(main())
