"""OpenAI-compatible embedder and client setup: keys, local placeholders, redaction."""

import pytest

from flink_rag.connectors.embedders import create_embedder
from flink_rag.connectors.errors import ConfigError
from flink_rag.connectors.openai_embedding import OpenAIEmbedder
from flink_rag.connectors.openai_http import (
    LOCAL_PLACEHOLDER_KEY,
    is_local_url,
    redact,
    resolve_api_key,
)
from flink_rag.connectors.settings import EmbedSettings

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("url", "local"),
    [
        ("http://127.0.0.1:18000/v1", True),
        ("http://localhost:11434/v1", True),
        ("http://[::1]:8000/v1", True),
        ("https://api.example.com/v1", False),
        (None, False),
    ],
)
def test_local_urls(url, local):
    assert is_local_url(url) is local


def test_remote_url_without_key_names_the_connection_and_how_to_get_one():
    with pytest.raises(ConfigError, match="connection 'prod'") as err:
        resolve_api_key(None, "prod", "https://api.example.com/v1", "embed")
    assert "flink-rag.embed.connection" in str(err.value)
    assert "FLINK_RAG_CONNECTIONS" in str(err.value)


def test_local_server_gets_a_placeholder_and_a_given_key_wins():
    assert resolve_api_key(None, "X", "http://127.0.0.1:1/v1", "llm") == LOCAL_PLACEHOLDER_KEY
    assert resolve_api_key("k", "X", None, "llm") == "k"


def test_openai_embedder_refuses_to_open_without_a_key():
    settings = EmbedSettings.from_options({"provider": "openai", "cache-dir": "off"}, env={})
    embedder = create_embedder(settings)
    assert isinstance(embedder, OpenAIEmbedder)
    assert embedder.dimensions == 1536  # text-embedding-3-small, known before any call
    with pytest.raises(ConfigError, match="OPENAI_API_KEY"):
        embedder.open()


def test_key_from_a_file_is_used_and_kept_out_of_repr(tmp_path):
    key_file = tmp_path / "key"
    key_file.write_text("sk-from-file-123456789\n")
    settings = EmbedSettings.from_options(
        {"provider": "openai", "dimensions": "256"}, env={"OPENAI_API_KEY_FILE": str(key_file)}
    )
    assert settings.api_key is not None
    assert settings.api_key.get_secret_value() == "sk-from-file-123456789"
    assert "sk-from-file" not in repr(settings)
    embedder = create_embedder(settings)
    assert embedder.dimensions == 256
    assert embedder.cache_params() == {"base_url": None, "dimensions": 256}


def test_redact_removes_the_key_and_key_shaped_strings():
    text = "Incorrect API key provided: sk-proj-abcdefgh1234. Also my-secret-value."
    assert "sk-proj" not in redact(text)
    assert "my-secret-value" not in redact(text, api_key="my-secret-value")
    assert len(redact("x" * 1000)) < 400


def test_byte_bound_counting_without_tiktoken_tables():
    embedder = create_embedder(
        EmbedSettings.from_options({"provider": "openai", "cache-dir": "off"}, env={})
    )
    # Whatever the counter, it never under-counts BPE tokens of these encodings.
    assert embedder.count_tokens("héllo wörld") >= 2
    cut = embedder.truncate("word " * 10_000, 100)
    assert embedder.count_tokens(cut) <= 100


def test_embedders_pickle_without_their_clients():
    import pickle

    settings = EmbedSettings.from_options(
        {"provider": "openai", "base-url": "http://127.0.0.1:9/v1"}, env={}
    )
    embedder = create_embedder(settings)
    embedder.open()
    copy = pickle.loads(pickle.dumps(embedder))
    assert copy._client is None and copy.settings == settings
    embedder.close()
    local = create_embedder(EmbedSettings.from_options({"cache-dir": "off"}, env={}))
    assert pickle.loads(pickle.dumps(local)).model == "all-MiniLM-L6-v2"
