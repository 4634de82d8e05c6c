"""toxiproxy between real parts: cut a connection, add latency or resets, restore it.

`scripts/setup.sh` builds the server into `.venv/bin/toxiproxy-server`. `Toxiproxy` starts
one on loopback (API port 18474 + FLINK_RAG_PORT_OFFSET), stops the process it started (by
its pid, never by name), and manages proxies over the REST API. A proxy listens on its own
loopback port and forwards to the real part; a client pointed at the proxy sees whatever
the test does to it: `disable()` refuses and drops connections (an outage), `toxic(...)`
adds latency, resets or a bandwidth cap.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from flink_rag.connectors.errors import FlinkRagError
from flink_rag.local.config import port_offset

API_PORT = 18474
FIRST_PROXY_PORT = 18475  # proxies take the ports after the API's (both shifted by the offset)
START_TIMEOUT_S = 15.0
REQUEST_TIMEOUT_S = 5.0


class ToxiproxyError(FlinkRagError):
    """toxiproxy is missing, did not start, or refused a request."""


def server_binary() -> Path:
    """The toxiproxy server of this environment (next to its Python), else on PATH."""
    here = Path(sys.executable).parent / "toxiproxy-server"
    if here.is_file():
        return here
    found = shutil.which("toxiproxy-server")
    if found:
        return Path(found)
    raise ToxiproxyError(
        "toxiproxy-server not found next to this Python or on PATH; run `make setup` "
        "(it builds toxiproxy with `go install`)"
    )


@dataclass
class Proxy:
    """One proxy: `listen` is the address clients use instead of the real part's."""

    api: str
    name: str
    listen: str

    @property
    def port(self) -> int:
        return int(self.listen.rsplit(":", 1)[1])

    def _post(self, path: str, body: dict[str, Any]) -> Any:
        response = requests.post(f"{self.api}{path}", json=body, timeout=REQUEST_TIMEOUT_S)
        if response.status_code >= 300:
            raise ToxiproxyError(
                f"toxiproxy refused {path}: {response.status_code} {response.text}"
            )
        return response.json() if response.content else None

    def disable(self) -> None:
        """An outage: new connections are refused and open ones are closed."""
        self._post(f"/proxies/{self.name}", {"enabled": False})

    def enable(self) -> None:
        self._post(f"/proxies/{self.name}", {"enabled": True})

    def toxic(
        self, kind: str, stream: str = "downstream", toxicity: float = 1.0, **attributes: Any
    ) -> str:
        """Add a toxic (`latency` latency=ms jitter=ms, `reset_peer` timeout=ms,
        `timeout` timeout=ms, `bandwidth` rate=KB/s); returns its name for `untoxic`."""
        name = f"{kind}_{stream}"
        body = {
            "name": name,
            "type": kind,
            "stream": stream,
            "toxicity": toxicity,
            "attributes": attributes,
        }
        self._post(f"/proxies/{self.name}/toxics", body)
        return name

    def untoxic(self, name: str) -> None:
        response = requests.delete(
            f"{self.api}/proxies/{self.name}/toxics/{name}", timeout=REQUEST_TIMEOUT_S
        )
        if response.status_code not in (200, 204, 404):
            raise ToxiproxyError(f"toxiproxy could not remove toxic {name}: {response.text}")


class Toxiproxy:
    """A toxiproxy server started (and stopped) by this object."""

    def __init__(
        self, host: str = "127.0.0.1", api_port: int | None = None, log: Path | None = None
    ):
        self.host = host
        self.api_port = API_PORT + port_offset() if api_port is None else api_port
        self.api = f"http://{host}:{self.api_port}"
        self.log = log
        self._process: subprocess.Popen[bytes] | None = None
        self._next_port = FIRST_PROXY_PORT + port_offset()

    def start(self) -> Toxiproxy:
        try:  # another toxiproxy on this port would answer for ours: refuse to share it
            requests.get(f"{self.api}/version", timeout=1.0)
        except requests.RequestException:
            pass
        else:
            raise ToxiproxyError(
                f"a toxiproxy already answers on {self.api}; stop it (its proxies would be "
                "shared) or set FLINK_RAG_PORT_OFFSET to move this one"
            )
        out = open(self.log, "ab") if self.log else subprocess.DEVNULL  # noqa: SIM115
        self._process = subprocess.Popen(
            [str(server_binary()), "-host", self.host, "-port", str(self.api_port)],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise ToxiproxyError(
                    f"toxiproxy exited with {self._process.returncode} at start; is port "
                    f"{self.api_port} taken? (set FLINK_RAG_PORT_OFFSET to move it)"
                )
            try:
                requests.get(f"{self.api}/version", timeout=1.0).raise_for_status()
                return self
            except requests.RequestException:
                time.sleep(0.1)
        self.stop()
        raise ToxiproxyError(f"toxiproxy did not answer on {self.api} within {START_TIMEOUT_S:g}s")

    def stop(self) -> None:
        if self._process is None:
            return
        self._process.terminate()
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait(timeout=10)
        self._process = None

    def __enter__(self) -> Toxiproxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def proxy(self, name: str, upstream: str) -> Proxy:
        """A proxy to `upstream` ("host:port") on the next free proxy port."""
        listen = f"{self.host}:{self._next_port}"
        self._next_port += 1
        body: dict[str, Any] = {
            "name": name,
            "listen": listen,
            "upstream": upstream,
            "enabled": True,
        }
        response = requests.post(f"{self.api}/proxies", json=body, timeout=REQUEST_TIMEOUT_S)
        if response.status_code >= 300:
            raise ToxiproxyError(f"toxiproxy could not create proxy {name}: {response.text}")
        return Proxy(self.api, name, listen)
