"""Connections: the operator's file, the environment's default, and the rule that a key goes
only to an endpoint of its own connection, tried with careless and hostile input."""

from __future__ import annotations

from urllib.parse import urlsplit

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flink_rag.connectors.connections import (
    CONNECTIONS_ENV,
    DEFAULT,
    LOCAL_PLACEHOLDER_KEY,
    Connections,
    bind_openai,
    parse,
)
from flink_rag.connectors.endpoint_urls import canonical_endpoint, is_loopback
from flink_rag.connectors.errors import ConfigError
from flink_rag.connectors.settings import EmbedSettings, LlmSettings, StoreSettings
from flink_rag.udfs.config import validate

pytestmark = pytest.mark.unit

KEY = "sk-MARKER-prod-4f1c9a"
URI = "mongodb+srv://app:pw-MARKER-77@cluster0.example.net/"

FILE = """
[connections.openai-prod]
kind = "openai"
endpoint = "https://api.openai.com/v1"
secret-file = "{key_file}"
rpm = 100
concurrency = 4

[connections.vllm]
kind = "openai"
endpoint = "http://vllm.internal:8000/v1"

[connections.atlas]
kind = "mongodb"
secret-env = "ATLAS_URI"
concurrency = 2
"""


@pytest.fixture
def env(tmp_path):
    key_file = tmp_path / "openai-key"
    key_file.write_text(KEY + "\n")
    path = tmp_path / "connections.toml"
    path.write_text(FILE.format(key_file=key_file))
    return {CONNECTIONS_ENV: str(path), "ATLAS_URI": URI}


def test_a_profile_on_a_named_connection_gets_its_endpoint_key_and_caps(env):
    llm = LlmSettings.from_options({"connection": "OpenAI-Prod", "concurrency": "64"}, env)
    assert (llm.connection, llm.base_url) == ("openai-prod", "https://api.openai.com/v1")
    assert llm.api_key is not None and llm.api_key.get_secret_value() == KEY
    assert (llm.concurrency, llm.requests_per_minute) == (4, 100)  # SQL cannot raise the caps
    lower = LlmSettings.from_options({"connection": "openai-prod", "concurrency": "2"}, env)
    assert lower.concurrency == 2  # ... but can lower them
    embed = EmbedSettings.from_options({"provider": "openai", "connection": "openai-prod"}, env)
    assert embed.api_key is not None and embed.api_key.get_secret_value() == KEY
    assert KEY not in repr(llm) + repr(embed) + llm.model_dump_json()


def test_a_keyless_connection_to_a_remote_server_gets_the_placeholder_not_a_key(env):
    llm = LlmSettings.from_options({"connection": "vllm"}, env)
    assert llm.base_url == "http://vllm.internal:8000/v1"
    assert llm.api_key is not None and llm.api_key.get_secret_value() == LOCAL_PLACEHOLDER_KEY


@pytest.mark.parametrize(
    "base_url",
    [
        "https://collector.example/v1",
        "https://api.openai.com.evil.example/v1",
        "https://api.openai.com/v1@evil.example",
        "https://api.openai.com:444/v1",
        "http://api.openai.com/v1",  # another scheme: the key would travel in clear
        "https://api.openai.com/v2",
        "https://api.openai.com/V1",  # paths are case-sensitive
    ],
)
def test_a_sql_base_url_off_the_connection_is_refused_without_the_key(env, base_url):
    with pytest.raises(ConfigError) as err:
        LlmSettings.from_options({"connection": "openai-prod", "base-url": base_url}, env)
    message = str(err.value)
    assert "not an endpoint of connection 'openai-prod'" in message
    assert "flink-rag.llm.connection" in message and KEY not in message


@pytest.mark.parametrize(
    "base_url",
    ["HTTPS://API.OPENAI.COM/v1/", "https://api.openai.com:443/v1", "https://api.openai.com./v1//"],
)
def test_the_same_endpoint_spelled_differently_still_gets_the_key(env, base_url):
    llm = LlmSettings.from_options({"connection": "openai-prod", "base-url": base_url}, env)
    assert llm.api_key is not None and llm.api_key.get_secret_value() == KEY


def test_a_loopback_url_off_the_connection_is_called_without_the_key(env):
    # Local and test servers keep working; the key stays home.
    llm = LlmSettings.from_options(
        {"connection": "openai-prod", "base-url": "http://127.0.0.1:9/v1"}, env
    )
    assert llm.api_key is None


