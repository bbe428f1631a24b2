#!/usr/bin/env python3
"""A TCP proxy that can cut its link, for the cluster fault test.

    scripts/tcp-proxy.py LISTEN_PORT TARGET_PORT [--pid-file FILE]

Forwards 127.0.0.1:LISTEN_PORT to 127.0.0.1:TARGET_PORT. SIGUSR1 cuts the
link: every open connection is closed and new ones are refused, as when a
network partition separates one instance from Redis. SIGUSR2 heals it.
The proxy itself stays up until SIGTERM.
"""

import argparse
import asyncio
import os
import signal
import sys


class Proxy:
    def __init__(self, listen_port: int, target_port: int) -> None:
        self.listen_port = listen_port
        self.target_port = target_port
        self.server: asyncio.base_events.Server | None = None
        self.links: set[asyncio.StreamWriter] = set()

    async def open(self) -> None:
        self.server = await asyncio.start_server(self.serve, "127.0.0.1", self.listen_port, reuse_address=True)
        log(f"forwarding :{self.listen_port} -> :{self.target_port}")

    async def cut(self) -> None:
        if self.server is None:
            return
        self.server.close()
        await self.server.wait_closed()
        self.server = None
        for writer in list(self.links):
            writer.transport.abort()
        self.links.clear()
        log("link cut: connections closed, new ones refused")

    async def heal(self) -> None:
        if self.server is None:
            await self.open()
            log("link healed")

    async def serve(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        try:
            target_reader, target_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            client_writer.transport.abort()
            return
        self.links.update((client_writer, target_writer))
        await asyncio.gather(
            pipe(client_reader, target_writer),
            pipe(target_reader, client_writer),
            return_exceptions=True,
        )
        for writer in (client_writer, target_writer):
            self.links.discard(writer)
            writer.transport.abort()


async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    finally:
        writer.transport.abort()


def log(message: str) -> None:
    print(f"tcp-proxy: {message}", file=sys.stderr, flush=True)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("listen_port", type=int)
    parser.add_argument("target_port", type=int)
    parser.add_argument("--pid-file")
    args = parser.parse_args()

    proxy = Proxy(args.listen_port, args.target_port)
    await proxy.open()
    if args.pid_file:
        with open(args.pid_file, "w", encoding="ascii") as pid_file:
            pid_file.write(f"{os.getpid()}\n")
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGUSR1, lambda: asyncio.ensure_future(proxy.cut()))
    loop.add_signal_handler(signal.SIGUSR2, lambda: asyncio.ensure_future(proxy.heal()))
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    await stop.wait()


if __name__ == "__main__":
    asyncio.run(main())
