# The echo server and client of ex17 over a Unix socket (a path in the
# temporary directory, removed at the end).
import asyncio
import os
import tempfile

async def handle_echo(reader, writer):
    data = await reader.read(100)
    message = data.decode()
    print(f"Received {message!r}")
    print(f"Send: {message!r}")
    writer.write(data)
    await writer.drain()
    print("Close the connection")
    writer.close()
    await writer.wait_closed()

async def unix_echo_client(message, path):
    reader, writer = await asyncio.open_unix_connection(path)
    print(f'Send: {message!r}')
    writer.write(message.encode())
    await writer.drain()
    data = await reader.read(100)
    print(f'Received: {data.decode()!r}')
    print('Close the connection')
    writer.close()
    await writer.wait_closed()

async def main():
    path = os.path.join(tempfile.gettempdir(), 'corio-ex18-%d.sock' % os.getpid())
    server = await asyncio.start_unix_server(handle_echo, path)
    print('Serving on a Unix socket')
    await unix_echo_client('Hello World!', path)
    server.close()
    await server.wait_closed()
    os.unlink(path)

asyncio.run(main())
