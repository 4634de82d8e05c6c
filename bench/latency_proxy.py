"""A TCP proxy on loopback that delays each reply chunk by a fixed time, for benchmarks.

Written by hand because toxiproxy is not installed here; it only adds latency (no faults) and
only serves the vector-search benchmark's remote-latency case. Like toxiproxy's latency toxic
(downstream), it delays what the server sends back; replies are a queue of (due time, bytes),
so delays overlap across requests in flight as on a network.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from urllib.parse import urlparse


class LatencyProxy:
    def __init__(self, target_uri: str, delay_s: float):
        parsed = urlparse(target_uri)
        self.target = (parsed.hostname or "127.0.0.1", parsed.port or 27017)
        self.delay_s = delay_s
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = int(s.getsockname()[1])
        self.uri = f"mongodb://127.0.0.1:{self.port}/?directConnection=true"
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.base_events.Server | None = None

    def __enter__(self) -> LatencyProxy:
        self._thread.start()
        fut = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(self._handle, "127.0.0.1", self.port), self._loop
        )
        self._server = fut.result(timeout=10)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._server is not None:
            self._loop.call_soon_threadsafe(self._server.close)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(*self.target)
        await asyncio.gather(
            self._pipe(reader, up_writer, 0.0), self._pipe(up_reader, writer, self.delay_s)
        )

    async def _pipe(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, delay_s: float
    ) -> None:
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
