# A line-based chat server: each client sends its name, then every line it
# sends goes to all the other clients (broadcast, then drain each). Three
# clients join, each says hello once, reads the two others' lines, leaves.
import asyncio

clients = []            # (name, writer), in the order they joined
everyone_in = asyncio.Event()

async def handle(reader, writer):
    name = (await reader.readline()).decode().strip()
    clients.append((name, writer))
    if len(clients) == 3:
        everyone_in.set()
    while line := await reader.readline():
        msg = f"{name}: {line.decode()}".encode()
        others = [w for n, w in clients if w is not writer]
        for w in others:
            w.write(msg)
        for w in others:
            await w.drain()
    clients.remove((name, writer))
    writer.close()
    await writer.wait_closed()

async def client(name, port):
    reader, writer = await asyncio.open_connection('127.0.0.1', port)
    writer.write(f"{name}\n".encode())
    await everyone_in.wait()
    writer.write(f"hello from {name}\n".encode())
    await writer.drain()
    got = [(await reader.readline()).decode().strip() for _ in range(2)]
    writer.close()
    await writer.wait_closed()
    return sorted(got)

async def main():
    server = await asyncio.start_server(handle, '127.0.0.1', 0)
    port = server.sockets[0].getsockname()[1]
    results = await asyncio.gather(*(client(n, port) for n in ("ada", "bob", "cy")))
    for n, got in zip(("ada", "bob", "cy"), results):
        print(f"{n} heard: {got}")
    server.close()
    await server.wait_closed()
    print("clients left:", len(clients))

asyncio.run(main())
