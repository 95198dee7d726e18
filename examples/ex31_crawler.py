# Section 12.6, a crawler: 1 000 pages, at most 50 in flight (a semaphore),
# each under a 1 s timeout, results in input order, and a progress line
# while it runs (rewritten in place at every 100 pages: the same bytes
# whichever page ends when). Pages 50, 150, ... take 5 s (they time out),
# 125, 375, 625 and 875 are missing (404), the others take 0 to 19 ms.
import asyncio
import aiohttp
from http_server import start_server

N, LIMIT, TIMEOUT = 1000, 50, 1.0

def path(i):
    if i % 100 == 50:
        return f"/delay/5000/page-{i}"
    if i % 250 == 125:
        return "/status/404"
    return f"/delay/{i * 7 % 20}/page-{i}"

async def fetch(session, url):
    async with session.get(url) as response:
        if response.status >= 400:
            raise RuntimeError(f"status {response.status}")
        return await response.text()

async def main():
    server = await start_server()
    sem = asyncio.Semaphore(LIMIT)
    state = {"done": 0, "running": 0, "most": 0}

    async def crawl(session, i):
        async with sem:
            state["running"] += 1
            state["most"] = max(state["most"], state["running"])
            try:
                async with asyncio.timeout(TIMEOUT):
                    return await fetch(session, server.url(path(i)))
            except TimeoutError:
                return "timeout"
            except RuntimeError as e:
                return str(e)
            finally:
                state["running"] -= 1
                state["done"] += 1
                if state["done"] % 100 == 0:
                    print(f"\rcrawled {state['done']}/{N}", end="", flush=True)

    async with aiohttp.ClientSession() as session:
        results = await asyncio.gather(*(crawl(session, i) for i in range(N)))
    print()
    ok = sum(r.startswith("data from") for r in results)
    print(f"{N} pages: {ok} ok, at most {state['most']} in flight")
    print("first:", results[0], "- last:", results[-1])
    for i, r in enumerate(results):
        if not r.startswith("data from"):
            print(f"page {i}: {r}")
    await server.stop()

asyncio.run(main())
