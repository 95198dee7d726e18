# The UDP echo server and client of the asyncio docs, in one program: the
# server echoes each datagram; the client sends one and waits for the echo.
import asyncio

class EchoServerProtocol:
    def connection_made(self, transport):
        self.transport = transport

    def datagram_received(self, data, addr):
        message = data.decode()
        print(f"Received {message!r}")
        print(f"Send {message!r}")
        self.transport.sendto(data, addr)

    def connection_lost(self, exc):
        pass

class EchoClientProtocol:
    def __init__(self, message, on_con_lost):
        self.message = message
        self.on_con_lost = on_con_lost

    def connection_made(self, transport):
        self.transport = transport
        print('Send:', self.message)
        self.transport.sendto(self.message.encode())

    def datagram_received(self, data, addr):
        print("Received:", data.decode())
        print("Close the socket")
        self.transport.close()

    def error_received(self, exc):
        print('Error received:', exc)

    def connection_lost(self, exc):
        self.on_con_lost.set_result(True)

async def main():
    loop = asyncio.get_running_loop()
    server, _ = await loop.create_datagram_endpoint(
        EchoServerProtocol, local_addr=('127.0.0.1', 0))
    port = server.get_extra_info('sockname')[1]
    on_con_lost = loop.create_future()
    client, _ = await loop.create_datagram_endpoint(
        lambda: EchoClientProtocol("Hello World!", on_con_lost),
        remote_addr=('127.0.0.1', port))
    try:
        await on_con_lost
    finally:
        client.close()
        server.close()

asyncio.run(main())
