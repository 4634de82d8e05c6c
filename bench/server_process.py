"""The load server in its own process, driven over its admin endpoints.

A separate process keeps its CPU and memory out of the contenders' measurements and lets
every contender of a run share one server.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from typing import Any

START_TIMEOUT_S = 30.0


class LoadServerProcess:
    def __init__(self, **knobs: Any) -> None:
        self._knobs = knobs
        self._proc: subprocess.Popen[bytes] | None = None
        self.port = 0

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        return self.url + "/v1"

    def start(self) -> LoadServerProcess:
        fd, port_file = tempfile.mkstemp(prefix="load-server-", suffix=".port")
        os.close(fd)
        os.unlink(port_file)
        cmd = [sys.executable, "-m", "flink_rag_bench.load_server", "--port-file", port_file]
        for name, value in self._knobs.items():
            if value is not None:
                cmd += [f"--{name.replace('_', '-')}", str(value)]
        self._proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL)
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(f"load server exited with {self._proc.returncode}; see stderr")
            if os.path.exists(port_file) and os.path.getsize(port_file):
                with open(port_file, encoding="utf-8") as f:
                    self.port = int(f.read())
                os.unlink(port_file)
                return self
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"load server did not start within {START_TIMEOUT_S:.0f}s")

    def stop(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(timeout=10)
        self._proc = None

    def __enter__(self) -> LoadServerProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _call(self, method: str, path: str, body: Any = None) -> dict[str, Any]:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method)
        req.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(req, timeout=30) as resp:
            return json.load(resp)

    def configure(self, **knobs: Any) -> dict[str, Any]:
        return self._call("POST", "/admin/config", knobs)

    def reset(self) -> None:
        self._call("POST", "/admin/reset", {})

    def stats(self) -> dict[str, Any]:
        return self._call("GET", "/stats")
