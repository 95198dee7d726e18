# Section 12.4, fetch_collecting_errors: a refused port, a 404 and a reset
# connection among good URLs; successes and failures apart, with
# gather(return_exceptions=True) and with wait. Each failure names its URL
# and a reason the program words itself (refused, reset, or the status), not
# the library's text; ports are printed as PORT. The network counterpart of
# ex11_split.py.
import asyncio
import errno
import aiohttp
from http_server import start_server, closed_port, show

class FetchError(Exception):
    pass

async def fetch(session, url):
    try:
        async with session.get(url) as response:
            if response.status >= 400:
                raise FetchError(f"{url}: {response.status}")
            return await response.text()
    except aiohttp.ClientOSError as e:  # ClientConnectorError is one too
        reason = {errno.ECONNREFUSED: "refused", errno.ECONNRESET: "reset"}.get(e.errno, "failed")
        raise FetchError(f"{url}: {reason}") from e
    except aiohttp.ServerDisconnectedError as e:
        raise FetchError(f"{url}: disconnected") from e

def split(outcomes):
    ok = [r for r in outcomes if not isinstance(r, Exception)]
    bad = [show(str(r)) for r in outcomes if isinstance(r, Exception)]
    return ok, bad

async def main():
    server = await start_server()
    urls = [server.url("/delay/100/one"),
            f"http://127.0.0.1:{closed_port()}/nobody-listens",
            server.url("/status/404"),
            server.url("/reset"),
            server.url("/delay/200/five")]
    async with aiohttp.ClientSession() as session:
        results = await asyncio.gather(*(fetch(session, u) for u in urls), return_exceptions=True)
        ok, bad = split(results)
        print("gather: successes", ok)
        print("gather: failures", bad)
        tasks = [asyncio.create_task(fetch(session, u)) for u in urls]
        await asyncio.wait(tasks)
        ok, bad = split([t.exception() or t.result() for t in tasks])
        print("wait: successes", ok)
        print("wait: failures", bad)
    await server.stop()

asyncio.run(main())
