"""An LLM endpoint outage between real parts (ChatClient -> toxiproxy -> local LLM server):
within `flink-rag.llm.outage-wait` it delays answers instead of turning them into errors, and
the wait shows in the metrics. Without the wait the same cut is a row error (the control)."""

from __future__ import annotations

import threading
import time
from urllib.parse import urlsplit

import pytest

from flink_rag.connectors.metrics import RecordingMetrics
from flink_rag.connectors.openai_chat import ChatClient
from flink_rag.connectors.settings import LlmSettings
from flink_rag.local.session import shared_stack
from flink_rag_bench.fault_scenario.toxiproxy import Toxiproxy

pytestmark = pytest.mark.integration

CUT_S = 8.0
PROMPTS = [f"Name one colour. Request {n}." for n in range(24)]


@pytest.fixture(scope="module")
def llm_proxy():
    with shared_stack(["llm"]) as endpoints, Toxiproxy() as toxiproxy:
        upstream = urlsplit(endpoints.llm_base_url).netloc
        yield toxiproxy.proxy("llm", upstream)


def _settings(proxy, **changes) -> LlmSettings:
    base = LlmSettings.from_options(
        {"base-url": f"http://{proxy.listen}/v1", "max-tokens": "8", "temperature": "0"},
        env={},
    )
    update = {"cache_dir": None, "timeout_s": 10.0, "max_retries": 1, "concurrency": 4, **changes}
    return base.model_copy(update=update)


def test_an_outage_within_the_wait_delays_every_answer(llm_proxy):
    metrics = RecordingMetrics()
    results: list = []
    with ChatClient(_settings(llm_proxy, outage_wait_s=60.0), metrics) as chat:
        worker = threading.Thread(target=lambda: results.extend(chat.complete_many(PROMPTS)))
        worker.start()
        time.sleep(0.5)
        llm_proxy.disable()
        try:
            time.sleep(CUT_S)
        finally:
            llm_proxy.enable()
        worker.join(timeout=120)
    assert not worker.is_alive()
    assert [r.error for r in results] == [None] * len(PROMPTS)
    assert all(r.text for r in results)
    assert metrics.counters["llm_outage_retries"] > 0
    assert max(metrics.values["llm_outage_wait_ms"]) >= 1000


def test_without_the_wait_the_same_cut_is_a_row_error(llm_proxy):
    llm_proxy.disable()
    try:
        with ChatClient(_settings(llm_proxy, outage_wait_s=0.0), RecordingMetrics()) as chat:
            result = chat.complete(PROMPTS[0])
    finally:
        llm_proxy.enable()
    assert result.text is None and "could not reach" in result.error