@pytest.mark.parametrize(
    ("url", "loopback"),
    [
        ("http://127.0.0.1:1/v1", True),
        ("http://127.9.9.9/v1", True),
        ("http://[::1]:8000/v1", True),
        ("HTTP://LOCALHOST:1/v1/", True),
        ("http://127.0.0.1.evil.example/v1", False),
        ("http://localhost.evil.example/v1", False),
        ("http://0.0.0.0:1/v1", False),
        ("http://user@127.0.0.1/v1", False),  # not a plain URL at all
    ],
)
def test_loopback_means_an_address_of_this_machine_not_a_look_alike_name(url, loopback):
    assert is_loopback(url) is loopback


def test_the_environment_is_the_default_connection():
    env = {"OPENAI_API_KEY": KEY, "FLINK_RAG_LLM_BASE_URL": "https://llm.example/v1/"}
    llm = LlmSettings.from_options({}, env)
    assert llm.api_key is not None and llm.api_key.get_secret_value() == KEY
    assert llm.connection == DEFAULT
    # The local server (the built-in default) never gets the key.
    assert LlmSettings.from_options({}, {"OPENAI_API_KEY": KEY}).api_key is None
    # The embedder on OpenAI's API (base URL unset) does, as it always did.
    embed = EmbedSettings.from_options({"provider": "openai"}, {"OPENAI_API_KEY": KEY})
    assert embed.base_url is None and embed.api_key is not None
    # SQL pointing the default connection elsewhere: refused, the key not sent.
    with pytest.raises(ConfigError, match="not an endpoint of connection 'default'"):
        LlmSettings.from_options({"base-url": "https://collector.example/v1"}, env)
    # Without a key in the environment there is nothing to leak: as before.
    free = LlmSettings.from_options({"base-url": "http://127.0.0.1:1/v1"}, {})
    assert free.api_key is None


def test_stores_take_the_uri_of_their_connection_and_never_from_sql(env):
    store = StoreSettings.from_options("docs", {"connection": "atlas", "concurrency": "9"}, env)
    assert store.uri.get_secret_value() == URI and store.concurrency == 2
    local = StoreSettings.from_options("docs", {}, {})
    assert local.uri.get_secret_value().startswith("mongodb://127.0.0.1:")
    with pytest.raises(
        ConfigError, match="of kind 'mongodb'; this function needs one of kind 'openai'"
    ):
        LlmSettings.from_options({"connection": "atlas"}, env)  # no URI as a bearer token
    with pytest.raises(
        ConfigError, match="of kind 'openai'; this function needs one of kind 'mongodb'"
    ):
        StoreSettings.from_options("docs", {"connection": "openai-prod"}, env)


def test_an_unknown_connection_names_the_known_ones_and_the_fix(env):
    with pytest.raises(ConfigError) as err:
        LlmSettings.from_options({"connection": "openai-staging"}, env)
    assert "atlas, default, openai-prod, vllm" in str(err.value)
    assert CONNECTIONS_ENV in str(err.value)


def test_api_key_env_is_gone_and_says_what_replaces_it():
    for params in (
        {"flink-rag.llm.api-key-env": "MONGODB_URI"},
        {"flink-rag.embed.api-key-env": "OPENAI_API_KEY"},
    ):
        with pytest.raises(ConfigError, match="connection'") as err:
            validate(params, env={}, resolve=False)
        assert "operator" in str(err.value)


def test_a_missing_secret_of_a_named_connection_fails_at_job_start(env):
    del env["ATLAS_URI"]
    with pytest.raises(ConfigError, match="env var ATLAS_URI, which is not set"):
        StoreSettings.from_options("docs", {"connection": "atlas"}, env)


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ('[connections.a]\nkind = "openai"\nendpoint = "https://u:{s}@h/v1"', "a.endpoint"),
        ('[connections.a]\nkind = "openai"\nendpoint = "https://h/v1?key={s}"', "a.endpoint"),
        ('[connections.a]\nkind = "openai"\napi-key = "{s}"', "a.api-key"),
        ('[connections.a]\nkind = "mongodb"\nendpoint = "mongodb://u:{s}@h"', "a.endpoint"),
        ('[connections.a]\nkind = "openai"\nsecret-env = "{s}"', "a.secret-env"),
        ('[connections.a]\nkind = "anthropic"\nsecret-file = "/x"', "a.kind"),
        ('[connections.a]\nkind = "openai"\nrpm = 0', "a.rpm"),
        ('[connections.a]\nkind = "mongodb"\nsecret-env = "A"\nsecret-file = "/x"', "a"),
        ('[connections.a]\nkind = "mongodb"', "a"),
    ],
)
def test_file_errors_name_the_file_and_field_never_the_value(text, field):
    secret = "sk-MARKER-careless"
    with pytest.raises(ConfigError) as err:
        parse(text.format(s=secret), "/etc/flink-rag/connections.toml")
    message = str(err.value)
    assert message.startswith("/etc/flink-rag/connections.toml: connections.")
    assert message.startswith(f"/etc/flink-rag/connections.toml: connections.{field}: "), message
    assert "MARKER" not in message


