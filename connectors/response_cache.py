"""A disk cache of model answers, shared by the worker processes of one machine (or of every
TaskManager, on a shared volume); on by default for jobs (settings built from options) and
bounded in bytes.

Keys are the sha256 of everything that decides an answer (provider, model, parameters, input),
so a changed model or temperature never returns a stale answer. Only successes are stored:
an error must be retried next time, not replayed.

Values are JSON text in one SQLite table, written with the standard library's sqlite3. Not
diskcache: it pickles values (even its JSONDisk unpickles an entry stored in pickle mode), and
`cache-dir` is a SQL option, so a `cache.db` planted in a directory others can write would run
code in every worker. For the same reason a directory that others can write, or that belongs
to another user, is refused. SQLite makes it safe across processes: each process opens its own
connection (`open_cache`), writers wait for each other (busy timeout), readers never block.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sqlite3
import stat
import threading
import time
from collections.abc import Mapping
from typing import Any

from .errors import ConfigError

# Large enough for ~1M MiniLM vectors; the least recently stored entries go beyond it.
DEFAULT_SIZE_LIMIT = 2**30
FILE_NAME = "answers.sqlite3"
# How long a writer waits for another process's write before the entry is skipped (seconds).
_BUSY_TIMEOUT_S = 5.0
# The size is summed every this many writes (a SUM per write would cost a table scan).
_CHECK_SIZE_EVERY = 256
# Evicting down to this share of the limit, so the next writes do not evict again at once.
_EVICT_TO = 0.9

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS answers ("
    " key TEXT PRIMARY KEY, value TEXT NOT NULL, size INTEGER NOT NULL, stored REAL NOT NULL)"
)


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


def check_private(path: str, what: str) -> None:
    """Refuse `path` unless this user owns it and nobody else can write it."""
    info = os.stat(path)
    if hasattr(os, "getuid") and info.st_uid != os.getuid():
        raise ConfigError(
            f"{what} {path!r} belongs to another user (uid {info.st_uid}); a cache is only read "
            "from a directory the job's own user owns: point flink-rag.*.cache-dir elsewhere"
        )
    if stat.S_IMODE(info.st_mode) & 0o022:
        raise ConfigError(
            f"{what} {path!r} can be written by other users (mode "
            f"{stat.S_IMODE(info.st_mode):o}); run 'chmod go-w' on it or point "
            "flink-rag.*.cache-dir at a private directory"
        )


class ResponseCache:
    """get/set of JSON values by key; a miss or a broken cache entry returns None."""

    def __init__(self, directory: str, size_limit: int = DEFAULT_SIZE_LIMIT):
        try:
            os.makedirs(directory, mode=0o700, exist_ok=True)
            check_private(directory, "cache directory")
            path = os.path.join(directory, FILE_NAME)
            if os.path.exists(path):
                check_private(path, "cache file")
            self._db = sqlite3.connect(
                path, timeout=_BUSY_TIMEOUT_S, check_same_thread=False, isolation_level=None
            )
            os.chmod(path, 0o600)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute(_SCHEMA)
        except (OSError, sqlite3.Error) as err:
            raise ConfigError(
                f"cache directory {directory!r} cannot be opened ({err}); "
                "fix flink-rag.*.cache-dir or FLINK_RAG_CACHE_DIR"
            ) from err
        self.directory = directory
        self.size_limit = size_limit
        self._lock = threading.Lock()  # one connection per process, shared by its threads
        self._writes = 0

    def get(self, key: str) -> Any | None:
        try:
            with self._lock:
                row = self._db.execute("SELECT value FROM answers WHERE key = ?", (key,)).fetchone()
            return None if row is None else json.loads(row[0])
        except (sqlite3.Error, ValueError):  # a corrupt or locked entry is a miss, not a row error
            return None

    def set(self, key: str, value: Any) -> None:
        # A full disk or a value JSON cannot hold must not fail the row whose answer we have.
        with contextlib.suppress(sqlite3.Error, ValueError, TypeError):
            text = json.dumps(value, ensure_ascii=False, allow_nan=False)
            with self._lock:
                self._db.execute(
                    "INSERT OR REPLACE INTO answers VALUES (?, ?, ?, ?)",
                    (key, text, len(text.encode("utf-8", "surrogatepass")), time.time()),
                )
                self._writes += 1
                if self._writes % _CHECK_SIZE_EVERY == 1:
                    self._evict()

    def _evict(self) -> None:
        """Drop the least recently stored entries while the table holds more than the limit."""
        (total,) = self._db.execute("SELECT COALESCE(SUM(size), 0) FROM answers").fetchone()
        excess = total - int(self.size_limit * _EVICT_TO)
        if total <= self.size_limit or excess <= 0:
            return
        freed = 0
        doomed: list[str] = []
        for key, size in self._db.execute("SELECT key, size FROM answers ORDER BY stored"):
            doomed.append(key)
            freed += size
            if freed >= excess:
                break
        self._db.executemany("DELETE FROM answers WHERE key = ?", [(k,) for k in doomed])

    def __len__(self) -> int:
        with self._lock:
            (count,) = self._db.execute("SELECT COUNT(*) FROM answers").fetchone()
        return int(count)

    def close(self) -> None:
        with self._lock:
            self._db.close()


_open: dict[tuple[int, str], ResponseCache] = {}
_lock = threading.Lock()


def open_cache(directory: str | None, size_limit: int = DEFAULT_SIZE_LIMIT) -> ResponseCache | None:
    """This process's cache handle for `directory` (None when caching is off).

    `size_limit` bounds the entries in bytes (the least recently stored go beyond it); the
    first handle opened in a process sets it."""
    if not directory:
        return None
    key = (os.getpid(), os.path.abspath(directory))  # a forked child must not reuse the parent's
    with _lock:
        cache = _open.get(key)
        if cache is None:
            cache = _open[key] = ResponseCache(directory, size_limit)
        return cache
