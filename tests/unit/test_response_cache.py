"""The disk cache: stable keys over every deciding part, shared between handles."""

import pytest

from flink_rag.connectors.response_cache import ResponseCache, cache_key, open_cache

pytestmark = pytest.mark.unit


def test_key_changes_with_every_deciding_part():
    base = cache_key("openai", "m", {"temperature": 0.0}, "text")
    assert base == cache_key("openai", "m", {"temperature": 0.0}, "text")
    assert len(base) == 64
    others = {
        cache_key("local", "m", {"temperature": 0.0}, "text"),
        cache_key("openai", "m2", {"temperature": 0.0}, "text"),
        cache_key("openai", "m", {"temperature": 0.5}, "text"),
        cache_key("openai", "m", {"temperature": 0.0}, "text2"),
    }
    assert base not in others and len(others) == 4


def test_key_ignores_dict_order():
    a = cache_key("p", "m", {"x": 1, "y": 2}, {"system": None, "prompt": "p"})
    b = cache_key("p", "m", {"y": 2, "x": 1}, {"prompt": "p", "system": None})
    assert a == b


def test_values_survive_between_handles(tmp_path):
    first = ResponseCache(str(tmp_path))
    first.set("k", [0.5, 0.25])
    first.close()
    second = ResponseCache(str(tmp_path))
    try:
        assert second.get("k") == [0.5, 0.25]
        assert second.get("missing") is None
    finally:
        second.close()


def test_open_cache_is_one_handle_per_process_and_directory(tmp_path):
    assert open_cache(None) is None
    a = open_cache(str(tmp_path / "c1"))
    assert a is open_cache(str(tmp_path / "c1"))
    assert a is not open_cache(str(tmp_path / "c2"))


def test_values_are_stored_as_json_text_never_pickled(tmp_path):
    import sqlite3

    from flink_rag.connectors.response_cache import FILE_NAME

    cache = ResponseCache(str(tmp_path))
    cache.set("k", {"text": "answer", "pt": 3})
    cache.set("nan", [float("nan")])  # not JSON: skipped, never a failed row
    cache.close()
    with sqlite3.connect(tmp_path / FILE_NAME) as db:
        rows = db.execute("SELECT key, value FROM answers").fetchall()
    assert rows == [("k", '{"text": "answer", "pt": 3}')]


def test_a_planted_pickle_is_never_loaded(tmp_path):
    """What diskcache would have unpickled (a code-running value) is at most a miss now."""
    import pickle
    import sqlite3

    from flink_rag.connectors.response_cache import FILE_NAME

    class Boom:
        def __reduce__(self):
            return (exec, ("raise SystemExit('unpickled')",))

    cache = ResponseCache(str(tmp_path))
    cache.close()
    with sqlite3.connect(tmp_path / FILE_NAME) as db:
        db.execute("INSERT INTO answers VALUES (?, ?, 1, 0)", ("k", pickle.dumps(Boom()).hex()))
    cache = ResponseCache(str(tmp_path))
    assert cache.get("k") is None
    cache.close()


@pytest.mark.parametrize("mode", [0o777, 0o775, 0o757, 0o722])
def test_a_directory_others_can_write_is_refused(tmp_path, mode):
    from flink_rag.connectors.errors import ConfigError

    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(mode)
    with pytest.raises(ConfigError, match="chmod go-w"):
        ResponseCache(str(shared))


def test_a_cache_file_others_can_write_is_refused(tmp_path):
    from flink_rag.connectors.errors import ConfigError
    from flink_rag.connectors.response_cache import FILE_NAME

    ResponseCache(str(tmp_path)).close()
    (tmp_path / FILE_NAME).chmod(0o666)
    with pytest.raises(ConfigError, match="cache file"):
        ResponseCache(str(tmp_path))


def test_a_directory_of_another_user_is_refused(tmp_path, monkeypatch):
    import os

    from flink_rag.connectors.errors import ConfigError

    monkeypatch.setattr(os, "getuid", lambda: os.stat(tmp_path).st_uid + 1)
    with pytest.raises(ConfigError, match="another user"):
        ResponseCache(str(tmp_path))


def test_the_size_limit_evicts_the_oldest_entries(tmp_path):
    cache = ResponseCache(str(tmp_path), size_limit=10_000)
    for i in range(2000):
        cache.set(f"k{i}", "x" * 98)  # 100 bytes of JSON each
    assert cache.get("k1999") == "x" * 98
    assert cache.get("k0") is None
    assert len(cache) <= 10_000 // 100 + 256  # checked every 256 writes
    cache.close()
