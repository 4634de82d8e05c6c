"""LLM_COMPLETE's client under the load server's RPM and TPM limits (OpenAI's headers): no row
fails, each answer is its own row's, and the provider rejects fewer calls than it answers.
Values only; throughput is measured in `flink-rag bench` (completions-rpm, completions-tpm)."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

import pytest

from flink_rag.connectors.metrics import RecordingMetrics
from flink_rag.connectors.openai_chat import ChatClient, ChatRequest
from flink_rag.connectors.settings import LlmSettings
from flink_rag_bench import fake_responses as fake
from flink_rag_bench.load_server import LoadServer

pytestmark = pytest.mark.integration

ROWS = 90
CONCURRENCY = 32


def run_rows(server: LoadServer, **changes: object) -> tuple[list, RecordingMetrics]:
    settings = LlmSettings(
        base_url=server.base_url, model="bench-chat", api_key="sk-test-0123456789abcdef"
    ).model_copy(update={"concurrency": CONCURRENCY, "max_tokens": 64, **changes})
    metrics = RecordingMetrics()
    prompts = [f"passenger {i} needs a seat" for i in range(ROWS)]
    with ChatClient(settings, metrics) as client:
        answers = client.complete_many([ChatRequest(p) for p in prompts])
    for prompt, answer in zip(prompts, answers, strict=True):
        assert answer.error is None, answer.error
        assert answer.text is not None and answer.text.startswith(fake.marker_tag(prompt))
    return answers, metrics


@pytest.mark.parametrize(
    "limits",
    [
        {"rpm": 3600},  # 60/s, holds 6: 32 calls at once would be rejected 26 at a time
        {"tpm": 3600 * 70},  # ~60 calls/s of prompt + 64 tokens
    ],
    ids=["rpm", "tpm"],
)
def test_adaptive_client_loses_no_row_and_is_rejected_less_than_answered(limits: dict) -> None:
    with LoadServer(latency_ms=20, burst_seconds=0.1, **limits) as server:
        _, metrics = run_rows(server)
        stats = server.stats()
    assert stats["ok_requests"] == ROWS
    assert stats["rate_limited"] <= stats["ok_requests"]
    assert metrics.counters["llm_rate_waits"] > 0  # it paced, it did not just retry
    assert metrics.counters["llm_rate_limited"] == stats["rate_limited"]


def test_without_adaptation_the_same_limit_is_hammered() -> None:
    """The anchor: same rows, fixed calls in flight, SDK retries only - still no row lost."""
    with LoadServer(latency_ms=20, burst_seconds=0.1, rpm=3600) as server:
        run_rows(server, adaptive_concurrency=False)
        stats = server.stats()
    assert stats["ok_requests"] == ROWS
    assert stats["rate_limited"] > stats["ok_requests"]


def test_per_row_calls_from_an_asyncio_executor_share_the_pacing() -> None:
    """One `complete()` per row, run in an event loop's executor (the per-row async path)."""
    settings = LlmSettings(
        base_url="", model="bench-chat", api_key="sk-test-0123456789abcdef"
    ).model_copy(update={"concurrency": CONCURRENCY, "max_tokens": 64})
    prompts = [f"row {i} from the loop" for i in range(60)]

    async def drive(client: ChatClient) -> list:
        loop = asyncio.get_running_loop()
        with ThreadPoolExecutor(max_workers=CONCURRENCY) as pool:
            calls = [loop.run_in_executor(pool, client.complete, p) for p in prompts]
            return await asyncio.wait_for(asyncio.gather(*calls), timeout=120)

    with LoadServer(latency_ms=20, burst_seconds=0.1, rpm=3600) as server:
        with ChatClient(settings.model_copy(update={"base_url": server.base_url})) as client:
            answers = asyncio.run(drive(client))
        stats = server.stats()
    for prompt, answer in zip(prompts, answers, strict=True):
        assert answer.error is None and answer.text.startswith(fake.marker_tag(prompt))
    assert stats["ok_requests"] == len(prompts)
    assert stats["rate_limited"] <= stats["ok_requests"]
