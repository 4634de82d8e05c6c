"""The load server's own ceiling: how many embeddings it serves with no Flink job in the way.

A load generator that is not the code under test: plain keep-alive HTTP connections from the
standard library, one thread each, in a process of its own, sending the request EMBED sends
(the bench's inputs, `bench-embedding`, base64 like the openai SDK) and reading the answer's
bytes without decoding them. What it measures is the server: answers/s and inputs/s at a
given batch size, dimensions and number of requests in flight.

    python -m flink_rag_bench.load_ceiling --url http://127.0.0.1:18100 --concurrency 16
"""

from __future__ import annotations

import argparse
import http.client
import json
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass
from urllib.parse import urlsplit

REQUEST_TIMEOUT_S = 120.0
ERROR_PAUSE_S = 0.1


@dataclass(frozen=True)
class Ceiling:
    """What the generator saw over its window."""

    requests: int
    inputs: int
    errors: int
    seconds: float
    concurrency: int
    batch: int
    dimensions: int
    encoding_format: str

    @property
    def requests_per_s(self) -> float:
        return self.requests / self.seconds if self.seconds > 0 else 0.0

    @property
    def inputs_per_s(self) -> float:
        return self.inputs / self.seconds if self.seconds > 0 else 0.0

    def as_dict(self) -> dict[str, object]:
        return {
            **asdict(self),
            "requests_per_s": self.requests_per_s,
            "inputs_per_s": self.inputs_per_s,
        }


def request_body(batch: int, dimensions: int, encoding_format: str, salt: str = "ceiling") -> bytes:
    """The body of one embeddings request like EMBED's: `batch` distinct bench inputs."""
    texts = [f"{salt} row {i} needs a seat" for i in range(1, batch + 1)]
    body = {
        "model": "bench-embedding",
        "input": texts,
        "dimensions": dimensions,
        "encoding_format": encoding_format,
    }
    return json.dumps(body).encode()


def generate(
    url: str,
    concurrency: int,
    seconds: float,
    batch: int,
    dimensions: int,
    encoding_format: str = "base64",
) -> Ceiling:
    """Keep `concurrency` requests in flight for `seconds`; count answers that completed."""
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    body = request_body(batch, dimensions, encoding_format)
    headers = {"Content-Type": "application/json", "Authorization": "Bearer bench-dummy-key"}
    lock = threading.Lock()
    counts = {"requests": 0, "errors": 0}
    start = time.monotonic()
    deadline = start + seconds
    finished: list[float] = []

    def worker() -> None:
        conn = http.client.HTTPConnection(host, port, timeout=REQUEST_TIMEOUT_S)
        try:
            while time.monotonic() < deadline:
                try:
                    conn.request("POST", "/v1/embeddings", body=body, headers=headers)
                    resp = conn.getresponse()
                    resp.read()
                    ok = resp.status == 200
                except (OSError, http.client.HTTPException):
                    conn.close()
                    ok = False
                with lock:
                    counts["requests" if ok else "errors"] += 1
                if not ok:
                    time.sleep(ERROR_PAUSE_S)  # a refused connection must not spin a core
            finished.append(time.monotonic())
        finally:
            conn.close()

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=seconds + REQUEST_TIMEOUT_S)
    # Requests still running at the deadline finish after it: the window ends with the last.
    window = (max(finished) if finished else time.monotonic()) - start
    return Ceiling(
        requests=counts["requests"],
        inputs=counts["requests"] * batch,
        errors=counts["errors"],
        seconds=window,
        concurrency=concurrency,
        batch=batch,
        dimensions=dimensions,
        encoding_format=encoding_format,
    )


def measure_in_process(
    url: str,
    concurrency: int,
    seconds: float,
    batch: int,
    dimensions: int,
    encoding_format: str = "base64",
) -> Ceiling:
    """`generate` in a process of its own, so its CPU is not the caller's (nor its GIL)."""
    cmd = [
        sys.executable, "-m", "flink_rag_bench.load_ceiling", "--url", url,
        "--concurrency", str(concurrency), "--seconds", str(seconds), "--batch", str(batch),
        "--dimensions", str(dimensions), "--encoding-format", encoding_format,
    ]  # fmt: skip
    out = subprocess.run(
        cmd, capture_output=True, text=True, check=True, timeout=seconds + REQUEST_TIMEOUT_S + 30
    )
    raw = json.loads(out.stdout.strip().splitlines()[-1])
    fields = {k: raw[k] for k in Ceiling.__dataclass_fields__}
    return Ceiling(**fields)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--url", required=True, help="the load server, e.g. http://127.0.0.1:18100")
    p.add_argument("--concurrency", type=int, default=16)
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--batch", type=int, default=2048)
    p.add_argument("--dimensions", type=int, default=256)
    p.add_argument("--encoding-format", choices=["base64", "float"], default="base64")
    args = p.parse_args(argv)
    result = generate(
        args.url, args.concurrency, args.seconds, args.batch, args.dimensions,
        args.encoding_format,
    )  # fmt: skip
    print(json.dumps(result.as_dict()), flush=True)
    return 0 if result.requests else 1


if __name__ == "__main__":
    raise SystemExit(main())
