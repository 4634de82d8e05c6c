"""Token budgets on ChatClient over a fake SDK: nothing is called past the budget, refused
rows get `budget_exhausted` errors that say what to do, on-budget=fail stops the job, cache
replays cost nothing, and the operator's connection budget caps what SQL sets."""

from __future__ import annotations

import itertools
import threading
import time
from types import SimpleNamespace

import pytest

from flink_rag.connectors.errors import ProviderError
from flink_rag.connectors.metrics import RecordingMetrics
from flink_rag.connectors.openai_chat import ChatClient
from flink_rag.connectors.response_cache import ResponseCache
from flink_rag.connectors.settings import LlmSettings
from flink_rag.connectors.token_budget import BudgetLimits

pytestmark = pytest.mark.unit

_names = itertools.count()


class CountingSdk:
    """Answers every prompt with `ok`, reporting `used` tokens; counts what it was sent."""

    def __init__(self, prompt_tokens: int = 10, completion_tokens: int = 5):
        self.usage = SimpleNamespace(
            prompt_tokens=prompt_tokens, completion_tokens=completion_tokens
        )
        self.calls = 0
        self.lock = threading.Lock()
        self.chat = SimpleNamespace(completions=SimpleNamespace(create=self.create))

    def create(self, **body):
        with self.lock:
            self.calls += 1
        choice = SimpleNamespace(message=SimpleNamespace(content="ok"), finish_reason="stop")
        return SimpleNamespace(choices=[choice], usage=self.usage)

    def close(self):
        pass


def budgeted(sdk, metrics=None, cache=None, **changes) -> ChatClient:
    """A client on a profile of its own (ledgers are per process: tests must not share)."""
    settings = LlmSettings().model_copy(update={"max_tokens": 20, "budget_wait_s": 0.0, **changes})
    return ChatClient(settings, metrics or RecordingMetrics(), cache, sdk, f"p{next(_names)}")


def test_rows_past_the_budget_are_refused_and_never_sent():
    sdk, metrics = CountingSdk(), RecordingMetrics()
    with budgeted(sdk, metrics, tokens_per_minute=100) as chat:
        results = [chat.complete(f"row{i}") for i in range(10)]
    answered = [r for r in results if r.error is None]
    refused = [r for r in results if r.error is not None]
    # Each reserves about 29-31 (the prompt, 7 of overhead, max-tokens 20) and uses 15: after
    # five (75 used) a sixth no longer fits in 100.
    assert sdk.calls == len(answered) == 5
    assert sum(r.prompt_tokens + r.completion_tokens for r in answered) <= 100
    for r in refused:
        assert r.text is None
        assert r.error.startswith("budget_exhausted: profile 'p")
        assert "100 tokens per minute is spent for now" in r.error
        assert "tokens-per-minute" in r.error and "budget-wait" in r.error
    assert metrics.counters["llm_budget_refused"] == 5
    assert metrics.counters["llm_budget_spent_tokens"] == 75


def test_a_budget_wait_never_outlasts_the_rows_deadline():
    # budget-wait 300 s, but the row's one deadline is timeout + outage-wait (1.5 s): a row
    # past the budget must be refused when its deadline ends, not 300 s later.
    sdk = CountingSdk()
    with budgeted(
        sdk, tokens_per_minute=100, budget_wait_s=300.0, timeout_s=1.0, outage_wait_s=0.5
    ) as chat:
        answered = [chat.complete(f"row{i}") for i in range(5)]
        started = time.monotonic()
        refused = chat.complete("row5")
        waited = time.monotonic() - started
    assert [r.error for r in answered] == [None] * 5
    assert refused.text is None and refused.error.startswith("budget_exhausted: ")
    assert sdk.calls == 5
    assert waited < 60.0  # bounded by the deadline (1.5 s), far below budget-wait's 300 s


def test_on_budget_fail_stops_the_job():
    with (
        budgeted(CountingSdk(), tokens_per_job=40, on_budget="fail") as chat,
        pytest.raises(ProviderError, match=r"^budget_exhausted: .*40 tokens per job is spent"),
    ):
        for i in range(5):
            chat.complete(f"row{i}")


def test_a_cache_replay_costs_nothing_and_counts_nothing(tmp_path):
    cache = ResponseCache(str(tmp_path))
    try:
        sdk, metrics = CountingSdk(), RecordingMetrics()
        with budgeted(sdk, metrics, cache, tokens_per_job=40, temperature=0.0) as chat:
            first = chat.complete("same row")
            replays = [chat.complete("same row") for _ in range(20)]
            assert chat.budget_remaining("job") == 40 - 15
        assert first.error is None and all(r.text == "ok" and r.error is None for r in replays)
        assert sdk.calls == 1
        assert metrics.counters["llm_budget_spent_tokens"] == 15
        assert metrics.counters["llm_cache_hits"] == 20
    finally:
        cache.close()


