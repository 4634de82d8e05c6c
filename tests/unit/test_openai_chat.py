"""ChatClient over a fake SDK client: row handling, structured output, errors, cache."""

import json
import threading
from types import SimpleNamespace

import httpx2
import openai
import pytest

from flink_rag.connectors.errors import ProviderError
from flink_rag.connectors.metrics import RecordingMetrics
from flink_rag.connectors.openai_chat import ChatClient, ChatRequest, Completion
from flink_rag.connectors.response_cache import ResponseCache
from flink_rag.connectors.settings import LlmSettings

pytestmark = pytest.mark.unit


@pytest.fixture(autouse=True)
def short_backoffs(monkeypatch):
    """The call policy's pauses in milliseconds: retries are counted, not waited for."""
    from flink_rag.connectors import call_policy

    monkeypatch.setattr(call_policy, "OUTAGE_BACKOFF", (0.001, 0.002))
    monkeypatch.setattr(call_policy, "BACK_PRESSURE_BACKOFF", (0.001, 0.002))


SCHEMA = {
    "type": "object",
    "properties": {"flight_id": {"type": "string", "enum": ["UA1", "UA2"]}},
    "required": ["flight_id"],
    "additionalProperties": False,
}


def status_error(status: int, message: str) -> openai.APIStatusError:
    request = httpx2.Request("POST", "http://127.0.0.1:1/v1/chat/completions")
    response = httpx2.Response(status, request=request)
    return openai.APIStatusError(message, response=response, body={"message": message})


class FakeSdk:
    """Answers `echo: <prompt>` (or `answers[prompt]`); records every request body."""

    def __init__(self, answers=None, fail=None):
        self.answers = answers or {}
        self.fail = fail or {}
        self.bodies: list[dict] = []
        self.lock = threading.Lock()
        self.chat = SimpleNamespace(completions=SimpleNamespace(create=self.create))

    def create(self, **body):
        with self.lock:
            self.bodies.append(body)
        prompt = body["messages"][-1]["content"]
        if prompt in self.fail:
            raise self.fail[prompt](body)
        text = self.answers.get(prompt, f"echo: {prompt}")
        choice = SimpleNamespace(message=SimpleNamespace(content=text), finish_reason="stop")
        usage = SimpleNamespace(prompt_tokens=len(prompt), completion_tokens=len(text))
        return SimpleNamespace(choices=[choice], usage=usage)

    def with_options(self, **options):
        self.options = options
        return self

    def close(self):
        pass


def client(sdk, metrics=None, cache=None, **changes):
    settings = LlmSettings().model_copy(update=changes)
    return ChatClient(settings, metrics or RecordingMetrics(), cache, client=sdk)


def test_complete_sends_options_and_returns_usage():
    sdk = FakeSdk()
    with client(sdk, temperature=0.0, max_tokens=20, seed=7) as chat:
        result = chat.complete("hello", system="be brief")
    assert result.text == "echo: hello" and result.error is None
    assert (result.prompt_tokens, result.completion_tokens) == (5, 11)
    assert result.latency_ms is not None and result.latency_ms >= 0
    body = sdk.bodies[0]
    assert body["messages"] == [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "hello"},
    ]
    assert (body["temperature"], body["max_tokens"], body["seed"]) == (0.0, 20, 7)
    assert "response_format" not in body


def test_null_and_bad_prompts_make_no_call():
    sdk = FakeSdk()
    with client(sdk) as chat:
        results = chat.complete_many([None, "", ChatRequest(5), ChatRequest("x\ud800")])
    assert results[0] == results[1] == Completion(None, None)
    assert "LLM_COMPLETE prompt must be a STRING" in results[2].error
    assert "not valid UTF-8" in results[3].error
    assert sdk.bodies == []


def test_complete_many_keeps_input_order_under_concurrency():
    sdk = FakeSdk()
    prompts = [f"prompt {i}" for i in range(200)]
    with client(sdk, concurrency=16) as chat:
        results = chat.complete_many(prompts)
    assert [r.text for r in results] == [f"echo: {p}" for p in prompts]


def test_structured_answer_is_validated_and_raw_text_kept():
    sdk = FakeSdk(answers={"good": '{"flight_id": "UA2"}', "bad": '{"flight_id": "ZZ"}'})
    metrics = RecordingMetrics()
    with client(sdk, metrics) as chat:
        good = chat.complete("good", schema=SCHEMA)
        bad = chat.complete("bad", schema=json.dumps(SCHEMA))
        broken = chat.complete("broken", schema=SCHEMA)
    assert good == Completion('{"flight_id": "UA2"}', None, 4, 20, good.latency_ms, "stop")
    assert bad.text == '{"flight_id": "ZZ"}'
    assert bad.error.startswith("answer does not match the schema: $.flight_id: 'ZZ'")
    assert broken.text == "echo: broken"
    assert broken.error.startswith("answer is not valid JSON")
    assert metrics.counters["llm_invalid_output"] == 2
    assert sdk.bodies[0]["response_format"]["type"] == "json_schema"
    assert sdk.bodies[0]["response_format"]["json_schema"]["strict"] is True


