"""One deadline per row (outage-wait + one call's timeout) against a real HTTP server that
never recovers: a row rate-limited forever, one that gets 500 forever and one whose answers
never come in time each end as a row error before the deadline (plus a little slack for the
machine), with the calls they cost counted and an error that says what to raise.

Before the one policy, the same rows waited for the SDK's 6 retries inside every outage
attempt and 300 s of 429 waits on top: minutes instead of seconds."""

import time

import pytest

from flink_rag.connectors.embed_bundle import embed_texts
from flink_rag.connectors.embedders import create_embedder
from flink_rag.connectors.metrics import RecordingMetrics
from flink_rag.connectors.openai_chat import ChatClient
from flink_rag.connectors.settings import EmbedSettings, LlmSettings
from flink_rag_bench.load_server import LoadServer

pytestmark = pytest.mark.integration

TIMEOUT_S = 1.0
OUTAGE_WAIT_S = 3.0
DEADLINE_S = OUTAGE_WAIT_S + TIMEOUT_S
# Scheduling on a shared 2-core machine, the error's construction: never a retry's worth.
SLACK_S = 1.5


def chat_settings(server: LoadServer, **changes) -> LlmSettings:
    base = LlmSettings(base_url=server.base_url, model="bench-chat", api_key="sk-test-0123456789")
    update = {
        "timeout_s": TIMEOUT_S,
        "outage_wait_s": OUTAGE_WAIT_S,
        "max_retries": 6,
        "rate_limit_wait_s": 300.0,  # the old default budget of 429 waits, on its own
        "cache_dir": None,
        **changes,
    }
    return base.model_copy(update=update)


def one_row(server: LoadServer, prompt: str) -> tuple[str, float, RecordingMetrics]:
    metrics = RecordingMetrics()
    with ChatClient(chat_settings(server), metrics) as chat:
        started = time.monotonic()
        result = chat.complete(prompt)
        elapsed = time.monotonic() - started
    assert result.text is None and result.error, result
    return result.error, elapsed, metrics


def test_a_row_rate_limited_forever_ends_at_its_deadline():
    with LoadServer(faults=("429:every=1:match=LIMITED",), fault_retry_after_ms=300) as server:
        error, elapsed, metrics = one_row(server, "LIMITED row")
        calls = server.stats()["faults"]["429"]
    assert elapsed < DEADLINE_S + SLACK_S, (elapsed, error)
    # Retry-After 300 ms (x1-1.5 jitter) over the 3.5 s the 429 waits may use (outage-wait and
    # half a timeout): several, bounded
    assert 3 <= calls <= (OUTAGE_WAIT_S + TIMEOUT_S / 2) / 0.3 + 1
    assert metrics.counters["llm_rate_limited"] == calls
    assert metrics.counters["llm_rate_limit_waits"] == calls - 1
    assert "HTTP 429" in error and f"{calls} attempt(s)" in error
    assert "flink-rag.llm.outage-wait" in error and "flink-rag.llm.concurrency" in error


def test_a_row_failing_with_500_forever_ends_at_its_deadline():
    with LoadServer(faults=("500:every=1:match=BROKEN",)) as server:
        error, elapsed, metrics = one_row(server, "BROKEN row")
        calls = server.stats()["faults"]["500"]
    assert elapsed < DEADLINE_S + SLACK_S, (elapsed, error)
    assert calls >= 3  # quick retries and outage waits, all inside the 4 s
    assert metrics.counters["llm_outage_retries"] == calls - 1
    assert "HTTP 500" in error and f"{calls} attempt(s)" in error
    assert "flink-rag.llm.outage-wait" in error


def test_a_row_whose_answer_never_comes_in_time_ends_at_its_deadline():
    """Each attempt times out after 1 s; max-retries=6 would be 7 s of attempts: the deadline
    leaves room for 3 at most (1 s + pause + 1 s + pause + what is left)."""
    with LoadServer(faults=("timeout:every=1:match=SLOW",), timeout_sleep_s=30) as server:
        error, elapsed, metrics = one_row(server, "SLOW row")
        calls = server.stats()["faults"]["timeout"]
    assert elapsed < DEADLINE_S + SLACK_S, (elapsed, error)
    assert 2 <= calls <= 3
    assert metrics.counters.get("llm_outage_retries", 0) == 0  # slow is not an outage
    assert "timed out" in error and "flink-rag.llm.timeout" in error


def test_an_embedding_batch_rate_limited_forever_ends_at_its_deadline():
    with LoadServer(faults=("429:every=1:match=LIMITED",), fault_retry_after_ms=300) as server:
        settings = EmbedSettings(
            provider="openai",
            model="bench-embedding",
            base_url=server.base_url,
            api_key="sk-test-0123456789",
            dimensions=16,
        ).model_copy(
            update={"timeout_s": TIMEOUT_S, "outage_wait_s": OUTAGE_WAIT_S, "max_retries": 6}
        )
        with create_embedder(settings) as embedder:
            started = time.monotonic()
            results = embed_texts(embedder, ["LIMITED text"], settings)
            elapsed = time.monotonic() - started
        calls = server.stats()["faults"]["429"]
    assert elapsed < DEADLINE_S + SLACK_S, elapsed
    assert results[0].vector is None and "HTTP 429" in results[0].error
    assert calls >= 3 and f"{calls} attempt(s)" in results[0].error
