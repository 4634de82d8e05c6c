"""A disk cache of model answers, shared by the worker processes of one machine; on by
default for jobs (settings built from options) and bounded in bytes.

Keys are the sha256 of everything that decides an answer (provider, model, parameters, input),
so a changed model or temperature never returns a stale answer. Only successes are stored:
an error must be retried next time, not replayed. diskcache is SQLite-backed and safe across
processes as long as each process opens its own handle, which `open_cache` guarantees.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import threading
from collections.abc import Mapping
from typing import Any

from .errors import ConfigError

# Large enough for ~1M MiniLM vectors; diskcache evicts least-recently-stored entries beyond it.
DEFAULT_SIZE_LIMIT = 2**30


def cache_key(provider: str, model: str, params: Mapping[str, Any], value: Any) -> str:
    """A stable key for one request: sha256 over a canonical JSON of its deciding parts."""
    payload = json.dumps(
        {"provider": provider, "model": model, "params": params, "input": value},
        sort_keys=True,
        ensure_ascii=False,
        separators=(",", ":"),
        default=str,
    )
    return hashlib.sha256(payload.encode("utf-8", "surrogatepass")).hexdigest()


class ResponseCache:
    """get/set of JSON-able values by key; a miss or a broken cache entry returns None."""

    def __init__(self, directory: str, size_limit: int = DEFAULT_SIZE_LIMIT):
        try:
            import diskcache
        except ImportError as err:
            raise ConfigError(
                "a cache-dir is set but the package 'diskcache' is not installed; "
                "install it or unset flink-rag.*.cache-dir"
            ) from err
        try:
            self._cache = diskcache.Cache(directory, size_limit=size_limit)
        except OSError as err:
            raise ConfigError(
                f"cache directory {directory!r} cannot be opened ({err.strerror}); "
                "fix flink-rag.*.cache-dir or FLINK_RAG_CACHE_DIR"
            ) from err
        self.directory = directory

    def get(self, key: str) -> Any | None:
        try:
            return self._cache.get(key)
        except Exception:  # a corrupt or locked entry is a miss, never a failed row
            return None

    def set(self, key: str, value: Any) -> None:
        # A full disk must not fail the row whose answer we already have.
        with contextlib.suppress(Exception):
            self._cache.set(key, value)

    def close(self) -> None:
        self._cache.close()


_open: dict[tuple[int, str], ResponseCache] = {}
_lock = threading.Lock()


def open_cache(directory: str | None, size_limit: int = DEFAULT_SIZE_LIMIT) -> ResponseCache | None:
    """This process's cache handle for `directory` (None when caching is off).

    `size_limit` bounds the directory in bytes (diskcache evicts the least recently stored
    entries beyond it); the first handle opened in a process sets it."""
    if not directory:
        return None
    key = (os.getpid(), os.path.abspath(directory))  # a forked child must not reuse the parent's
    with _lock:
        cache = _open.get(key)
        if cache is None:
            cache = _open[key] = ResponseCache(directory, size_limit)
        return cache
