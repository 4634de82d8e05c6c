"""A TCP proxy in front of MongoDB that delays only the replies to `aggregate` commands: a
server that is slow to answer a `$vectorSearch` while its handshakes and heartbeats stay fast
(toxiproxy's latency delays every byte, so the client would also see the server as down).

A fault double for tests: it reads the wire protocol's message header (length, requestID,
responseTo) and the first key of an OP_MSG body, nothing more.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
import time

_HEADER = struct.Struct("<iiii")  # messageLength, requestID, responseTo, opCode
_OP_MSG = 2013


def _read_message(sock: socket.socket) -> bytes | None:
    header = _read_exactly(sock, _HEADER.size)
    if header is None:
        return None
    length = _HEADER.unpack(header)[0]
    body = _read_exactly(sock, length - _HEADER.size)
    return None if body is None else header + body


def _read_exactly(sock: socket.socket, n: int) -> bytes | None:
    chunks = bytearray()
    while len(chunks) < n:
        try:
            chunk = sock.recv(n - len(chunks))
        except OSError:
            return None
        if not chunk:
            return None
        chunks += chunk
    return bytes(chunks)


def _command_name(message: bytes) -> str:
    """The first key of an OP_MSG's body section (flagBits, kind 0, then a BSON document)."""
    if _HEADER.unpack_from(message)[3] != _OP_MSG or len(message) < 27:
        return ""
    start = _HEADER.size + 4 + 1 + 4 + 1  # flags, section kind, document length, element type
    end = message.find(b"\x00", start)
    return message[start:end].decode("latin-1") if end > 0 else ""


class SlowAggregateProxy:
    """Listens on 127.0.0.1:<port>; replies to `aggregate` arrive `delay_s` late."""

    def __init__(self, upstream: tuple[str, int], delay_s: float):
        self.upstream = upstream
        self.delay_s = delay_s
        self.aggregates = 0
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._closed = threading.Event()
        self._sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            server = socket.create_connection(self.upstream)
            self._sockets += [client, server]
            slow: set[int] = set()
            threading.Thread(
                target=self._pump, args=(client, server, slow, True), daemon=True
            ).start()
            threading.Thread(
                target=self._pump, args=(server, client, slow, False), daemon=True
            ).start()

    def _pump(self, src: socket.socket, dst: socket.socket, slow: set[int], requests: bool) -> None:
        while True:
            message = _read_message(src)
            if message is None:
                break
            _, request_id, response_to, _ = _HEADER.unpack_from(message)
            if requests and _command_name(message) == "aggregate":
                self.aggregates += 1
                slow.add(request_id)
            elif not requests and response_to in slow:
                slow.discard(response_to)
                time.sleep(self.delay_s)
            try:
                dst.sendall(message)
            except OSError:
                break
        for sock in (src, dst):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self._closed.set()
        self._listener.close()
        for sock in self._sockets:
            sock.close()
