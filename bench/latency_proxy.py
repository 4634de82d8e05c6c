"""A TCP proxy on loopback that delays each reply chunk by a fixed time, for benchmarks.

Written by hand because toxiproxy is not installed here; it only adds latency (no faults) and
only serves the vector-search benchmark's remote-latency case. Like toxiproxy's latency toxic
(downstream), it delays what the server sends back; replies are a queue of (due time, bytes),
so delays overlap across requests in flight as on a network. It runs in its own process, so
its event loop does not compete with the benchmark's client threads for the GIL.

    python -m flink_rag_bench.latency_proxy TARGET_HOST TARGET_PORT DELAY_S LISTEN_PORT
"""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import time
from urllib.parse import urlparse

START_TIMEOUT_S = 10.0


class LatencyProxy:
    """`with LatencyProxy(uri, 0.02) as proxy:` — connect to `proxy.uri` instead of `uri`."""

    def __init__(self, target_uri: str, delay_s: float):
        parsed = urlparse(target_uri)
        self.target = (parsed.hostname or "127.0.0.1", parsed.port or 27017)
        self.delay_s = delay_s
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = int(s.getsockname()[1])
        self.uri = f"mongodb://127.0.0.1:{self.port}/?directConnection=true"
        self._proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> LatencyProxy:
        host, port = self.target
        argv = [sys.executable, "-m", "flink_rag_bench.latency_proxy", host, str(port)]
        self._proc = subprocess.Popen([*argv, str(self.delay_s), str(self.port)])
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return self
            except OSError:
                if time.monotonic() > deadline or self._proc.poll() is not None:
                    self.__exit__()
                    raise RuntimeError("the latency proxy did not start") from None
                time.sleep(0.1)

    def __exit__(self, *exc: object) -> None:
        if self._proc is not None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(timeout=10)
            self._proc = None


async def _serve(target: tuple[str, int], delay_s: float, port: int) -> None:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(*target)
        await asyncio.gather(_pipe(reader, up_writer, 0.0), _pipe(up_reader, writer, delay_s))

    server = await asyncio.start_server(handle, "127.0.0.1", port)
    async with server:
        await server.serve_forever()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, delay_s: float) -> None:
    queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

    async def send() -> None:
        while True:
            due, chunk = await queue.get()
            if not chunk:
                break
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            writer.write(chunk)
            await writer.drain()
        writer.close()

    sender = asyncio.create_task(send())
    try:
        while True:
            chunk = await reader.read(65536)
            queue.put_nowait((time.monotonic() + delay_s, chunk))
            if not chunk:
                break
    except ConnectionError:
        queue.put_nowait((0.0, b""))
    await sender


if __name__ == "__main__":
    host, port, delay, listen = sys.argv[1:5]
    asyncio.run(_serve((host, int(port)), float(delay), int(listen)))
