"""Deterministic OpenAI-compatible HTTP server for benchmarks and fault tests.

Serves `POST /v1/embeddings`, `POST /v1/chat/completions` and `GET /v1/models` on loopback
with a configurable per-request latency and per-item cost, RPM/TPM limits answered the way
OpenAI answers them (`x-ratelimit-*` headers on every answer, 429 + Retry-After), and a
deterministic fault schedule (see `faults.py`). Counters are exposed at `GET /stats` and by
`LoadServer.stats()`; `POST /admin/reset` clears them and
`POST /admin/config` changes the knobs of a running server (one server for every contender).

Transport: the stdlib ThreadingHTTPServer, one thread per connection. Handlers spend their
time sleeping (the simulated latency), not computing, so a few hundred threads are cheap;
what matters on 2 cores is a deep listen backlog (hundreds of clients connect at once) and
no Nagle delay between headers and body — both set below. It adds no dependency to CI.

    python -m flink_rag_bench.load_server --port 18100 --latency-ms 50 --rpm 600
    with LoadServer(latency_ms=20) as server:
        client = openai.OpenAI(base_url=server.base_url, api_key="dummy")
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import re
import signal
import socket
import threading
from dataclasses import asdict, dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from flink_rag_bench import fake_responses as fake
from flink_rag_bench.load_state import Backend, ServerConfig

EMBEDDINGS = "/v1/embeddings"
CHAT = "/v1/chat/completions"
PROMPT_LATENCY = re.compile(r"\blatency_ms=(\d+)")
BROKEN_JSON = b'{"object": "list", "data": [{"object": "embedding", "embe'


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: clients reuse their pooled connections
    disable_nagle_algorithm = True
    timeout = 120  # idle keep-alive connections release their thread eventually
    backend: Backend  # set on the per-server subclass

    def setup(self) -> None:
        super().setup()
        self._quickack()

    def handle_one_request(self) -> None:
        super().handle_one_request()
        self._quickack()

    def _quickack(self) -> None:
        # Clients that write headers and body in two segments with Nagle on (OkHttp in
        # flink-model-openai) otherwise stall ~40 ms per request on our delayed ACK.
        quickack = getattr(socket, "TCP_QUICKACK", None)
        if quickack is not None:
            with contextlib.suppress(OSError):
                self.connection.setsockopt(socket.IPPROTO_TCP, quickack, 1)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # per-request logging would cost more CPU than the answers

    def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)
        except OSError:  # the client gave up (e.g. after a timeout fault)
            self.close_connection = True

    def _send_json(self, status: int, obj: Any, headers: dict[str, str] | None = None) -> None:
        self._send(status, _dumps(obj), headers)

    def _error(self, status: int, message: str, kind: str) -> None:
        self._send(status, _error_body(message, kind))

    def do_GET(self) -> None:
        if self.path.rstrip("/") == "/v1/models":
            data = [
                {"id": name, "object": "model", "created": 0, "owned_by": "flink-rag-bench"}
                for name in ("bench-embedding", "bench-chat")
            ]
            self._send_json(200, {"object": "list", "data": data})
        elif self.path.rstrip("/") == "/stats":
            with self.backend.lock:
                snap = self.backend.stats.snapshot()
            self._send_json(200, {**snap, "config": asdict(self.backend.config)})
        else:
            self._error(404, f"no route GET {self.path}", "invalid_request_error")

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        path = self.path.rstrip("/")
        if path in ("/admin/reset", "/admin/config"):
            self._admin(path, raw)
            return
        if path not in (EMBEDDINGS, CHAT):
            self._error(404, f"no route POST {self.path}", "invalid_request_error")
            return
        backend = self.backend
        auth = self.headers.get("Authorization")
        if auth:
            with backend.lock:
                backend.stats.authorization_sha256 = hashlib.sha256(auth.encode()).hexdigest()
        backend.enter()
        reply = _Reply(500, _error_body("load server failed", "server_error"))
        try:
            reply = self._serve(path, raw)
        finally:
            # Count before answering: a client that reads /stats right after its answer
            # must see its own request.
            backend.leave(path, reply.status)
        self._send(reply.status, reply.body, reply.headers)

    def _admin(self, path: str, raw: bytes) -> None:
        if path == "/admin/reset":
            self.backend.reset()
            self._send_json(200, {"reset": True})
            return
        try:
            config = self.backend.config.with_changes(json.loads(raw or b"{}"))
            self.backend.configure(config)
        except (ValueError, TypeError) as err:
            self._error(400, str(err), "invalid_request_error")
            return
        self._send_json(200, {"config": asdict(config)})

    def _serve(self, path: str, raw: bytes) -> _Reply:
        backend = self.backend
        config = backend.config
        try:
            body = json.loads(raw)
            texts = fake.embedding_inputs(body) if path == EMBEDDINGS else []
            messages = body.get("messages", []) if path == CHAT else []
        except (ValueError, AttributeError) as err:
            return _Reply(400, _error_body(f"bad request body: {err}", "invalid_request_error"))
        fault = backend.schedule.next_fault(raw.decode("utf-8", "replace"))
        if fault is not None:
            with backend.lock:
                backend.stats.faults[fault] += 1
        if fault == "500":
            backend.sleep(config.latency_ms / 1000)
            return _Reply(500, _error_body("injected server error", "server_error"))
        if fault == "429":
            ms = config.fault_retry_after_ms
            hdrs = {"retry-after-ms": str(ms), "retry-after": str(max(1, -(-ms // 1000)))}
            return _Reply(429, _error_body("injected rate limit", "rate_limit_exceeded"), hdrs)
        prompt = "\n".join(texts) if path == EMBEDDINGS else fake.prompt_text(messages)
        prompt_tokens = sum(fake.estimate_tokens(t) for t in texts) or fake.estimate_tokens(prompt)
        # The TPM bucket is charged at admission the way OpenAI estimates a request: prompt
        # tokens plus the completion it may produce (max_tokens), not the tokens it will use.
        charged = prompt_tokens + _completion_budget(body) if path == CHAT else prompt_tokens
        decision = backend.limiter.acquire(charged)
        if not decision.allowed:
            with backend.lock:
                backend.stats.rate_limited += 1
            msg = f"Rate limit reached; please try again in {decision.retry_after_s:.3f}s."
            return _Reply(429, _error_body(msg, "rate_limit_exceeded"), decision.headers)
        delay = config.latency_ms + config.item_cost_ms * len(texts)
        asked = PROMPT_LATENCY.search(prompt) if config.prompt_latency and path == CHAT else None
        if asked is not None:
            delay = float(asked.group(1))
        backend.sleep((config.timeout_sleep_s * 1000 if fault == "timeout" else delay) / 1000)
        if fault == "badjson":
            return _Reply(200, BROKEN_JSON, decision.headers)
        model = str(body.get("model") or "bench")
        if path == EMBEDDINGS:
            dims = int(body.get("dimensions") or config.dimensions)
            fmt = str(body.get("encoding_format") or "float")
            data = fake.embedding_items(texts, dims, fmt)
            usage = {"prompt_tokens": prompt_tokens, "total_tokens": prompt_tokens}
            payload: dict[str, Any] = {
                "object": "list", "data": data, "model": model, "usage": usage,
            }  # fmt: skip
            completion_tokens, items = 0, len(texts)
        else:
            answer = fake.chat_answer(messages, body.get("response_format"))
            completion_tokens, items = fake.estimate_tokens(answer), 1
            payload = _chat_payload(model, answer, prompt_tokens, completion_tokens)
        with backend.lock:
            backend.stats.charged_tokens += charged
            backend.stats.items[path] += items
            backend.stats.prompt_tokens += prompt_tokens
            backend.stats.completion_tokens += completion_tokens
        return _Reply(200, _dumps(payload), decision.headers)


@dataclass(frozen=True)
class _Reply:
    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)


def _completion_budget(body: dict[str, Any]) -> int:
    for key in ("max_completion_tokens", "max_tokens"):
        value = body.get(key)
        if isinstance(value, int) and value > 0:
            return value
    return 0


def _dumps(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


def _error_body(message: str, kind: str) -> bytes:
    return _dumps({"error": {"message": message, "type": kind, "param": None, "code": None}})


def _chat_payload(model: str, answer: str, prompt_tokens: int, completion_tokens: int) -> dict:
    message = {"role": "assistant", "content": answer, "refusal": None}
    return {
        "id": "chatcmpl-" + fake.input_marker(answer),
        "object": "chat.completion",
        "created": 0,
        "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": "stop", "logprobs": None}],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024  # the default of 5 drops SYNs when hundreds connect at once
    allow_reuse_address = True


class LoadServer:
    """In-process server: `with LoadServer(latency_ms=20) as s: ... s.base_url ... s.stats()`."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, **knobs: Any) -> None:
        self._backend = Backend(ServerConfig().with_changes(knobs))
        handler = type("Handler", (_Handler,), {"backend": self._backend})
        self._host = host
        self._httpd = _Server((host, port), handler)
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        return f"http://{self._host}:{self.port}"

    @property
    def base_url(self) -> str:
        return self.url + "/v1"

    @property
    def config(self) -> ServerConfig:
        return self._backend.config

    def configure(self, **knobs: Any) -> None:
        self._backend.configure(self._backend.config.with_changes(knobs))

    def stats(self) -> dict[str, Any]:
        with self._backend.lock:
            return self._backend.stats.snapshot()

    def reset_stats(self) -> None:
        self._backend.reset()

    def start(self) -> LoadServer:
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, name="load-server", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._backend.stopping.set()  # wakes handlers sleeping on latency or timeout faults
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join(timeout=10)
        self._httpd.server_close()

    def __enter__(self) -> LoadServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0, help="0 picks a free port")
    p.add_argument("--port-file", help="write the chosen port to this file once listening")
    defaults = ServerConfig()
    p.add_argument("--latency-ms", type=float, default=defaults.latency_ms)
    p.add_argument("--item-cost-ms", type=float, default=defaults.item_cost_ms)
    p.add_argument("--dimensions", type=int, default=defaults.dimensions)
    p.add_argument("--rpm", type=float, help="requests per minute; 429 above")
    p.add_argument("--tpm", type=float, help="tokens per minute; 429 above")
    p.add_argument("--burst-seconds", type=float, default=defaults.burst_seconds)
    p.add_argument("--fault", action="append", default=[], help="KIND:WHEN[:match=TEXT]")
    p.add_argument("--timeout-sleep-s", type=float, default=defaults.timeout_sleep_s)
    p.add_argument("--fault-retry-after-ms", type=int, default=defaults.fault_retry_after_ms)
    p.add_argument("--prompt-latency", action="store_true", help="honour latency_ms=N in prompts")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    knobs = {k: v for k, v in vars(args).items() if k not in ("host", "port", "port_file", "fault")}
    server = LoadServer(args.host, args.port, faults=tuple(args.fault), **knobs)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    with server:
        if args.port_file:
            with open(args.port_file, "w", encoding="utf-8") as f:
                f.write(str(server.port))
        print(json.dumps({"base_url": server.base_url}), flush=True)
        while not stop.wait(0.5):
            pass
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
