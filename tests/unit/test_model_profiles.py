"""Model profiles (`flink-rag.llm.<profile>.*`, `flink-rag.embed.<profile>.*`): the parser's
rule that keeps profile names apart from option keys, per-profile settings and connections,
and the routing of each row to its own profile, tried with careless and hostile input."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flink_rag.connectors.connections import CONNECTIONS_ENV
from flink_rag.connectors.errors import ConfigError
from flink_rag.connectors.openai_chat import ChatClient, ChatRequest
from flink_rag.connectors.profiles import (
    DEFAULT_PROFILE,
    dispatch,
    profile_of,
    split_profiles,
)
from flink_rag.connectors.settings import LOCAL_LLM_BASE_URL, EmbedSettings, LlmSettings
from flink_rag.udfs import config

pytestmark = pytest.mark.unit

LLM_KEYS = LlmSettings.option_keys()
EMBED_KEYS = EmbedSettings.option_keys()
KEY = "sk-MARKER-profiles-93d1"


class FakeContext:
    def __init__(self, params: dict[str, str]):
        self._job_parameters = params


@pytest.fixture(autouse=True)
def no_cluster_environment(monkeypatch):
    for name in ("FLINK_RAG_LLM_BASE_URL", "FLINK_RAG_LLM_MODEL", "FLINK_RAG_EMBED_PROVIDER"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv(CONNECTIONS_ENV, raising=False)
    monkeypatch.setenv("FLINK_RAG_CACHE_DIR", "off")


def test_named_profiles_sit_beside_the_unnamed_default_and_inherit_nothing_from_it():
    ctx = FakeContext(
        {
            "flink-rag.llm.model": "small",
            "flink-rag.llm.base-url": "http://127.0.0.1:9/v1",
            "flink-rag.llm.max-tokens": "32",
            "flink-rag.llm.escalation.model": "large",
            "flink-rag.llm.escalation.temperature": "0.5",
            "flink-rag.embed.queries.dimensions": "8",
        }
    )
    default = config.llm_settings(ctx)
    strong = config.llm_settings(ctx, "escalation")
    assert (default.model, default.base_url, default.max_tokens) == (
        "small",
        "http://127.0.0.1:9/v1",
        32,
    )
    # A profile is its own options, the environment, then the defaults: never the unnamed ones.
    assert (strong.model, strong.temperature, strong.base_url, strong.max_tokens) == (
        "large",
        0.5,
        LOCAL_LLM_BASE_URL,
        256,
    )
    assert config.llm_profiles(ctx) == ("default", "escalation")
    assert config.embed_profiles(ctx) == ("default", "queries")
    assert config.embed_settings(ctx, "queries").dimensions == 8
    with pytest.raises(ConfigError, match=r"'nope' is not declared \(this job has: default, "):
        config.llm_settings(ctx, "nope")


@pytest.mark.parametrize(
    ("key", "message"),
    [
        # A one-word key is always an option of the default profile: typos still get a hint.
        ("flink-rag.llm.modle", "did you mean 'flink-rag.llm.model'"),
        ("flink-rag.embed.dimension", "did you mean 'flink-rag.embed.dimensions'"),
        # A typo in a profile's key names the profile's key.
        ("flink-rag.llm.escalation.modle", "did you mean 'flink-rag.llm.escalation.model'"),
        ("flink-rag.embed.queries.provder", "did you mean 'flink-rag.embed.queries.provider'"),
        # A profile name that reads as an option key is a typo, not a profile.
        ("flink-rag.llm.modle.model", "looks like option key 'model'"),
        ("flink-rag.llm.model.base-url", "looks like option key 'model'"),
        ("flink-rag.llm.timeouts.model", "did you mean 'flink-rag.llm.timeout'"),
        ("flink-rag.embed.provider.model", "looks like option key 'provider'"),
        ("flink-rag.llm.default.model", "the default profile is the unnamed one"),
        ("flink-rag.llm.Escalation.model", "must be 1-63 lower-case letters"),
        ("flink-rag.llm..model", "must be 1-63 lower-case letters"),
        ("flink-rag.llm.a b.model", "must be 1-63 lower-case letters"),
        ("flink-rag.llm.escalation.api-key", "would put a secret into SQL text"),
        ("flink-rag.llm.escalation.api-key-env", "is gone"),
        ("flink-rag.llm.escalation.x.model", "unknown option 'flink-rag.llm.escalation.x.model'"),
    ],
)
def test_bad_profile_keys_fail_at_job_start_saying_what_to_do(key, message):
    with pytest.raises(ConfigError, match=message):
        config.validate({key: KEY if "api-key" in key else "x", "flink-rag.llm.model": "m"})


def test_a_bare_profile_name_says_it_needs_a_key():
    params = {"flink-rag.llm.escalation.model": "m", "flink-rag.llm.escalation": "gpt-4o"}
    with pytest.raises(ConfigError, match="names profile 'escalation' without a key"):
        config.validate(params)


def test_secrets_in_a_profile_are_refused_without_echoing_them():
    with pytest.raises(ConfigError) as err:
        config.validate({"flink-rag.embed.docs.api-key": KEY})
    assert KEY not in str(err.value)


def test_each_profile_binds_its_own_connection(tmp_path, monkeypatch):
    key_file = tmp_path / "key"
    key_file.write_text(KEY)
    connections = tmp_path / "connections.toml"
    connections.write_text(
        f"""
