# The TCP echo server and client of the asyncio docs over TLS, in one
# program: a self-signed certificate for localhost made for the run (by the
# openssl command), a server with it, a client that trusts it, and one that
# does not (the system's CAs), whose handshake fails.
import asyncio
import os
import ssl
import subprocess
import tempfile

def make_certificate(d):
    cert, key = os.path.join(d, 'cert.pem'), os.path.join(d, 'key.pem')
    subprocess.run(['openssl', 'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256',
                    '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=localhost',
                    '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1'],
                   check=True, capture_output=True)
    return cert, key

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

async def tls_echo_client(message, port, context):
    reader, writer = await asyncio.open_connection('127.0.0.1', port, ssl=context,
                                                   server_hostname='localhost')
    print(f"Connected with {writer.get_extra_info('ssl_object').version()}")
    print(f'Send: {message!r}')
    writer.write(message.encode())
    await writer.drain()
    data = await reader.read(100)
    print(f'Received: {data.decode()!r}')
    print('Close the connection')
    writer.close()
    await writer.wait_closed()

async def main():
    with tempfile.TemporaryDirectory() as d:
        cert, key = make_certificate(d)
        server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        server_context.load_cert_chain(cert, key)
        client_context = ssl.create_default_context(cafile=cert)
        server = await asyncio.start_server(handle_echo, '127.0.0.1', 0, ssl=server_context)
        port = server.sockets[0].getsockname()[1]
        print('Serving TLS on 127.0.0.1')
        await tls_echo_client('Hello World!', port, client_context)
        try:
            await asyncio.open_connection('127.0.0.1', port, ssl=ssl.create_default_context(),
                                          server_hostname='localhost')
        except ssl.SSLCertVerificationError as e:
            print(f'Without trusting it: {e.verify_message}')
        server.close()
        await server.wait_closed()

asyncio.run(main())
