"""fetch_many N C URL with aiohttp (bench/fetch.py): C tasks take the next
index, GET URL/i through one ClientSession (its connector keeps the
connections alive; limit C), keep each body in input order; every body is
checked. Prints the check line with secs= (the fetching) and cpu= (this
process's user+system CPU over it, getrusage). Debian's python3-aiohttp,
for /usr/bin/python3."""
import asyncio
import resource
import sys
import time
from urllib.parse import urlparse

import aiohttp


def cpu():
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


async def main(n, c, base):
    bodies = [None] * n
    nxt = iter(range(n))

    async def worker(session):
        for i in nxt:
            async with session.get("%s/%d" % (base, i)) as resp:
                body = await resp.text()
                if resp.status == 200:
                    bodies[i] = body

    conn = aiohttp.TCPConnector(limit=c)
    async with aiohttp.ClientSession(connector=conn) as session:
        t0, c0 = time.perf_counter(), cpu()
        await asyncio.gather(*(worker(session) for _ in range(c)))
        secs, used = time.perf_counter() - t0, cpu() - c0
    path = urlparse(base).path
    ok = sum(1 for i, b in enumerate(bodies) if b == "%s/%d" % (path, i))
    print("fetch_many n=%d inflight=%d ok=%d cpu=%.4f secs=%.4f" % (n, c, ok, used, secs))
    return 0 if ok == n else 1


if __name__ == "__main__":
    if len(sys.argv) < 4:
        sys.exit("usage: aiohttp_fetch.py N C URL")
    sys.exit(asyncio.run(main(int(sys.argv[1]), int(sys.argv[2]), sys.argv[3])))
