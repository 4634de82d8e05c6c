"""The real all-MiniLM-L6-v2 from the installed package: offline, 384 dims, meaningful
similarities, truncation by tokens counted."""

import numpy as np
import pytest

from flink_rag.connectors.embed_bundle import embed_texts
from flink_rag.connectors.embedders import create_embedder
from flink_rag.connectors.metrics import RecordingMetrics
from flink_rag.connectors.settings import EmbedSettings

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def embedder():
    settings = EmbedSettings.from_options({"cache-dir": "off"}, env={})
    with create_embedder(settings) as model:
        yield model


def test_related_sentences_are_closer_than_an_unrelated_one(embedder):
    settings = EmbedSettings.from_options({"cache-dir": "off"}, env={})
    texts = [
        "My flight to Boston was cancelled this morning.",
        "The airline cancelled my Boston flight today.",
        "Bananas are rich in potassium.",
    ]
    results = embed_texts(embedder, texts, settings, RecordingMetrics())
    a, b, c = (np.asarray(r.vector) for r in results)
    assert a.shape == b.shape == c.shape == (384,)
    assert np.linalg.norm(a) == pytest.approx(1.0, abs=1e-4)
    assert float(a @ b) > float(a @ c) + 0.3


def test_long_text_is_truncated_by_tokens_and_counted(embedder):
    settings = EmbedSettings.from_options({"cache-dir": "off"}, env={})
    long_text = "rebooking policy clause " * 400
    assert embedder.count_tokens(long_text) > 256
    cut = embedder.truncate(long_text, 256)
    assert long_text.startswith(cut)
    assert 250 <= embedder.count_tokens(cut) <= 256
    metrics = RecordingMetrics()
    results = embed_texts(embedder, [long_text, cut], settings, metrics)
    assert metrics.counters["embed_truncated"] == 1
    assert metrics.counters["embed_requests"] == 1
    np.testing.assert_allclose(results[0].vector, results[1].vector, atol=1e-6)


def test_truncation_can_be_an_error_instead(embedder):
    settings = EmbedSettings.from_options({"on-overlong": "error", "cache-dir": "off"}, env={})
    results = embed_texts(embedder, ["word " * 300, "short"], settings)
    assert results[0].vector is None and "over the limit of 256" in results[0].error
    assert results[1].error is None and len(results[1].vector) == 384


def test_nulls_and_bad_text_do_not_stop_the_bundle(embedder):
    settings = EmbedSettings.from_options({"cache-dir": "off"}, env={})
    results = embed_texts(embedder, [None, "", "bad \ud800", "fine"], settings)
    assert (results[0].vector, results[0].error) == (None, None)
    assert (results[1].vector, results[1].error) == (None, None)
    assert "not valid UTF-8" in results[2].error
    assert len(results[3].vector) == 384
