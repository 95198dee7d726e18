# Names: the addresses of "localhost" (from /etc/hosts, looked up off the
# loop), a server on all of them, a client that reaches it by name with
# Happy Eyeballs on, and a connection refused. Nothing leaves the machine.
import asyncio
import socket


async def greet(reader, writer):
    writer.write(b'hello from the server\n')
    await writer.drain()
    writer.close()
    await writer.wait_closed()


async def main():
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo('localhost', 80, type=socket.SOCK_STREAM)
    for family, _, _, _, addr in infos:
        print('localhost:', family.name, addr[0], addr[1])

    server = await asyncio.start_server(greet, 'localhost', 0)
    port = server.sockets[0].getsockname()[1]
    print('serving on', len(server.sockets), 'address(es) of localhost')
    reader, writer = await asyncio.open_connection('localhost', port, happy_eyeballs_delay=0.25)
    print('got:', (await reader.readline()).decode().strip())
    writer.close()
    await writer.wait_closed()
    server.close()
    await server.wait_closed()

    # A port nobody listens on (a bound socket keeps it ours), on the IPv4
    # addresses of localhost.
    with socket.socket() as keep:
        keep.bind(('127.0.0.1', 0))
        try:
            await asyncio.open_connection('localhost', keep.getsockname()[1], family=socket.AF_INET)
        except OSError as e:
            print('refused:', type(e).__name__, e.errno)

asyncio.run(main())
