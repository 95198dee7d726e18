# Seed scenario 7: might_fail(2) fails; gather without return_exceptions
# delivers that error; with it, the list is [10, error, 30].
import asyncio

async def might_fail(n):
    await asyncio.sleep(0.1 * n)
    if n == 2:
        raise ValueError(f"task {n} failed")
    return n * 10

async def main():
    try:
        await asyncio.gather(might_fail(1), might_fail(2), might_fail(3))
    except ValueError as e:
        print("gather raised:", e)
    results = await asyncio.gather(might_fail(1), might_fail(2), might_fail(3),
                                   return_exceptions=True)
    print([r if not isinstance(r, Exception) else f"error({r})" for r in results])

asyncio.run(main())
