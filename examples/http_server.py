# The local HTTP/1.1 server the fetch examples (ex25..ex30) start for
# themselves, on asyncio's streams; http_server.h is the same server for the
# C programs. Routes:
#   /delay/<ms>/<name>  wait ms milliseconds, then 200 "data from <name>"
#                       (if the client hangs up meanwhile, stop waiting)
#   /status/<code>      that status at once, body "status <code>"
#   /reset             abort the connection (a TCP reset, no response)
#   anything else       404
# Connections are kept alive (HTTP/1.1's default); `open` counts those whose handler runs.
import asyncio
import socket
import struct

REASONS = {200: "OK", 404: "Not Found", 500: "Internal Server Error"}


class HttpServer:
    def __init__(self):
        self.open = 0
        self.handlers = set()
        self.idle = asyncio.Event()
        self.idle.set()

    async def start(self):
        self.server = await asyncio.start_server(self.handle, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    def url(self, path):
        return f"http://127.0.0.1:{self.port}{path}"

    async def handle(self, reader, writer):
        self.open += 1
        self.idle.clear()
        self.handlers.add(asyncio.current_task())
        try:
            while await self.serve_one(reader, writer):
                pass
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass
        finally:
            self.handlers.discard(asyncio.current_task())
            writer.close()
            self.open -= 1
            if self.open == 0:
                self.idle.set()

    # One request; False when the connection is to end.
    async def serve_one(self, reader, writer):
        head = await reader.readuntil(b"\r\n\r\n")
        target = head.decode("latin-1").split(" ")[1]  # GET <target> HTTP/1.1
        parts = target.split("/")
        if target == "/reset":
            sock = writer.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            writer.transport.abort()
            return False
        if len(parts) == 4 and parts[1] == "delay" and parts[2].isdigit():
            try:  # the delay, cut short if the client hangs up
                await asyncio.wait_for(reader.read(1), int(parts[2]) / 1000)
                return False
            except asyncio.TimeoutError:
                pass
            status, body = 200, f"data from {parts[3]}"
        elif len(parts) == 3 and parts[1] == "status" and parts[2].isdigit():
            status, body = int(parts[2]), f"status {parts[2]}"
        else:
            status, body = 404, "status 404"
        writer.write(f"HTTP/1.1 {status} {REASONS.get(status, 'Unknown')}\r\n"
                     f"Content-Type: text/plain\r\nContent-Length: {len(body)}\r\n"
                     f"\r\n{body}".encode())
        await writer.drain()
        return True

    # Wait (at most `timeout` seconds) until no connection is open; the count.
    async def wait_idle(self, timeout):
        try:
            await asyncio.wait_for(self.idle.wait(), timeout)
        except asyncio.TimeoutError:
            pass
        return self.open

    # Stop listening, end the connections (their handlers return), wait
    # until they are gone.
    async def stop(self):
        self.server.close()
        for t in self.handlers:
            t.cancel()
        await asyncio.gather(*self.handlers, return_exceptions=True)
        await self.server.wait_closed()


async def start_server():
    return await HttpServer().start()


def closed_port():
    """A loopback port nobody listens on: bound once, then let go."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def show(text):
    """text with the port numbers of its loopback URLs written as PORT."""
    out, key = "", "127.0.0.1:"
    while key in text:
        head, text = text.split(key, 1)
        out += head + key + "PORT"
        text = text.lstrip("0123456789")
    return out + text
