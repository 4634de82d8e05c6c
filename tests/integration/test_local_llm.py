"""The real local LLM server (llama-cpp-python + SmolLM2-135M): a plain completion, and a
structured answer the grammar-constrained decoder keeps valid for the schema."""

import json

import pytest

from flink_rag.connectors.metrics import RecordingMetrics
from flink_rag.connectors.openai_chat import ChatClient, ChatRequest
from flink_rag.connectors.settings import LlmSettings

pytestmark = pytest.mark.integration

CHOICE = {
    "type": "object",
    "properties": {
        "flight_id": {"type": "string", "enum": ["UA101", "UA205", "DL330"]},
        "confidence": {"type": "string", "enum": ["high", "medium", "low"]},
    },
    "required": ["flight_id", "confidence"],
    "additionalProperties": False,
}


@pytest.fixture(scope="module")
def settings(local_stack) -> LlmSettings:
    base = LlmSettings.from_options({"cache-dir": "off"}, env={})
    return base.model_copy(
        update=dict(base_url=local_stack.llm_base_url, temperature=0.0, seed=42, max_tokens=48)
    )


def test_plain_completion(settings):
    metrics = RecordingMetrics()
    with ChatClient(settings, metrics) as chat:
        result = chat.complete("Name one colour of the sky.", system="Answer in one word.")
    assert result.error is None, result.error
    assert result.text and result.text.strip()
    assert result.prompt_tokens and result.prompt_tokens > 5
    assert result.completion_tokens and 0 < result.completion_tokens <= 48
    assert metrics.counters["llm_requests"] == 1


def test_structured_answers_are_schema_valid(settings):
    prompts = [
        "Flights: UA101 09:00, UA205 07:00, DL330 12:00. Which leaves earliest?",
        "Flights: UA101 full, UA205 full, DL330 has seats. Which can take the passenger?",
        "Pick a flight for a passenger going to Boston: UA101, UA205 or DL330.",
    ]
    metrics = RecordingMetrics()
    with ChatClient(settings.model_copy(update={"concurrency": 3}), metrics) as chat:
        results = chat.complete_many([ChatRequest(p, None, CHOICE) for p in prompts])
    for result in results:
        assert result.error is None, (result.error, result.text)
        answer = json.loads(result.text)
        assert answer["flight_id"] in ("UA101", "UA205", "DL330")
        assert answer["confidence"] in ("high", "medium", "low")
    # llama-cpp-python takes json_object + schema: the row's json_schema is refused, then a
    # trivial json_schema is refused too (so the server, not the row's schema, lacks it), then
    # 3 answers in json_object mode
    assert metrics.counters["llm_requests"] == 5
    assert metrics.counters["llm_invalid_output"] == 0