def test_an_invalid_schema_is_a_row_error_without_a_call():
    sdk = FakeSdk()
    with client(sdk) as chat:
        result = chat.complete("q", schema="{nope")
    assert result.text is None and "json_schema is not valid JSON" in result.error
    assert sdk.bodies == []


def test_auto_style_falls_back_to_json_object_once_when_the_server_refuses():
    def refuse(body):
        if body["response_format"]["type"] == "json_schema":
            # what llama-cpp-python 0.3.x answers: a 500 carrying a validation error
            return status_error(500, "body.response_format.type: Input should be 'json_object'")
        return None

    class Llamaish(FakeSdk):
        def create(self, **body):
            error = refuse(body)
            if error is not None:
                with self.lock:
                    self.bodies.append(body)
                raise error
            return super().create(**body)

    sdk = Llamaish(answers={"a": '{"flight_id": "UA1"}', "b": '{"flight_id": "UA2"}'})
    with client(sdk) as chat:
        first = chat.complete("a", schema=SCHEMA)
        second = chat.complete("b", schema=SCHEMA)
    assert first.error is None and second.error is None
    styles = [b["response_format"]["type"] for b in sdk.bodies]
    # the row's json_schema, the trivial one that confirms the server has none, then json_object
    assert styles == ["json_schema", "json_schema", "json_object", "json_object"]
    assert sdk.bodies[1]["response_format"]["json_schema"]["schema"] == {"type": "object"}
    assert sdk.bodies[2]["response_format"]["schema"] == SCHEMA


def test_auto_style_keeps_json_schema_when_the_server_takes_it():
    sdk = FakeSdk(answers={"a": '{"flight_id": "UA1"}', "b": '{"flight_id": "UA2"}'})
    with client(sdk) as chat:
        results = chat.complete_many([ChatRequest(p, None, SCHEMA) for p in ("a", "b")])
    assert [r.error for r in results] == [None, None]
    assert [b["response_format"]["type"] for b in sdk.bodies] == ["json_schema"] * 2


def test_fixed_style_is_used_as_configured():
    sdk = FakeSdk(answers={"a": '{"flight_id": "UA1"}'})
    with client(sdk, structured_output="json_object") as chat:
        chat.complete("a", schema=SCHEMA)
    assert sdk.bodies[0]["response_format"] == {"type": "json_object", "schema": SCHEMA}


def test_provider_failure_is_a_row_error_with_advice():
    sdk = FakeSdk(fail={"slow": lambda b: status_error(429, "Rate limit reached")})
    metrics = RecordingMetrics()
    with client(sdk, metrics, max_retries=3, rate_limit_wait_s=0) as chat:
        results = chat.complete_many(["slow", "fine"])
    assert results[0].text is None
    assert "HTTP 429" in results[0].error and "after 3 retries" in results[0].error
    assert "flink-rag.llm.concurrency" in results[0].error
    assert results[1].text == "echo: fine"
    assert metrics.counters["llm_errors"] == 1


def test_a_rate_limit_that_outlasts_the_sdk_retries_is_waited_out():
    # The first two calls are rate limited past the SDK's retries (the fake has none); the
    # row waits (Retry-After 10 ms) and then gets its answer instead of an error.
    calls = {"n": 0}

    def limited(body):
        calls["n"] += 1
        if calls["n"] <= 2:
            request = httpx2.Request("POST", "http://127.0.0.1:1/v1/chat/completions")
            response = httpx2.Response(429, request=request, headers={"retry-after-ms": "10"})
            return openai.RateLimitError("Rate limit reached", response=response, body=None)
        return None

    sdk = FakeSdk()
    original = sdk.create

    def create(**body):
        error = limited(body)
        if error is not None:
            raise error
        return original(**body)

    sdk.chat.completions.create = create
    metrics = RecordingMetrics()
    with client(sdk, metrics, rate_limit_wait_s=30) as chat:
        result = chat.complete("patient")
    assert (result.text, result.error) == ("echo: patient", None)
    assert metrics.counters["llm_rate_limit_waits"] == 2


def test_a_rate_limit_past_the_wait_budget_is_a_row_error():
    sdk = FakeSdk(fail={"slow": lambda b: status_error(429, "Rate limit reached")})
    with client(sdk, rate_limit_wait_s=0.05) as chat:
        result = chat.complete("slow")
    assert result.text is None and "HTTP 429" in result.error


