"""Provider faults against the deterministic OpenAI-compatible load server: latency, 429 with
Retry-After, 500, timeouts and broken JSON. Every row is either answered from its own input
or marked with an error - none is lost, none gets another row's answer."""

import numpy as np
import pytest

from flink_rag.connectors.embed_bundle import embed_texts
from flink_rag.connectors.embedders import create_embedder
from flink_rag.connectors.metrics import RecordingMetrics
from flink_rag.connectors.openai_chat import ChatClient, ChatRequest
from flink_rag.connectors.settings import EmbedSettings, LlmSettings
from flink_rag_bench import fake_responses as fake
from flink_rag_bench.load_server import LoadServer

pytestmark = pytest.mark.integration

FAKE_KEY = "sk-test-0123456789abcdefSECRET"
DIMS = 16


def chat_settings(server: LoadServer, **changes) -> LlmSettings:
    base = LlmSettings(base_url=server.base_url, model="bench-chat", api_key=FAKE_KEY)
    return base.model_copy(update=changes)


def embed_settings(server: LoadServer, **changes) -> EmbedSettings:
    base = EmbedSettings(
        provider="openai",
        model="bench-embedding",
        base_url=server.base_url,
        api_key=FAKE_KEY,
        dimensions=DIMS,
    )
    return base.model_copy(update=changes)


def assert_own_answer(prompt: str, text: str | None) -> None:
    assert text is not None and text.startswith(fake.marker_tag(prompt)), (prompt, text)


def test_64_calls_in_flight_each_answer_matches_its_own_prompt():
    prompts = [f"passenger {i} on flight UA{i % 7} needs a new seat" for i in range(256)]
    with LoadServer(latency_ms=400) as server:
        metrics = RecordingMetrics()
        with ChatClient(chat_settings(server, concurrency=64), metrics) as chat:
            results = chat.complete_many(prompts)
        stats = server.stats()
    assert stats["max_in_flight"] >= 50
    assert len(results) == len(prompts)
    for prompt, result in zip(prompts, results, strict=True):
        assert result.error is None
        assert_own_answer(prompt, result.text)
    assert metrics.counters["llm_requests"] == len(prompts)


def test_structured_answers_at_high_concurrency_are_valid_and_match_their_rows():
    schema = {
        "type": "object",
        "properties": {"note": {"type": "string"}, "ok": {"type": "boolean"}},
        "required": ["note", "ok"],
        "additionalProperties": False,
    }
    prompts = [f"row {i}" for i in range(120)]
    with LoadServer(latency_ms=300) as server:
        with ChatClient(chat_settings(server, concurrency=64)) as chat:
            results = chat.complete_many([ChatRequest(p, None, schema) for p in prompts])
        assert server.stats()["max_in_flight"] >= 50
    for prompt, result in zip(prompts, results, strict=True):
        assert result.error is None, result.error
        assert result.text == f'{{"note":"{fake.marker_tag(prompt)}","ok":true}}'


def test_429_and_500_are_retried_by_the_sdk_and_counted():
    prompts = [f"question {i}" for i in range(60)]
    faults = ("429:every=4", "500:every=9")
    with LoadServer(latency_ms=20, faults=faults, fault_retry_after_ms=50) as server:
        metrics = RecordingMetrics()
        with ChatClient(chat_settings(server, concurrency=16, max_retries=6), metrics) as chat:
            results = chat.complete_many(prompts)
        stats = server.stats()
    for prompt, result in zip(prompts, results, strict=True):
        assert result.error is None, result.error
        assert_own_answer(prompt, result.text)
    injected = stats["faults"]
    assert injected["429"] > 0 and injected["500"] > 0
    assert metrics.counters["llm_rate_limited"] == injected["429"]
    assert metrics.counters["llm_retries"] == injected["429"] + injected["500"]
    assert stats["requests_total"] == len(prompts) + injected["429"] + injected["500"]


def test_a_row_that_keeps_failing_is_marked_and_the_others_answered():
    prompts = ["fine 1", "POISON row", "fine 2"]
    with LoadServer(faults=("500:every=1:match=POISON",)) as server:
        metrics = RecordingMetrics()
        with ChatClient(chat_settings(server, max_retries=2), metrics) as chat:
            results = chat.complete_many(prompts)
        poison_requests = server.stats()["faults"]["500"]
    assert poison_requests == 3  # first try + 2 retries
    assert results[1].text is None
    assert "HTTP 500" in results[1].error and "after 2 retries" in results[1].error
    assert FAKE_KEY not in results[1].error
    assert_own_answer("fine 1", results[0].text)
    assert_own_answer("fine 2", results[2].text)
    assert metrics.counters["llm_errors"] == 1


