# Run a command and read its output line by line, as it comes (asyncio's
# subprocess docs: create_subprocess_exec with stdout=PIPE, readline).
import asyncio

SCRIPT = 'for i in 1 2 3; do echo "tick $i"; sleep 0.1; done; echo done >&2; exit 3'

async def main():
    proc = await asyncio.create_subprocess_exec(
        'sh', '-c', SCRIPT,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    n = 0
    while True:
        line = await proc.stdout.readline()
        if not line:
            break
        n += 1
        print(f'line {n}: {line.decode().rstrip()}')
    returncode = await proc.wait()
    print(f'[sh exited with {returncode}]')

asyncio.run(main())
