"""The adaptive rate controller on a fake clock: pacing from the headers, AIMD, retry-after."""

from __future__ import annotations

import threading

import pytest

from flink_rag.connectors.errors import ProviderError
from flink_rag.connectors.metrics import RecordingMetrics
from flink_rag.connectors.rate_control import (
    MAX_PACING_WAIT_S,
    RateController,
    estimated_tokens,
    parse_duration,
    retry_after_s,
)

pytestmark = pytest.mark.unit


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def controller(max_limit: int = 16, min_limit: int = 1, **kw) -> tuple[RateController, FakeClock]:
    clock = FakeClock()
    rc = RateController(max_limit, min_limit, clock=clock, sleep=clock.sleep, **kw)
    return rc, clock


def rpm_headers(limit: int, remaining: int, reset: str) -> dict[str, str]:
    return {
        "x-ratelimit-limit-requests": str(limit),
        "x-ratelimit-remaining-requests": str(remaining),
        "x-ratelimit-reset-requests": reset,
    }


def one_call(rc: RateController, clock: FakeClock, status: int, headers: dict[str, str]) -> float:
    """One attempt through the hooks; returns how long it waited before it was sent."""
    before = len(clock.slept)
    rc.before_send()
    rc.after_response(status, headers)
    return sum(clock.slept[before:])


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("20ms", 0.02), ("1s", 1.0), ("1.5s", 1.5), ("6m0s", 360.0), ("1h2m3s", 3723.0), ("2", 2.0)],
)
def test_reset_durations_parse_like_openai_writes_them(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", [None, "", "soon", "5 minutes"])
def test_unparseable_durations_are_none(text: str | None) -> None:
    assert parse_duration(text) is None


def test_retry_after_ms_wins_over_retry_after() -> None:
    assert retry_after_s({"retry-after-ms": "250", "retry-after": "1"}) == pytest.approx(0.25)
    assert retry_after_s({"retry-after": "2"}) == pytest.approx(2.0)
    assert retry_after_s({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}) is None
    assert retry_after_s({}) is None


def test_without_headers_nothing_waits_and_all_slots_stay_open() -> None:
    rc, clock = controller(max_limit=8)
    for _ in range(20):
        assert one_call(rc, clock, 200, {}) == 0.0
    assert rc.limit == 8
    assert rc.bucket("requests") is None


def test_low_remaining_paces_the_next_send_at_the_refill_rate() -> None:
    rc, clock = controller()
    # 600 per minute = 10/s; nothing left, full again in 1 s (capacity 10)
    assert one_call(rc, clock, 200, rpm_headers(600, 0, "1s")) == 0.0
    bucket = rc.bucket("requests")
    assert bucket is not None
    assert bucket.rate == pytest.approx(10.0)
    assert bucket.capacity == pytest.approx(10.0)
    waits = [one_call(rc, clock, 200, rpm_headers(600, 0, "1s")) for _ in range(3)]
    assert waits == [pytest.approx(0.1)] * 3


def test_plenty_remaining_sends_at_once() -> None:
    rc, clock = controller()
    one_call(rc, clock, 200, rpm_headers(600, 9, "100ms"))
    assert [one_call(rc, clock, 200, rpm_headers(600, 9, "100ms")) for _ in range(3)] == [0.0] * 3


def test_queued_sends_get_their_own_later_slots() -> None:
    rc, clock = controller()
    one_call(rc, clock, 200, rpm_headers(600, 0, "1s"))
    waits = []
    for _ in range(4):  # four threads reserving before any of them answers
        before = len(clock.slept)
        clock_now = clock.now
        rc.before_send()
        waits.append(sum(clock.slept[before:]))
        clock.now = clock_now  # the others reserved at the same moment
    assert waits == [pytest.approx(w) for w in (0.1, 0.2, 0.3, 0.4)]


def test_a_response_resyncs_and_counts_what_was_sent_after_it() -> None:
    rc, clock = controller()
    one_call(rc, clock, 200, rpm_headers(600, 5, "500ms"))
    rc.before_send()  # request A, at t
    sent_a = clock.now
    # B goes out 10 ms later from another thread; then A's answer says 5 left after A
    rc._local.sent_at = None

    def send_b() -> None:
        clock.now = sent_a + 0.01
        rc.before_send()

    other = threading.Thread(target=send_b)
    other.start()
    other.join()
    clock.now = sent_a + 0.1
    rc._local.sent_at = sent_a
    rc.after_response(200, rpm_headers(600, 5, "500ms"))
    bucket = rc.bucket("requests")
    assert bucket is not None
    # 5 left at A's admission, +1 refilled in the 0.1 s since, -1 for B
    assert bucket.level == pytest.approx(5.0)


def test_the_reset_time_gives_the_fraction_that_remaining_rounds_away() -> None:
    rc, clock = controller()
    one_call(rc, clock, 200, rpm_headers(600, 9, "0ms"))  # full: capacity at least 9
    one_call(rc, clock, 200, rpm_headers(600, 9, "10ms"))  # 9 left, full in 10 ms: cap 9.1
    rc._local.sent_at = clock.now
    rc.after_response(200, rpm_headers(600, 2, "650ms"))  # 2 left; 6.5 missing of 9.1
    bucket = rc.bucket("requests")
    assert bucket is not None
    assert bucket.capacity == pytest.approx(9.1)
    assert bucket.level == pytest.approx(2.6)  # not the rounded-down 2


def test_token_cost_of_a_call_is_paced_by_the_token_bucket() -> None:
    rc, clock = controller()
    headers = {
        "x-ratelimit-limit-tokens": "6000",  # 100 tokens/s
        "x-ratelimit-remaining-tokens": "0",
        "x-ratelimit-reset-tokens": "3s",
    }
    one_call(rc, clock, 200, headers)
    with rc.slot(tokens=250):
        assert one_call(rc, clock, 200, headers) == pytest.approx(2.5)


def test_429_halves_the_limit_once_per_cool_down_and_successes_grow_it_back() -> None:
    metrics = RecordingMetrics()
    rc, clock = controller(max_limit=16, min_limit=2, metrics=metrics)
    one_call(rc, clock, 429, {"retry-after-ms": "50"})
    assert rc.limit == 8
    one_call(rc, clock, 429, {"retry-after-ms": "50"})  # same burst: within the cool-down
    assert rc.limit == 8
    clock.now += 2.0
    one_call(rc, clock, 429, {})
    assert rc.limit == 4
    for _ in range(10):
        clock.now += 2.0
        one_call(rc, clock, 429, {})
    assert rc.limit == 2  # never below min-concurrency
    for _ in range(200):
        one_call(rc, clock, 200, {})
    assert rc.limit == 16
    assert metrics.counters["llm_rate_limited_seen"] == 13
    assert metrics.values["llm_concurrency_limit"][-1] == 16


def test_a_429_with_rate_headers_paces_instead_of_halving() -> None:
    rc, clock = controller(max_limit=16)
    one_call(rc, clock, 429, {**rpm_headers(600, 0, "1s"), "retry-after-ms": "100"})
    assert rc.limit == 16
    bucket = rc.bucket("requests")
    assert bucket is not None and bucket.rate == pytest.approx(10.0)
    assert one_call(rc, clock, 200, rpm_headers(600, 0, "1s")) == pytest.approx(0.1)


def test_a_429_never_raises_the_copy_of_the_bucket() -> None:
    rc, clock = controller()
    one_call(rc, clock, 200, rpm_headers(600, 0, "1s"))
    for _ in range(3):  # three calls queued behind each other: 0.1, 0.2, 0.3 s
        now = clock.now
        rc.before_send()
        clock.now = now
    bucket = rc.bucket("requests")
    assert bucket is not None
    queued = bucket.level
    # an earlier attempt comes back 429 saying 0.9 left: its token is the queued calls' already
    rc._local.sent_at = clock.now
    rc.after_response(429, rpm_headers(600, 0, "10ms"))
    assert bucket.level <= queued
    assert rc.limit == 16


def test_retry_after_closes_the_gate_for_every_thread() -> None:
    rc, clock = controller()
    one_call(rc, clock, 429, {"retry-after-ms": "400", "retry-after": "1"})
    assert one_call(rc, clock, 200, {}) == pytest.approx(0.4)
    assert one_call(rc, clock, 200, {}) == 0.0  # open again


def test_every_wait_is_bounded() -> None:
    rc, clock = controller()
    one_call(rc, clock, 429, {"retry-after": "3600"})
    assert one_call(rc, clock, 200, {}) == pytest.approx(MAX_PACING_WAIT_S)


def test_a_full_slot_table_fails_after_the_wait_and_says_what_to_do() -> None:
    rc = RateController(max_limit=1, max_wait_s=0.05)
    with rc.slot(), pytest.raises(ProviderError, match="rate-limit-wait") as err, rc.slot():
        pass
    assert err.value.retryable
    with rc.slot():  # released: free again
        assert rc.in_flight == 1


def test_a_freed_slot_wakes_a_waiting_thread() -> None:
    rc = RateController(max_limit=1, max_wait_s=10)
    entered = threading.Event()
    release = threading.Event()

    def holder() -> None:
        with rc.slot():
            entered.set()
            release.wait(10)

    t = threading.Thread(target=holder)
    t.start()
    assert entered.wait(10)
    threading.Timer(0.05, release.set).start()
    with rc.slot():
        assert rc.in_flight == 1
    t.join(10)


def test_estimated_tokens_count_characters_and_the_completion_budget() -> None:
    messages = [{"role": "system", "content": "abcd"}, {"role": "user", "content": "abcdefgh"}]
    assert estimated_tokens(messages, 256) == 3 + 256
    assert estimated_tokens(messages, None) == 3
    assert estimated_tokens("not a list", 10) == 10


def test_the_options_are_read_and_validated_from_job_parameters() -> None:
    from flink_rag.connectors.errors import ConfigError
    from flink_rag.connectors.settings import LlmSettings

    assert LlmSettings.from_options({}, {}).adaptive_concurrency is True
    built = LlmSettings.from_options({"adaptive-concurrency": "false", "min-concurrency": "4"}, {})
    assert (built.adaptive_concurrency, built.min_concurrency) == (False, 4)
    with pytest.raises(ConfigError, match=r"flink-rag\.llm\.min-concurrency"):
        LlmSettings.from_options({"min-concurrency": "0"}, {})
    with pytest.raises(ConfigError, match=r"flink-rag\.llm\.adaptive-concurrency"):
        LlmSettings.from_options({"adaptive-concurrency": "sometimes"}, {})


def test_min_concurrency_above_concurrency_is_capped() -> None:
    rc = RateController(max_limit=4, min_limit=10)
    assert (rc.min_limit, rc.max_limit, rc.limit) == (4, 4, 4)