def test_a_timeout_is_retried_then_marked():
    with LoadServer(
        faults=("timeout:first=1:match=SLOW1", "timeout:every=1:match=SLOW2"),
        timeout_sleep_s=5,
    ) as server:
        # One deadline per row (outage-wait + timeout): the retry must fit in it, so the row
        # gets 3 s of outage-wait; with none, its deadline is the one 0.5 s timeout.
        settings = chat_settings(server, timeout_s=0.5, max_retries=1, outage_wait_s=3.0)
        with ChatClient(settings, RecordingMetrics()) as chat:
            recovered, lost, fine = chat.complete_many(["SLOW1", "SLOW2", "fine"])
    assert_own_answer("SLOW1", recovered.text)
    assert lost.text is None and "timed out" in lost.error
    assert "flink-rag.llm.timeout" in lost.error
    assert_own_answer("fine", fine.text)


def test_broken_json_marks_only_its_own_row():
    prompts = [f"q{i}" for i in range(10)]
    server = LoadServer(faults=("badjson:first=1:match=q3",))
    with server, ChatClient(chat_settings(server, concurrency=4)) as chat:
        results = chat.complete_many(prompts)
    for i, (prompt, result) in enumerate(zip(prompts, results, strict=True)):
        if i == 3:
            assert result.text is None and "not valid OpenAI JSON" in result.error
        else:
            assert_own_answer(prompt, result.text)


def expected_vector(text: str) -> np.ndarray:
    return fake.embedding_vector(text, DIMS)


def test_embed_texts_batches_concurrently_and_survives_faults():
    texts = [f"need a seat from airport {i % 300} to hub {i % 11}" for i in range(1000)]
    texts[10] = texts[20]  # duplicates are sent once
    faults = ("500:every=5", "429:every=7")
    with LoadServer(latency_ms=50, faults=faults, fault_retry_after_ms=20) as server:
        settings = embed_settings(server, max_batch_inputs=40, concurrency=8, max_retries=6)
        metrics = RecordingMetrics()
        with create_embedder(settings, metrics) as embedder:
            results = embed_texts(embedder, texts, settings, metrics)
        stats = server.stats()
    assert len(results) == len(texts)
    for text, result in zip(texts, results, strict=True):
        assert result.error is None, result.error
        np.testing.assert_allclose(result.vector, expected_vector(text), atol=2e-6)
    unique = len(set(texts))
    assert stats["items"]["/v1/embeddings"] == unique
    assert metrics.counters["embed_requests"] == -(-unique // 40)
    assert stats["max_in_flight"] > 1
    injected = stats["faults"]
    assert metrics.counters["embed_retries"] == injected["500"] + injected["429"]
    assert metrics.counters["embed_rate_limited"] == injected["429"]


def test_embed_batch_that_fails_after_retries_marks_only_its_rows():
    texts = [f"text {i}" for i in range(9)]
    texts[4] = "POISON text"
    with LoadServer(faults=("500:every=1:match=POISON",)) as server:
        settings = embed_settings(server, max_batch_inputs=3, max_retries=1)
        with create_embedder(settings) as embedder:
            results = embed_texts(embedder, texts, settings)
    for i, (text, result) in enumerate(zip(texts, results, strict=True)):
        if i in (3, 4, 5):  # the batch holding the poisoned row
            assert result.vector is None and "HTTP 500" in result.error
            assert FAKE_KEY not in result.error
        else:
            np.testing.assert_allclose(result.vector, expected_vector(text), atol=2e-6)


def test_embed_broken_json_is_marked_not_lost():
    texts = ["a", "b", "c", "d"]
    with LoadServer(faults=('badjson:first=1:match="c"',)) as server:
        settings = embed_settings(server, max_batch_inputs=2)
        with create_embedder(settings) as embedder:
            results = embed_texts(embedder, texts, settings)
    assert [r.vector is None for r in results] == [False, False, True, True]
    assert "not valid OpenAI JSON" in results[2].error
