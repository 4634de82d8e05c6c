"""Embeddings answers read from the raw body: base64 float32 arrays, the same bits as floats."""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence

import numpy as np
import openai
import pytest

from flink_rag.connectors.embed_bundle import embed_texts
from flink_rag.connectors.embedding import Embedder
from flink_rag.connectors.embedding_response import decode_base64_vector, vectors_from_body
from flink_rag.connectors.openai_embedding import OpenAIEmbedder
from flink_rag.connectors.response_cache import ResponseCache
from flink_rag.connectors.settings import EmbedSettings
from flink_rag_bench import fake_responses as fake
from flink_rag_bench.load_server import LoadServer

pytestmark = pytest.mark.unit

DIMS = 64


def _b64(vec: np.ndarray) -> str:
    return base64.b64encode(vec.astype("<f4").tobytes()).decode("ascii")


def test_base64_decodes_to_exactly_the_floats_the_sdk_would_give():
    vec = np.random.default_rng(7).standard_normal(DIMS).astype(np.float32)
    decoded = decode_base64_vector(_b64(vec))
    assert decoded.dtype == np.float32 and decoded.shape == (DIMS,)
    assert decoded.tobytes() == vec.tobytes()
    # the SDK's own path: frombuffer(...).tolist(), then EMBED's float32 array
    sdk = np.asarray(np.frombuffer(base64.b64decode(_b64(vec)), dtype="float32").tolist())
    assert np.asarray(sdk, dtype=np.float32).tobytes() == decoded.tobytes()


def test_vectors_come_back_in_input_order_whatever_the_item_order():
    vecs = [np.full(4, i, dtype=np.float32) for i in range(3)]
    items = [{"index": i, "embedding": _b64(v), "object": "embedding"} for i, v in enumerate(vecs)]
    body = json.dumps({"data": list(reversed(items))})
    assert [float(v[0]) for v in vectors_from_body(body)] == [0.0, 1.0, 2.0]


def test_float_lists_from_servers_that_ignore_the_format_are_kept_as_lists():
    body = json.dumps({"data": [{"index": 0, "embedding": [0.5, -1, 2.25]}]})
    assert vectors_from_body(body) == [[0.5, -1.0, 2.25]]


@pytest.mark.parametrize(
    "body, message",
    [
        ('{"object": "list", "data": [{"object": "embedding", "embe', "Unterminated"),
        ('{"object": "list"}', "without data"),
        ('{"data": [{"index": 0, "embedding": "!!not base64!!"}]}', "not valid base64"),
        ('{"data": [{"index": 0, "embedding": "AAAAAAA="}]}', "not a whole number"),
        ('{"data": [{"index": 0, "embedding": 3}]}', "not base64 or a list"),
    ],
)
def test_a_broken_answer_is_a_value_error(body, message):
    with pytest.raises(ValueError, match=message):
        vectors_from_body(body)


def _settings(server: LoadServer, **changes) -> EmbedSettings:
    return EmbedSettings(
        provider="openai", model="bench-embedding", base_url=server.base_url, max_retries=0
    ).model_copy(update=changes)


def test_a_base64_answer_of_the_load_server_gives_its_exact_vectors():
    texts = ["first row", "second row", "third"]
    with LoadServer(latency_ms=0, dimensions=DIMS) as server:
        embedder = OpenAIEmbedder(_settings(server))
        with embedder:
            ours = embedder.embed_batch(texts)
        assert server.stats()["ok_requests"] == 1
        # what the SDK itself decodes from the same server (its default is base64 too)
        client = openai.OpenAI(base_url=server.base_url, api_key="k", max_retries=0)
        sdk = client.embeddings.create(model="bench-embedding", input=texts).data
        as_floats = client.embeddings.create(
            model="bench-embedding", input=texts, encoding_format="float"
        ).data
    for text, vec, s, f in zip(texts, ours, sdk, as_floats, strict=True):
        assert isinstance(vec, np.ndarray) and vec.dtype == np.float32
        assert vec.tobytes() == fake.embedding_vector(text, DIMS).tobytes()
        assert vec.tobytes() == np.asarray(s.embedding, dtype=np.float32).tobytes()
        assert np.allclose(vec, f.embedding, atol=1e-6)  # float answers are rounded to 6 digits


class ArrayEmbedder(Embedder):
    """Answers float32 arrays like the OpenAI embedder; 'NAN' gives a NaN component."""

    provider = "arrays"
    model = "array-model"
    dimensions = 4

    def embed_batch(self, texts: Sequence[str]) -> list[np.ndarray]:
        return [
            np.array([np.nan if "NAN" in t else len(t), 1, 2, 3], dtype=np.float32) for t in texts
        ]


def test_array_vectors_pass_checks_and_are_cached_as_lists(tmp_path):
    settings = EmbedSettings(provider="local").model_copy(update={"cache_dir": str(tmp_path)})
    cache = ResponseCache(str(tmp_path))
    results = embed_texts(ArrayEmbedder(), ["abc", "NAN here"], settings, cache=cache)
    assert isinstance(results[0].vector, np.ndarray)
    assert results[0].vector.tolist() == [3.0, 1.0, 2.0, 3.0]
    assert results[1].vector is None and "NaN or infinite" in (results[1].error or "")
    replay = embed_texts(ArrayEmbedder(), ["abc"], settings, cache=cache)
    assert replay[0].vector == [3.0, 1.0, 2.0, 3.0]  # from the cache: a plain list
