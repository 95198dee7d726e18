# Graceful shutdown of a server on SIGINT or SIGTERM: stop accepting, let
# the handlers at work finish within a deadline, then cancel the ones still
# running. The program sends itself SIGTERM once three clients are being
# served, so that its output is always the same.
import asyncio, os, signal

WORK = {"alice": 0.1, "bob": 0.2, "carol": 3600}  # seconds of work per request
DEADLINE = 1.0

handlers = set()   # the handler tasks at work
connected = 0

async def handle(reader, writer):
    global connected
    handlers.add(asyncio.current_task())
    name = (await reader.readline()).decode().strip()
    print(f"{name}: working")
    connected += 1
    if connected == len(WORK):
        all_connected.set()
    try:
        await asyncio.sleep(WORK[name])
        writer.write(b"done\n")
        await writer.drain()
        print(f"{name}: finished")
    except asyncio.CancelledError:
        # Cancelled by the shutdown: this connection ends here (returning
        # rather than re-raising: 3.11's start_server logs a cancelled one).
        print(f"{name}: cancelled")
    finally:
        writer.close()

async def client(name, port):
    reader, writer = await asyncio.open_connection('127.0.0.1', port)
    writer.write(f"{name}\n".encode())
    await writer.drain()
    reply = await reader.readline()
    print(f"client {name}: {reply.decode().strip() or 'connection closed'}")
    writer.close()
    await writer.wait_closed()

def on_signal(name, stop):
    print(f"{name}: shutting down")
    stop.set()

async def main():
    global all_connected
    all_connected = asyncio.Event()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig, name in ((signal.SIGINT, "SIGINT"), (signal.SIGTERM, "SIGTERM")):
        loop.add_signal_handler(sig, on_signal, name, stop)

    server = await asyncio.start_server(handle, '127.0.0.1', 0)
    port = server.sockets[0].getsockname()[1]
    print("serving")
    clients = [asyncio.create_task(client(name, port)) for name in WORK]
    await all_connected.wait()
    os.kill(os.getpid(), signal.SIGTERM)    # as `kill PID` would

    await stop.wait()
    server.close()                          # 1. stop accepting
    print("no longer accepting")
    done, pending = await asyncio.wait(handlers, timeout=DEADLINE)  # 2. a deadline
    print(f"deadline: {len(done)} finished, {len(pending)} still running")
    for t in pending:                       # 3. cancel the rest
        t.cancel()
    await asyncio.wait(pending)
    await asyncio.gather(*clients)
    try:
        await asyncio.open_connection('127.0.0.1', port)
    except ConnectionRefusedError:
        print("a new connection is refused")
    await server.wait_closed()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.remove_signal_handler(sig)
    print("shut down")

asyncio.run(main())