[connections.openai-prod]
kind = "openai"
endpoint = "https://api.openai.com/v1"
secret-file = "{key_file}"
concurrency = 4
"""
    )
    monkeypatch.setenv(CONNECTIONS_ENV, str(connections))
    ctx = FakeContext(
        {
            "flink-rag.llm.base-url": "http://127.0.0.1:9/v1",
            "flink-rag.llm.escalation.connection": "openai-prod",
            "flink-rag.llm.escalation.model": "gpt-4o",
            "flink-rag.embed.docs.provider": "openai",
            "flink-rag.embed.docs.connection": "openai-prod",
        }
    )
    default, strong = config.llm_settings(ctx), config.llm_settings(ctx, "escalation")
    assert (default.connection, default.base_url) == ("default", "http://127.0.0.1:9/v1")
    assert (strong.connection, strong.base_url, strong.concurrency) == (
        "openai-prod",
        "https://api.openai.com/v1",
        4,
    )
    assert strong.api_key is not None and strong.api_key.get_secret_value() == KEY
    assert default.api_key is None or default.api_key.get_secret_value() != KEY
    docs = config.embed_settings(ctx, "docs")
    assert docs.api_key is not None and docs.api_key.get_secret_value() == KEY
    # A SQL-chosen URL on a profile of a keyed connection gets no key: the same rule as unnamed.
    hostile = {**ctx._job_parameters, "flink-rag.llm.escalation.base-url": "https://x.example/v1"}
    with pytest.raises(ConfigError) as err:
        config.validate(hostile)
    assert "flink-rag.llm.escalation." in str(err.value) and KEY not in str(err.value)


# -- properties of the parser ---------------------------------------------------------------

names = st.from_regex(r"[a-z0-9][a-z0-9_-]{0,20}", fullmatch=True)


@settings(max_examples=300, deadline=None)
@given(name=names, key=st.sampled_from(LLM_KEYS), value=st.text(max_size=20))
def test_a_profile_key_lands_in_its_profile_or_is_refused_as_confusable(name, key, value):
    options = {key: "default value", f"{name}.{key}": value}
    try:
        found = split_profiles("flink-rag.llm.", options, LLM_KEYS)
    except ConfigError as err:
        text = str(err)
        assert name == DEFAULT_PROFILE or "looks like option key" in text, text
        assert f"flink-rag.llm.{name}.{key}" in text  # names the key that was set
        return
    assert name not in LLM_KEYS  # an option key is never a profile name
    assert found == {DEFAULT_PROFILE: {key: "default value"}, name: {key: value}}


@settings(max_examples=300, deadline=None)
@given(
    keyed=st.one_of(
        st.tuples(st.just("llm"), st.sampled_from(LLM_KEYS)),
        st.tuples(st.just("embed"), st.sampled_from(EMBED_KEYS)),
    ),
    data=st.data(),
)
def test_a_one_letter_typo_of_a_key_is_named_in_either_position(keyed, data):
    section, key = keyed
    keys = LLM_KEYS if section == "llm" else EMBED_KEYS
    i = data.draw(st.integers(0, len(key) - 1))
    typo = key[:i] + key[i + 1 :]  # one letter dropped
    if not typo or typo in keys or "." in typo:
        return
    for full in (f"flink-rag.{section}.{typo}", f"flink-rag.{section}.escalation.{typo}"):
        with pytest.raises(ConfigError, match="did you mean") as err:
            config.validate({full: "1"}, resolve=False)
        assert f"flink-rag.{section}." in str(err.value)


@settings(max_examples=300, deadline=None)
@given(rest=st.text(st.characters(codec="ascii"), max_size=30), value=st.text(max_size=10))
def test_any_llm_key_validates_or_fails_with_a_config_error(rest, value):
    try:
        config.validate({f"flink-rag.llm.{rest}": value}, resolve=False)
    except ConfigError as err:  # the one failure a key may cause; anything else is a bug
        assert "flink-rag" in str(err)
        return
    # What passed is an option key, or a profile unlike any option key with an option key (or
    # an empty value: an option set to '' is unset, as before profiles).
    profile, _, key = rest.partition(".")
    assert value == "" or rest in LLM_KEYS or (key in LLM_KEYS and profile not in LLM_KEYS)


@settings(max_examples=200, deadline=None)
@given(rows=st.lists(st.sampled_from(["default", "a", "b", "ghost", None, "", " A "]), max_size=30))
def test_dispatch_answers_each_row_by_its_own_profile_in_input_order(rows):
    names = [profile_of(r) for r in rows]
    calls: list[str] = []

    def answer(profile, indexes):
        calls.append(profile)
        return [f"{profile}:{i}" for i in indexes]

    out = dispatch(names, {"default", "a", "b"}, answer, lambda n: f"refused {n}")
    expected = [f"refused {n}" if n == "ghost" else f"{n}:{i}" for i, n in enumerate(names)]
    assert out == expected
    assert len(calls) == len(set(calls))  # one call per profile per batch


def test_profile_arguments_null_and_blank_mean_default_case_is_folded():
    assert [profile_of(v) for v in (None, float("nan"), "", "  ", " Escalation ")] == [
        "default",
        "default",
        "default",
        "default",
        "escalation",
    ]


def test_the_answer_cache_keys_on_the_profiles_effective_settings():
    request = ChatRequest("p", "s")
    small = ChatClient(LlmSettings(model="small"))
    twin = ChatClient(LlmSettings(model="small"))
    large = ChatClient(LlmSettings(model="large"))
    other_url = ChatClient(LlmSettings(model="small", **{"base-url": "http://127.0.0.1:9/v1"}))
    shorter = ChatClient(LlmSettings(model="small", **{"max-tokens": 8}))
    key = small._cache_key(request, None)
    assert twin._cache_key(request, None) == key  # same settings, same answer: shared
    others = {c._cache_key(request, None) for c in (large, other_url, shorter)}
    assert key not in others and len(others) == 3


# -- the functions route each row to its own profile's client --------------------------------


class Group:
    """A Flink metric group that records its path."""

    def __init__(self, path=()):
        self.path, self.counters = path, {}

    def add_group(self, name, extra=None):
        return Group((*self.path, name) if extra is None else (*self.path, name, extra))

    def counter(self, name):
        return self.counters.setdefault(name, Counter(self.path, name))

    def distribution(self, name):
        return self.counter(name)


SEEN: list[tuple[str, int]] = []  # (metric path, increment) in the order Flink got them


class Counter:
    def __init__(self, path, name):
        self.path, self.name = path, name

    def inc(self, n=1):
        SEEN.append((".".join((*self.path, self.name)), n))

    update = inc


class UdfContext(FakeContext):
    def get_metric_group(self):
        return Group()


def test_llm_functions_send_each_row_to_its_profile_and_refuse_undeclared_ones(monkeypatch):
    import pandas as pd

    from flink_rag.connectors.openai_chat import Completion
    from flink_rag.udfs.llm_complete import Complete, CompleteJson

    def complete_many(self, requests):
        self.metrics.incr("llm_requests", len(requests))
        return [Completion(f"{self.settings.model}:{r.prompt}", None) for r in requests]

    monkeypatch.setattr(ChatClient, "complete_many", complete_many)
    SEEN.clear()
    params = {"flink-rag.llm.model": "small", "flink-rag.llm.escalation.model": "large"}
    fn = Complete()
    fn.open(UdfContext(params))
    try:
        prompts = pd.Series(["a", "b", "c", "d"])
        profiles = pd.Series([None, "escalation", "ghost", "Escalation"])
        frame = fn.eval(prompts, None, profiles)
        assert frame["text"].tolist() == ["small:a", "large:b", None, "large:d"]
        assert frame["error"].tolist()[:2] == [None, None]
        assert frame["error"][2] == (
            "LLM_COMPLETE: profile 'ghost' is not declared (this job has: default, escalation);"
            " set 'flink-rag.llm.ghost.<key>' options or fix the profile argument"
        )
        # The unnamed form and a literal profile argument (a scalar for the whole batch).
        assert fn.eval(prompts)["text"].tolist() == ["small:a", "small:b", "small:c", "small:d"]
        assert fn.eval(prompts, "sys", "escalation")["text"][0] == "large:a"
    finally:
        fn.close()
    # Metrics per profile: the default keeps its plain names, a profile has its own group.
    assert ("flink_rag.llm_requests", 1) in SEEN
    assert ("flink_rag.profile.escalation.llm_requests", 2) in SEEN
    assert ("flink_rag.profile.escalation.llm_requests", 4) in SEEN

    json_fn = CompleteJson()
    json_fn.open(UdfContext({**params, "flink-rag.llm.on-error": "fail"}))
    try:
        schema = '{"type": "object"}'
        frame = json_fn.eval(prompts, None, schema, None, "escalation")
        assert frame["text"].tolist() == ["large:a", "large:b", "large:c", "large:d"]
        with pytest.raises(ConfigError, match="'ghost' is not declared"):
            json_fn.eval(prompts, None, schema, None, "ghost")
    finally:
        json_fn.close()


def test_embed_sends_each_row_to_its_profile_with_a_client_per_profile(monkeypatch):
    import pandas as pd

    from flink_rag.connectors.embedding import EmbedResult
    from flink_rag.udfs import embed as embed_udf

    opened: list[str] = []

    class FakeEmbedder:
        def __init__(self, settings):
            self.model = settings.model
            opened.append(settings.model)

        def close(self):
            opened.remove(self.model)

    def embed_texts(embedder, texts, settings, metrics, cache):
        return [EmbedResult([float(len(embedder.model)), float(len(t))], None) for t in texts]

    monkeypatch.setattr(embed_udf, "_open_embedder", lambda s, m: FakeEmbedder(s))
    monkeypatch.setattr(embed_udf, "embed_texts", embed_texts)
    params = {"flink-rag.embed.queries.model": "q", "flink-rag.embed.docs.model": "doc"}
    fn = embed_udf.EmbedWithError()
    fn.open(UdfContext(params))
    try:
        texts = pd.Series(["xy", "xyz", "x", "w"])
        frame = fn.eval(texts, pd.Series(["queries", "docs", None, "nope"]))
        vectors = [None if v is None else v.tolist() for v in frame["embedding"]]
        assert vectors[:3] == [[1.0, 2.0], [3.0, 3.0], [16.0, 1.0]]  # all-MiniLM-L6-v2: 16
        assert vectors[3] is None
        assert frame["error"][3].startswith("EMBED_RESULT: profile 'nope' is not declared")
        assert sorted(opened) == ["all-MiniLM-L6-v2", "doc", "q"]
    finally:
        fn.close()
    assert opened == []  # every profile's client closed
