"""Job parameters -> settings: per-key options, typo and bad-value errors, secrets refused."""

from __future__ import annotations

import pytest

from flink_rag.connectors.errors import ConfigError
from flink_rag.connectors.settings import EmbedSettings, LlmSettings, StoreSettings
from flink_rag.udfs import config

pytestmark = pytest.mark.unit


class FakeContext:
    """The part of pyflink's FunctionContext the UDFs use: its job-parameter dict."""

    def __init__(self, params: dict[str, str]):
        self._job_parameters = {"unrelated.key": "x", **params}

    def get_job_parameter(self, key: str, default_value: str | None) -> str | None:
        return self._job_parameters.get(key, default_value)


def test_sections_are_read_and_build_typed_settings():
    ctx = FakeContext(
        {
            "flink-rag.llm.model": "m",
            "flink-rag.llm.concurrency": "8",
            "flink-rag.llm.base-url": "http://127.0.0.1:1/v1,x",
            "flink-rag.embed.provider": "OpenAI",
            "flink-rag.embed.base-url": "http://127.0.0.1:1/v1",
            "flink-rag.store.flights.filter-fields": "origin, destination",
            "flink-rag.store.flights.mode": "scan",
            "flink-rag.store.flights.exact": "true",
            "flink-rag.stores": "flights; policies",
        }
    )
    llm = config.llm_settings(ctx)
    assert (llm.model, llm.concurrency, llm.base_url) == ("m", 8, "http://127.0.0.1:1/v1,x")
    embed = config.embed_settings(ctx)
    assert (embed.provider, embed.base_url) == ("openai", "http://127.0.0.1:1/v1")
    store = config.store_settings(ctx, "flights")
    assert (store.filter_fields, store.mode, store.collection, store.exact) == (
        ("origin", "destination"),
        "scan",
        "flights",
        True,
    )
    assert config.listed_stores(ctx) == ("flights", "policies")


@pytest.mark.parametrize(
    ("key", "suggestion"),
    [
        ("flink-rag.llm.modle", "flink-rag.llm.model"),
        ("flink-rag.embed.concurency", "flink-rag.embed.concurrency"),
        ("flink-rag.store.flights.filter-field", "flink-rag.store.flights.filter-fields"),
        ("flink-rag.lm.model", "flink-rag.llm"),
        ("flink-rag.store", None),
    ],
)
def test_a_typo_fails_with_one_line_naming_the_key_and_the_closest_valid_one(key, suggestion):
    with pytest.raises(ConfigError) as err:
        config.llm_settings(FakeContext({key: "v"}))
    message = str(err.value)
    assert "\n" not in message
    assert key in message
    if suggestion:
        assert f"did you mean '{suggestion}" in message


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("flink-rag.llm.max-tokens", "many", "option 'flink-rag.llm.max-tokens'"),
        ("flink-rag.llm.concurrency", "0", "greater than or equal to 1"),
        ("flink-rag.embed.on-error", "explode", "'null' or 'fail'"),
        ("flink-rag.store.flights.num-candidates", "20000", "less than or equal to 10000"),
        ("flink-rag.store.flights.similarity", "manhattan", "'cosine'"),
    ],
)
def test_a_bad_value_fails_naming_key_value_and_rule(key, value, expected):
    with pytest.raises(ConfigError) as err:
        config.embed_settings(FakeContext({key: value}))
    message = str(err.value)
    assert "\n" not in message
    assert expected in message
    assert repr(value) in message


@pytest.mark.parametrize(
    "key", ["flink-rag.llm.api-key", "flink-rag.store.flights.uri", "flink-rag.embed.token"]
)
def test_a_secret_in_the_job_parameters_is_refused_without_echoing_it(key):
    with pytest.raises(ConfigError) as err:
        config.llm_settings(FakeContext({key: "sk-MARKER-secret"}))
    assert "sk-MARKER" not in str(err.value)
    assert "environment" in str(err.value)


def test_env_fallback_and_its_bad_value_name_the_variable():
    env = {"FLINK_RAG_LLM_MODEL": "from-env", "FLINK_RAG_EMBED_THREADS": "zero"}
    assert LlmSettings.from_options({}, env).model == "from-env"
    assert LlmSettings.from_options({"model": "opt"}, env).model == "opt"
    with pytest.raises(ConfigError, match="env var FLINK_RAG_EMBED_THREADS"):
        EmbedSettings.from_options({}, env)


def test_secrets_are_secretstr_and_stay_out_of_repr_and_dumps(tmp_path):
    key_file = tmp_path / "key"
    key_file.write_text("sk-MARKER-file\n")
    env = {
        "OPENAI_API_KEY_FILE": str(key_file),
        "MONGODB_URI": "mongodb://u:pw-MARKER@h/",
        "FLINK_RAG_LLM_BASE_URL": "https://llm.example.com/v1",
    }
    llm = LlmSettings.from_options({}, env)
    assert llm.api_key is not None and llm.api_key.get_secret_value() == "sk-MARKER-file"
    store = StoreSettings.from_options("s", {}, env)
    assert store.uri.get_secret_value() == "mongodb://u:pw-MARKER@h/"
    for text in (repr(llm), str(llm), repr(store), str(llm.model_dump()), store.model_dump_json()):
        assert "MARKER" not in text


def test_option_keys_are_the_documented_ones():
    assert "model" in LlmSettings.option_keys()
    assert "api_key" not in LlmSettings.option_keys()
    assert "filter-fields" in StoreSettings.option_keys()
    assert "uri" not in StoreSettings.option_keys() and "name" not in StoreSettings.option_keys()


class _Conf:
    def __init__(self):
        self.values: dict[str, str] = {}

    def set(self, key, value):
        self.values[key] = value

    def get(self, key, default):
        return self.values.get(key, default)


class _Env:
    def __init__(self):
        self.conf = _Conf()

    def get_config(self):
        return self.conf


def test_configure_writes_one_prefixed_key_per_option_and_calls_add_up():
    env = _Env()
    config.configure(env, {"flink-rag.llm.model": "a", "flink-rag.llm.seed": "1"})
    config.configure(env, {"flink-rag.llm.model": "b"})
    assert env.conf.values == {
        "pipeline.global-job-parameters.flink-rag.llm.model": "b",
        "pipeline.global-job-parameters.flink-rag.llm.seed": "1",
    }


def test_configure_refuses_a_typo_before_the_job_runs():
    with pytest.raises(ConfigError, match=r"did you mean 'flink-rag\.llm\.model'"):
        config.configure(_Env(), {"flink-rag.llm.modle": "x"})


def test_configure_refuses_to_mix_with_the_map_form():
    env = _Env()
    env.conf.set("pipeline.global-job-parameters", "flink-rag.llm.model:x")
    with pytest.raises(ConfigError, match="replaces every per-key SET"):
        config.configure(env, {"flink-rag.llm.seed": "1"})


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
    assert EmbedSettings.from_options({}, env=env).outage_wait_s == 120.0
    assert EmbedSettings.from_options({"outage-wait": "5"}, env=env).outage_wait_s == 5.0
