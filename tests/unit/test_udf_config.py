"""Job parameters -> settings, and the map-option text Flink parses back into job parameters."""

from __future__ import annotations

import inspect
import re

import pytest

from flink_rag.connectors import settings as settings_module
from flink_rag.connectors.errors import ConfigError
from flink_rag.udfs import config

pytestmark = pytest.mark.unit


class FakeContext:
    """The part of pyflink's FunctionContext the UDFs use."""

    def __init__(self, params: dict[str, str]):
        self.params = params
        self.asked: list[str] = []

    def get_job_parameter(self, key: str, default_value: str | None) -> str | None:
        self.asked.append(key)
        return self.params.get(key, default_value)


def split_flink_map(text: str) -> dict[str, str]:
    """Flink's StructuredOptionsSplitter for a map option: split on ',' then ':', where a
    token quoted as a whole (with ' or ") has its quote doubled inside."""

    def split(value: str, delimiter: str) -> list[str]:
        tokens, i = [], 0
        while i <= len(value):
            if i < len(value) and value[i] in "'\"":
                q, j, buf = value[i], i + 1, []
                while True:
                    if value[j] == q:
                        if j + 1 < len(value) and value[j + 1] == q:
                            buf.append(q)
                            j += 2
                            continue
                        break
                    buf.append(value[j])
                    j += 1
                tokens.append("".join(buf))
                i = j + 1
                assert i == len(value) or value[i] == delimiter, "illegal quoting"
                i += 1
            else:
                end = value.find(delimiter, i)
                end = len(value) if end == -1 else end
                tokens.append(value[i:end])
                i = end + 1
        return tokens

    out = {}
    for entry in split(text, ","):
        key, value = split(entry, ":")
        out[key] = value
    return out


def test_map_option_round_trips_urls_commas_and_quotes():
    values = {
        "flink-rag.llm.base-url": "http://127.0.0.1:18000/v1",
        "flink-rag.store.flights.filter-fields": "origin,destination",
        "flink-rag.llm.model": 'it\'s "quoted"',
    }
    assert split_flink_map(config.job_parameters_option(values)) == values


def test_sections_are_read_by_key_and_build_settings():
    ctx = FakeContext(
        {
            "flink-rag.llm.model": "m",
            "flink-rag.llm.concurrency": "8",
            "flink-rag.embed.provider": "openai",
            "flink-rag.embed.base-url": "http://127.0.0.1:1/v1",
            "flink-rag.store.flights.filter-fields": "origin, destination",
            "flink-rag.store.flights.mode": "scan",
            "flink-rag.stores": "flights; policies",
            "flink-rag.llm.unrelated": "ignored",
        }
    )
    llm = config.llm_settings(ctx)
    assert (llm.model, llm.concurrency) == ("m", 8)
    embed = config.embed_settings(ctx)
    assert (embed.provider, embed.base_url) == ("openai", "http://127.0.0.1:1/v1")
    store = config.store_settings(ctx, "flights")
    assert (store.filter_fields, store.mode, store.collection) == (
        ("origin", "destination"),
        "scan",
        "flights",
    )
    assert config.listed_stores(ctx) == ("flights", "policies")


def test_a_secret_in_the_job_parameters_is_refused():
    ctx = FakeContext({"flink-rag.llm.api-key": "sk-secret"})
    with pytest.raises(ConfigError) as err:
        config.llm_settings(ctx)
    assert "sk-secret" not in str(err.value) and "environment" in str(err.value)


@pytest.mark.parametrize(
    ("cls", "keys"),
    [
        (settings_module.EmbedSettings, config.EMBED_KEYS),
        (settings_module.LlmSettings, config.LLM_KEYS),
        (settings_module.StoreSettings, config.STORE_KEYS),
    ],
)
def test_every_option_the_settings_read_is_requested(cls, keys):
    # get_job_parameter needs exact keys: an option missing here would be silently ignored.
    source = inspect.getsource(cls.from_options)
    read = set(re.findall(r"\bo\.\w+\(\s*\"([a-z-]+)\"", source))
    assert read and read <= set(keys)


def test_configure_merges_into_the_global_job_parameters():
    class Conf:
        def __init__(self):
            self.values = {}

        def set(self, key, value):
            self.values[key] = value

    class Env:
        def __init__(self):
            self.conf = Conf()

        def get_config(self):
            return self.conf

    env = Env()
    config.configure(env, {"flink-rag.llm.model": "a", "flink-rag.llm.seed": "1"})
    config.configure(env, {"flink-rag.llm.model": "b"})
    parsed = split_flink_map(env.conf.values[config.JOB_PARAMETERS])
    assert parsed == {"flink-rag.llm.model": "b", "flink-rag.llm.seed": "1"}


def test_answer_cache_is_on_by_default_bounded_and_can_be_turned_off():
    from flink_rag.connectors.settings import (
        DEFAULT_CACHE_MAX_BYTES,
        EmbedSettings,
        LlmSettings,
    )

    env = {"XDG_CACHE_HOME": "/var/cache/x"}
    for cls in (LlmSettings, EmbedSettings):
        on = cls.from_options({}, env=env)
        assert on.cache_dir == "/var/cache/x/flink-rag/responses"
        assert on.cache_max_bytes == DEFAULT_CACHE_MAX_BYTES
        assert cls.from_options({"cache-dir": "off"}, env=env).cache_dir is None
        assert cls.from_options({}, env={**env, "FLINK_RAG_CACHE_DIR": "none"}).cache_dir is None
        sized = cls.from_options({"cache-dir": "/tmp/c", "cache-max-bytes": "1000"}, env=env)
        assert (sized.cache_dir, sized.cache_max_bytes) == ("/tmp/c", 1000)
    assert LlmSettings.from_options({}, env=env).outage_wait_s == 120.0
    assert LlmSettings.from_options({"outage-wait": "30"}, env=env).outage_wait_s == 30.0
