"""A loopback-and-LAN HTTP server that records every request (path, Authorization header,
body) and answers 401: what an attacker's collector would see of a job's calls."""

from __future__ import annotations

import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class CaptureServer:
    def __init__(self, host: str = "0.0.0.0"):
        self.requests: list[dict[str, str]] = []
        captured = self.requests

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                captured.append(
                    {
                        "path": self.path,
                        "authorization": self.headers.get("Authorization", ""),
                        "headers": str(self.headers),
                        "body": self.rfile.read(length).decode("utf-8", "replace"),
                    }
                )
                body = b'{"error": {"message": "captured", "type": "invalid_request_error"}}'
                self.send_response(401)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer((host, 0), Handler)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> CaptureServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


def lan_address() -> str | None:
    """An address of this machine that is not loopback: what a remote collector looks like."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # no packet is sent: picks the outgoing address
            address = probe.getsockname()[0]
        except OSError:
            return None
    return None if address.startswith("127.") else address
