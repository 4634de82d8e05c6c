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
