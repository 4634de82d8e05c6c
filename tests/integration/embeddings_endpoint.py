"""The local embedding model (all-MiniLM-L6-v2) behind an OpenAI-compatible `/v1/embeddings`
on loopback, for jobs whose workers embed with provider `openai` (a venv archive without
torch). The local LLM server can't stand in: SmolLM2 has no pooling, llama.cpp returns one
vector per token. Hand-written on http.server: one route, no framework needed."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from flink_rag.connectors.local_embedding import SentenceTransformerEmbedder
from flink_rag.connectors.settings import LOCAL_EMBED_MODEL, EmbedSettings


class EmbeddingsEndpoint:
    """`with EmbeddingsEndpoint() as ep:` serves on `ep.base_url` until the block ends."""

    def __init__(self, host: str = "127.0.0.1"):
        self.embedder = SentenceTransformerEmbedder(EmbedSettings())
        self.embedder.open()
        self.requests = 0
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                if self.path.rstrip("/") != "/v1/embeddings":
                    self.send_error(404)
                    return
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                texts = body["input"] if isinstance(body["input"], list) else [body["input"]]
                endpoint.requests += 1
                vectors = endpoint.embedder.embed_batch(texts)
                payload = json.dumps(
                    {
                        "object": "list",
                        "model": LOCAL_EMBED_MODEL,
                        "data": [
                            {"object": "embedding", "index": i, "embedding": v}
                            for i, v in enumerate(vectors)
                        ],
                        "usage": {"prompt_tokens": 0, "total_tokens": 0},
                    }
                ).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer((host, 0), Handler)
        self.base_url = f"http://{host}:{self.server.server_address[1]}/v1"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def embed(self, texts: list[str]) -> list[list[float]]:
        return self.embedder.embed_batch(texts)

    def __enter__(self) -> EmbeddingsEndpoint:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(timeout=10)
