# Seed scenario 8: FIRST_EXCEPTION over might_fail(1..3) returns at the
# failure; the caller cancels the pending rest.
import asyncio

async def might_fail(n):
    await asyncio.sleep(n)
    if n == 2:
        raise ValueError(f"task {n} failed")
    return n * 10

async def main():
    tasks = [asyncio.create_task(might_fail(n)) for n in (1, 2, 3)]
    done, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
    print(f"{len(done)} done, {len(pending)} pending")
    for t in tasks:
        if t in done:
            print("  ", "error:" if t.exception() else "result:", t.exception() or t.result())
    for t in pending:
        t.cancel()
    await asyncio.wait(pending)
    print("pending cancelled:", all(t.cancelled() for t in pending))

asyncio.run(main())