def _failure(kind: str) -> Exception:
    import httpx2
    import openai

    request = httpx2.Request("POST", "http://127.0.0.1:1/v1/chat/completions")
    if kind == "refused":
        return openai.APIConnectionError(request=request)
    if kind == "timeout":
        return openai.APITimeoutError(request=request)
    status = int(kind)
    response = httpx2.Response(status, request=request)
    return openai.APIStatusError(kind, response=response, body={"message": kind})


@pytest.mark.parametrize(
    ("kind", "costs"),
    [("refused", False), ("429", False), ("400", False), ("500", True), ("timeout", True)],
)
def test_a_failed_call_keeps_its_estimate_only_if_the_model_may_have_run(kind, costs):
    class Failing(CountingSdk):
        def create(self, **body):
            raise _failure(kind)

    changes = {"outage_wait_s": 0.0, "max_retries": 0, "rate_limit_wait_s": 0.0}
    with budgeted(Failing(), tokens_per_job=100, **changes) as chat:
        result = chat.complete("row")
        assert result.error is not None and not result.error.startswith("budget_exhausted")
        left = chat.budget_remaining("job")
    # 'row' reserves 4 + 3 (or 1 with tiktoken) + 3 + max-tokens 20
    assert (left < 75) if costs else (left == 100), left


def test_the_connection_budget_caps_sql_and_is_shared_by_its_profiles(tmp_path):
    name = f"metered{next(_names)}"
    path = tmp_path / "connections.toml"
    path.write_text(
        f'[connections.{name}]\nkind = "openai"\nendpoint = "http://127.0.0.1:9/v1"\n'
        "tpm = 60\ntokens-per-day = 1000\n"
    )
    env = {"FLINK_RAG_CONNECTIONS": str(path)}
    common = {"connection": name, "max-tokens": "20", "cache-dir": "off", "budget-wait": "0"}
    raised = LlmSettings.from_options({**common, "tokens-per-minute": "5000"}, env)
    assert raised.budget == BudgetLimits(per_minute=60, per_day=1000)  # never above tpm
    assert raised.connection_budget == BudgetLimits(per_minute=60, per_day=1000)
    lowered = LlmSettings.from_options({**common, "tokens-per-hour": "500"}, env)
    assert lowered.budget == BudgetLimits(per_minute=60, per_hour=500, per_day=1000)

    sdk = CountingSdk()
    one = ChatClient(raised, RecordingMetrics(), None, sdk, "one")
    two = ChatClient(lowered, RecordingMetrics(), None, sdk, "two")
    with one, two:
        assert one.complete("a").error is None  # 15 used
        assert two.complete("b").error is None  # 30 used
        assert one.complete("c").error is None  # 45 used: no room for 31 more in the minute
        refused = two.complete("d")
    assert refused.error.startswith(f"budget_exhausted: connection '{name}': 60 tokens per")
    assert sdk.calls == 3


def test_each_limited_span_gets_a_remaining_budget_gauge():
    from flink_rag.udfs.llm_complete import _budget_gauges

    registered = {}

    class Gauges(RecordingMetrics):
        def gauge(self, name, value):
            registered[name] = value

    with budgeted(CountingSdk(), tokens_per_minute=100, tokens_per_job=1000) as chat:
        _budget_gauges(chat, Gauges())
        assert chat.complete("row").error is None
        assert sorted(registered) == ["llm_budget_remaining_job", "llm_budget_remaining_minute"]
        assert registered["llm_budget_remaining_minute"]() == 85
        assert registered["llm_budget_remaining_job"]() == 985


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("tokens-per-minute", "0"),
        ("tokens-per-hour", "-5"),
        ("tokens-per-day", "lots"),
        ("tokens-per-job", "1e9"),
        ("budget-wait", "-1"),
        ("on-budget", "maybe"),
    ],
)
def test_a_bad_budget_option_fails_the_job_at_start_naming_it(key, value):
    from flink_rag.connectors.errors import ConfigError

    with pytest.raises(ConfigError, match=f"option 'flink-rag.llm.{key}' has an invalid value"):
        LlmSettings.from_options({key: value}, {})


def test_a_bad_connection_budget_names_the_field():
    from flink_rag.connectors.connections import parse
    from flink_rag.connectors.errors import ConfigError

    text = '[connections.x]\nkind = "openai"\ntokens-per-day = 0\n'
    with pytest.raises(ConfigError, match=r"f.toml: connections.x.tokens-per-day: "):
        parse(text, "f.toml")


