# A pipeline of two processes, as the shell's `printf ... | sort -r`: the
# first one's stdout is the write end of a pipe whose read end is the
# second one's stdin; the parent reads the second one's output.
import asyncio
import os

async def main():
    read_end, write_end = os.pipe()
    producer = await asyncio.create_subprocess_exec(
        'printf', 'cherry\napple\nbanana\n', stdout=write_end)
    consumer = await asyncio.create_subprocess_exec(
        'sort', '-r', stdin=read_end, stdout=asyncio.subprocess.PIPE)
    os.close(write_end)  # the children hold their own copies
    os.close(read_end)
    stdout, _ = await consumer.communicate()
    for line in stdout.decode().splitlines():
        print(line)
    print(f'printf exited with {await producer.wait()}, sort with {consumer.returncode}')

asyncio.run(main())
