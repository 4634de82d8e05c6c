"""An embedding endpoint outage between real parts (OpenAIEmbedder -> toxiproxy -> the local
MiniLM model behind /v1/embeddings): within `flink-rag.embed.outage-wait` it delays the
vectors instead of failing the rows, and the wait shows in the metrics. Without the wait the
same cut is an error (the control)."""

from __future__ import annotations

import threading
import time
from urllib.parse import urlsplit

import numpy as np
import pytest
from embeddings_endpoint import EmbeddingsEndpoint

from flink_rag.connectors.errors import FlinkRagError
from flink_rag.connectors.metrics import RecordingMetrics
from flink_rag.connectors.openai_embedding import OpenAIEmbedder
from flink_rag.connectors.settings import LOCAL_EMBED_MODEL, EmbedSettings
from flink_rag_bench.fault_scenario.toxiproxy import Toxiproxy

pytestmark = pytest.mark.integration

CUT_S = 5.0
TEXTS = [f"Passenger {n} needs a seat on the next flight to Lisbon." for n in range(6)]


@pytest.fixture(scope="module")
def proxied():
    with EmbeddingsEndpoint() as endpoint, Toxiproxy() as toxiproxy:
        proxy = toxiproxy.proxy("embed", urlsplit(endpoint.base_url).netloc)
        yield endpoint, proxy


def _embedder(proxy, metrics, **changes) -> OpenAIEmbedder:
    base = EmbedSettings.from_options(
        {
            "provider": "openai",
            "base-url": f"http://{proxy.listen}/v1",
            "model": LOCAL_EMBED_MODEL,
            "cache-dir": "off",
        },
        env={"OPENAI_API_KEY": "sk-local-not-a-secret"},
    )
    update = {"timeout_s": 5.0, "max_retries": 1, **changes}
    return OpenAIEmbedder(base.model_copy(update=update), metrics)


def test_an_outage_within_the_wait_delays_the_vectors(proxied):
    endpoint, proxy = proxied
    metrics = RecordingMetrics()
    embedder = _embedder(proxy, metrics, outage_wait_s=60.0)
    results: list = []
    proxy.disable()
    try:
        worker = threading.Thread(target=lambda: results.extend(embedder.embed_batch(TEXTS)))
        started = time.monotonic()
        worker.start()
        time.sleep(CUT_S)
    finally:
        proxy.enable()
    worker.join(timeout=60)
    embedder.close()
    assert not worker.is_alive()
    assert time.monotonic() - started >= CUT_S
    # The vectors are the model's own for these texts, not placeholders.
    assert np.allclose(np.array(results), np.array(endpoint.embed(TEXTS)), atol=1e-5)
    assert metrics.counters["embed_outage_retries"] > 0
    assert max(metrics.values["embed_outage_wait_ms"]) >= (CUT_S - 1.0) * 1000


def test_without_the_wait_the_same_cut_is_an_error(proxied):
    _, proxy = proxied
    embedder = _embedder(proxy, RecordingMetrics(), outage_wait_s=0.0)
    proxy.disable()
    try:
        with pytest.raises(FlinkRagError, match="could not reach"):
            embedder.embed_batch(TEXTS[:1])
    finally:
        proxy.enable()
        embedder.close()