def test_a_broken_or_missing_file_says_what_to_do(tmp_path):
    with pytest.raises(ConfigError, match="cannot be read"):
        Connections.load({CONNECTIONS_ENV: str(tmp_path / "absent.toml")})
    bad = tmp_path / "bad.toml"
    bad.write_text('[connections.a\nkind = "sk-MARKER"')
    with pytest.raises(ConfigError, match="not valid TOML") as err:
        Connections.load({CONNECTIONS_ENV: str(bad)})
    assert "MARKER" not in str(err.value)


def test_a_file_default_replaces_the_environments_of_its_kind(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('[connections.default]\nkind = "openai"\nendpoint = "https://gw.example/v1"\n')
    conns = Connections.load({CONNECTIONS_ENV: str(path)})
    assert conns.get("default", "openai", "x").endpoint == "https://gw.example/v1"
    assert conns.get("default", "mongodb", "x").secret_env == "MONGODB_URI"


@settings(max_examples=300, deadline=None)
@given(st.text(min_size=1, max_size=80))
def test_hostile_connection_names_are_refused_short_and_printable(name):
    text = f'[connections."{name.replace(chr(92), "").replace(chr(34), "")}"]\nkind = "openai"\n'
    try:
        found = parse(text, "c.toml")
    except ConfigError as err:
        assert "\n" not in str(err) or "TOML" in str(err)
        assert len(str(err)) < 400
        return
    for key in found:  # what is accepted is a plain lower-case word
        assert key == key.lower() and key.isascii() and " " not in key and "." not in key


URL_CHARS = "hHtTpPsS:/.@?#%\\ \t[]-_~aAzZ0189lLoOcC"


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet=URL_CHARS, max_size=40))
def test_canonical_endpoints_name_one_host_for_every_parser(url):
    canonical = canonical_endpoint(url)
    if canonical is None:
        return
    assert canonical_endpoint(canonical) == canonical  # idempotent
    # The client library reads the same scheme, host and port out of the original text as
    # the comparison did: no parser differential can send a key to another host.
    sent = httpx.URL(url.strip())
    ours = urlsplit(canonical)
    assert (sent.scheme, sent.host.rstrip(".")) == (ours.scheme, ours.hostname)
    assert (sent.port or {"http": 80, "https": 443}[sent.scheme]) == (
        ours.port or {"http": 80, "https": 443}[ours.scheme]
    )
    assert "@" not in canonical and "?" not in canonical and "#" not in canonical


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(["http", "HTTP", "Http", "https", "HTTPS"]),
    st.sampled_from(["localhost", "LOCALHOST", "LocalHost", "127.0.0.1"]),
    st.sampled_from(["", ":1", ":80", ":443"]),
    st.sampled_from(["", "/", "/v1", "/v1/", "/v1//", "/V1"]),
)
def test_case_ports_and_slashes_compare_as_rfc_3986_says(scheme, host, port, path):
    url = f"{scheme}://{host}{port}{path}"
    canonical = canonical_endpoint(url)
    assert canonical is not None
    lower = scheme.lower()
    default = {"http": ":80", "https": ":443"}[lower]
    shown_port = "" if port in ("", default) else port
    assert canonical == f"{lower}://{host.lower()}{shown_port}{path.rstrip('/')}"


def test_bind_sends_the_key_only_to_the_connection_endpoint(env):
    conn = Connections.load(env).get("openai-prod", "openai", "x")
    assert bind_openai(conn, None, env, "p.") == ("https://api.openai.com/v1", KEY)
    assert bind_openai(conn, "HTTPS://api.OpenAI.com/v1/", env, "p.")[1] == KEY
    assert bind_openai(conn, "http://localhost:1/v1", env, "p.") == ("http://localhost:1/v1", None)
    for hostile in (
        "https://api.openai.com\\@evil.example/v1",
        "https://evil.example#@api.openai.com/v1",
    ):
        with pytest.raises(ConfigError):
            bind_openai(conn, hostile, env, "p.")
