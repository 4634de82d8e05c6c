"""Token counting for OpenAI-compatible models without ever touching the network.

tiktoken downloads its BPE tables on first use; a Flink worker must not (no network, or a hang
on a firewalled host). So tiktoken is used only when its table is already in the local cache
(TIKTOKEN_CACHE_DIR, or pre-seeded by the image); otherwise counts fall back to the UTF-8 byte
count, a strict upper bound: every BPE token of these byte-level encodings covers >= 1 byte.
The bound over-counts English text about 4x, so truncation and batching stay safe (never over
the provider's limit), just more conservative than needed.
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

DEFAULT_ENCODING = "cl100k_base"
_patch_lock = threading.Lock()


def utf8_bytes(text: str) -> int:
    """Upper bound of the BPE token count of `text`."""
    return len(text.encode("utf-8", "surrogatepass"))


def truncate_utf8(text: str, max_tokens: int) -> str:
    """The longest prefix whose UTF-8 byte count is <= max_tokens, cut at a character boundary."""
    data = text.encode("utf-8", "surrogatepass")
    if len(data) <= max_tokens:
        return text
    return data[:max_tokens].decode("utf-8", "ignore")


@functools.lru_cache(maxsize=8)
def cached_encoding(model: str) -> Any | None:
    """tiktoken's encoding for `model` if it loads from the local cache alone, else None."""
    try:
        import tiktoken
        import tiktoken.load
    except ImportError:
        return None
    try:
        name = tiktoken.encoding_name_for_model(model)
    except KeyError:
        name = DEFAULT_ENCODING

    def refuse_download(blobpath: str) -> bytes:
        if blobpath.startswith(("http://", "https://")):
            raise OSError("tiktoken table is not cached locally")
        return original(blobpath)

    # read_file is what fetches a table on a cache miss; swapping it keeps tiktoken offline.
    with _patch_lock:
        original = tiktoken.load.read_file
        tiktoken.load.read_file = refuse_download
        try:
            return tiktoken.get_encoding(name)
        except Exception as err:
            log.info("tiktoken table %s unavailable offline (%s); counting UTF-8 bytes", name, err)
            return None
        finally:
            tiktoken.load.read_file = original


class TokenCounter:
    """count/truncate with tiktoken when available offline, else the UTF-8 byte bound."""

    def __init__(self, model: str):
        self.encoding = cached_encoding(model)
        self.exact = self.encoding is not None

    def count(self, text: str) -> int:
        if self.encoding is None:
            return utf8_bytes(text)
        return len(self.encoding.encode(text, disallowed_special=()))

    def truncate(self, text: str, max_tokens: int) -> str:
        if self.encoding is None:
            return truncate_utf8(text, max_tokens)
        ids = self.encoding.encode(text, disallowed_special=())
        if len(ids) <= max_tokens:
            return text
        return str(self.encoding.decode(ids[:max_tokens]))


def byte_counter() -> Callable[[str], int]:
    """The conservative counter, for callers with no model-specific tokenizer at hand."""
    return utf8_bytes


def budget_counter(model: str) -> Callable[[str], int]:
    """A count that is never below what the provider will charge, for token budgets:
    tiktoken's only for a model tiktoken knows by name (OpenAI's) and has cached; any other
    model's tokenizer may split text finer than cl100k, so it gets the UTF-8 byte bound."""
    try:
        import tiktoken

        tiktoken.encoding_name_for_model(model)
    except (ImportError, KeyError):
        return utf8_bytes
    counter = TokenCounter(model)
    return counter.count if counter.exact else utf8_bytes