def test_overlapping_calls_of_two_profiles_never_spend_past_a_shared_budget(tmp_path):
    """64 threads per client, two clients on one connection: the connection's job budget holds
    across every thread (the reservation is atomic), and every row is answered or refused."""
    name = f"shared{next(_names)}"
    path = tmp_path / "connections.toml"
    path.write_text(
        f'[connections.{name}]\nkind = "openai"\nendpoint = "http://127.0.0.1:9/v1"\n'
        "tokens-per-job = 1000\n"
    )
    options = {"connection": name, "max-tokens": "20", "cache-dir": "off", "concurrency": "64"}
    settings = LlmSettings.from_options(
        {**options, "budget-wait": "0"}, {"FLINK_RAG_CONNECTIONS": str(path)}
    )
    # 'r0'..'r199' reserve 29-31 each (4 + 2-4 bytes + 3 + max-tokens 20) and use 25.
    sdk = CountingSdk(prompt_tokens=5, completion_tokens=20)
    one = ChatClient(settings, RecordingMetrics(), None, sdk, "one")
    two = ChatClient(settings, RecordingMetrics(), None, sdk, "two")
    with one, two:
        prompts = [f"r{i}" for i in range(200)]
        results: list = []
        threads = [
            threading.Thread(target=lambda c=c: results.extend(c.complete_many(prompts)))
            for c in (one, two)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    answered = [r for r in results if r.error is None]
    assert len(results) == 400
    assert all(r.error.startswith("budget_exhausted") for r in results if r.error)
    assert sdk.calls == len(answered) and 25 * len(answered) <= 1000
    # A refusal means what was held (<= 31 per call) left no room for 31 more.
    assert len(answered) >= 32


def test_budget_estimates_use_tiktoken_only_for_models_it_knows():
    from flink_rag.connectors.tokens import budget_counter, utf8_bytes

    # A local model's tokenizer may split finer than cl100k: the byte bound, never tiktoken.
    assert budget_counter("smollm2") is utf8_bytes
    assert budget_counter("llama-3.1-8b-instruct") is utf8_bytes
    count = budget_counter("gpt-4o-mini")  # exact if the table is cached, else the bound
    assert 0 < count("rebook passenger P0001 on the next flight") <= 42


def test_a_spend_budget_at_the_users_prices_refuses_past_it():
    sdk, metrics = CountingSdk(prompt_tokens=10, completion_tokens=5), RecordingMetrics()
    prices = {"price_per_1k_prompt": 1.0, "price_per_1k_completion": 2.0, "spend_per_job": 0.2}
    with budgeted(sdk, metrics, **prices) as chat:
        results = [chat.complete(f"row{i}") for i in range(12)]
        assert chat.budget_remaining("job") is None  # the token gauges never show spend
    # Each holds (11 prompt + 20 max-tokens x 2) / 1000 = 0.051 and costs 0.020: after eight
    # (0.160) a ninth no longer fits in 0.2.
    assert sdk.calls == 8
    assert metrics.counters["llm_budget_spent_micros"] == 8 * 20_000
    refused = [r.error for r in results if r.error]
    assert len(refused) == 4
    assert refused[0].startswith("budget_exhausted: profile 'p")
    assert "0.2 of spend (at the configured prices) per job is spent" in refused[0]
    assert "spend-per-day' (-hour, -job)" in refused[0]


def test_a_spend_budget_without_prices_is_refused_at_job_start():
    from flink_rag.connectors.errors import ConfigError

    with pytest.raises(ConfigError, match=r"set 'flink-rag\.llm\.price-per-1k-prompt' and"):
        LlmSettings.from_options({"spend-per-day": "5", "price-per-1k-prompt": "0.1"}, {})
    with pytest.raises(ConfigError, match="needs the model's prices"):  # the driver's check
        LlmSettings.from_options({"spend-per-job": "1"}, {}, resolve=False)
    settings = LlmSettings.from_options(
        {"spend-per-day": "5", "price-per-1k-prompt": "0.15", "price-per-1k-completion": "0.6"},
        {},
    )
    assert settings.spend == BudgetLimits(per_day=5_000_000)
    assert settings.price is not None and settings.price.micros(1000, 1000) == 750_000


def test_a_pickled_client_reopens_on_the_same_process_ledger():
    import pickle

    sdk = CountingSdk()
    chat = budgeted(sdk, tokens_per_job=100)
    with chat:
        assert chat.complete("row").error is None
        copy = pickle.loads(pickle.dumps(chat))
    assert copy._budgets == []
    copy._client = sdk  # the worker's own client
    with copy:
        assert copy.budget_remaining("job") == 85  # the process's ledger, not a fresh one
