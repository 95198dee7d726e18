# Seed scenario 3: coffee (2 s) and toast (1 s) as tasks, awaited in turn.
import asyncio
import time

async def make_coffee():
    print("Brewing coffee...")
    await asyncio.sleep(2)
    print("Coffee ready")
    return "coffee"

async def make_toast():
    print("Toasting bread...")
    await asyncio.sleep(1)
    print("Toast ready")
    return "toast"

async def main():
    start = time.perf_counter()
    coffee_task = asyncio.create_task(make_coffee())
    toast_task = asyncio.create_task(make_toast())
    coffee = await coffee_task
    toast = await toast_task
    print(f"Breakfast is ready: {coffee} and {toast}")
    print(f"Total time: {time.perf_counter() - start:.2f} seconds")

asyncio.run(main())