def test_secret_never_reaches_the_error_text():
    key = "sk-proj-abcdefghijklmnop1234"
    sdk = FakeSdk(fail={"q": lambda b: status_error(401, f"Incorrect API key provided: {key}")})
    with client(sdk) as chat:
        result = chat.complete("q")
    assert "HTTP 401" in result.error and key not in result.error
    assert "flink-rag connections check" in result.error


def test_on_error_fail_raises():
    sdk = FakeSdk(fail={"q": lambda b: status_error(500, "boom")})
    with client(sdk, on_error="fail") as chat, pytest.raises(ProviderError, match="HTTP 500"):
        chat.complete("q")


def test_cache_returns_answers_and_never_stores_errors(tmp_path):
    cache = ResponseCache(str(tmp_path))
    try:
        sdk = FakeSdk(fail={"bad": lambda b: status_error(500, "boom")})
        metrics = RecordingMetrics()
        # max_retries=0: the call policy's retries reach the fake client (they left the SDK)
        with client(sdk, metrics, cache, temperature=0.0, max_retries=0) as chat:
            chat.complete_many(["q", "bad"])
            again = chat.complete_many(["q", "bad"])
        assert again[0].text == "echo: q" and again[1].error is not None
        prompts = [b["messages"][-1]["content"] for b in sdk.bodies]
        assert sorted(prompts) == ["bad", "bad", "q"]
        assert (metrics.counters["llm_cache_hits"], metrics.counters["llm_cache_misses"]) == (
            1,
            3,
        )
        with client(sdk, RecordingMetrics(), cache, temperature=0.7) as other:
            other.complete("q")
        assert len(sdk.bodies) == 4  # another temperature is another key
    finally:
        cache.close()


def test_client_survives_pickling_before_and_after_open():
    import pickle

    chat = ChatClient(LlmSettings(temperature=0.1))
    copy = pickle.loads(pickle.dumps(chat))
    assert copy.settings == chat.settings
    chat.open()
    try:
        reopened = pickle.loads(pickle.dumps(chat))
        assert reopened._client is None and reopened._pool is None
    finally:
        chat.close()


def test_requests_per_minute_limit_gates_every_call():
    sdk = FakeSdk()
    with client(sdk, requests_per_minute=2) as chat:
        results = chat.complete_many(["a", "b"])
        assert [r.text for r in results] == ["echo: a", "echo: b"]

        class Exhausted:
            def try_acquire(self, name, timeout):
                return False

        chat._limiter = Exhausted()
        refused = chat.complete("c")
    assert refused.text is None and "requests-per-minute=2" in refused.error
    assert len(sdk.bodies) == 2


def test_an_unexpected_error_in_one_row_is_that_rows_error():
    sdk = FakeSdk()
    original = sdk.create

    def create(**body):  # a response the client cannot read (choices is no list)
        if body["messages"][-1]["content"] == "bad":
            return SimpleNamespace(choices=5, usage=None)
        return original(**body)

    sdk.chat.completions.create = create
    with client(sdk) as chat:
        good, bad = chat.complete_many(["ok", "bad"])
    assert good.text == "echo: ok" and good.error is None
    assert bad.text is None and "unexpectedly (TypeError)" in bad.error


def test_on_error_fail_does_not_chain_the_raw_sdk_error():
    key = "sk-proj-abcdefghijklmnop1234"
    sdk = FakeSdk(fail={"q": lambda b: status_error(401, f"bad key {key}")})
    with client(sdk, on_error="fail") as chat, pytest.raises(ProviderError) as caught:
        chat.complete("q")
    assert caught.value.__cause__ is None and caught.value.__suppress_context__
    assert key not in str(caught.value)


def test_an_outage_within_the_wait_delays_the_answer_instead_of_failing_it(monkeypatch):
    from flink_rag.connectors import call_policy

    monkeypatch.setattr(call_policy, "OUTAGE_BACKOFF", (0.001, 0.002))
    failures = iter([openai.APIConnectionError(request=httpx2.Request("POST", "http://x"))] * 3)

    def flaky(body):
        error = next(failures, None)
        if error is not None:
            raise error
        return None

    sdk = FakeSdk(fail={})
    original = sdk.create

    def create(**body):
        flaky(body)
        return original(**body)

    sdk.chat.completions.create = create
    metrics = RecordingMetrics()
    with client(sdk, metrics, outage_wait_s=30.0, max_retries=0) as chat:
        result = chat.complete("q")
    assert result.text == "echo: q" and result.error is None
    assert metrics.counters["llm_outage_retries"] == 3
    assert len(metrics.values["llm_outage_wait_ms"]) == 1


def test_an_outage_past_the_wait_is_a_row_error():
    sdk = FakeSdk(fail={"q": lambda b: status_error(503, "down")})
    with client(sdk, outage_wait_s=0.0, max_retries=0) as chat:
        result = chat.complete("q")
    assert result.text is None and "HTTP 503" in result.error
