# A producer/consumer pipeline with a bounded queue: the producer is held
# back when the queue is full; join() waits until every item was processed.
import asyncio

async def producer(q, n):
    for i in range(1, n + 1):
        await q.put(i)
        print(f"produced {i} (queue size {q.qsize()})")
    await q.put(None)  # no more items

async def consumer(q, results):
    while (item := await q.get()) is not None:
        await asyncio.sleep(0.1)  # some work
        results.append(item * item)
        print(f"consumed {item}")
        q.task_done()
    q.task_done()

async def main():
    q = asyncio.Queue(maxsize=2)
    results = []
    await asyncio.gather(producer(q, 5), consumer(q, results))
    await q.join()
    print("results:", results)

asyncio.run(main())
