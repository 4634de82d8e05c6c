"""The call policy: one deadline per row (outage-wait + one timeout) that every retry, wait and
attempt spends; read timeouts are not outages; 429 and Atlas overload are waits."""

from __future__ import annotations

import httpx2
import openai
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pymongo.errors import (
    AutoReconnect,
    ExecutionTimeout,
    NetworkTimeout,
    OperationFailure,
    ServerSelectionTimeoutError,
)

from flink_rag.connectors import call_policy, outage
from flink_rag.connectors.call_policy import CallPolicy, remaining_s
from flink_rag.connectors.metrics import RecordingMetrics

pytestmark = pytest.mark.unit

REQUEST = httpx2.Request("POST", "http://127.0.0.1:1/v1/chat/completions")


def _timeout(cause: BaseException) -> openai.APITimeoutError:
    try:
        raise openai.APITimeoutError(request=REQUEST) from cause
    except openai.APITimeoutError as err:
        return err


def _status(status: int, headers: dict[str, str] | None = None) -> openai.APIStatusError:
    response = httpx2.Response(status, request=REQUEST, headers=headers or {})
    return openai.APIStatusError(f"HTTP {status}", response=response, body=None)


def test_a_read_timeout_is_not_an_outage_but_a_connect_timeout_is():
    assert not outage.is_outage(_timeout(httpx2.ReadTimeout("slow")))
    assert outage.is_outage(_timeout(httpx2.ConnectTimeout("down")))
    assert outage.is_outage(openai.APIConnectionError(request=REQUEST))
    assert not outage.is_mongo_outage(NetworkTimeout("timed out"))
    assert not outage.is_mongo_outage(ExecutionTimeout("operation exceeded time limit", 50))
    assert outage.is_mongo_outage(AutoReconnect("connection reset"))
    assert outage.is_mongo_outage(ServerSelectionTimeoutError("no server"))


def test_atlas_overload_is_back_pressure_and_other_refusals_are_not():
    assert outage.is_mongo_back_pressure(OperationFailure("overloaded", 489))
    assert outage.is_mongo_back_pressure(OperationFailure("shed", 462))
    labelled = OperationFailure("shed", 999, {"errorLabels": ["SystemOverloadedError"]})
    assert outage.is_mongo_back_pressure(labelled)
    assert not outage.is_mongo_back_pressure(OperationFailure("bad filter", 2))
    assert not outage.is_mongo_back_pressure(AutoReconnect("reset"))


class Clock:
    """A fake clock that the policy's sleeps advance, and each call advances by its duration."""

    def __init__(self) -> None:
        self.now = 0.0

    def sleep(self, seconds: float) -> None:
        assert seconds >= 0
        self.now += seconds


def policy(clock: Clock, metrics=None, **changes) -> CallPolicy:
    base = {
        "prefix": "llm",
        "timeout_s": 10.0,
        "outage_wait_s": 60.0,
        "rate_limit_wait_s": 300.0,
        "max_retries": 6,
        "is_outage": outage.is_outage,
        "is_back_pressure": outage.is_rate_limit,
        "is_transient": outage.is_transient,
        "retry_after_s": outage.http_retry_after_s,
        "metrics": metrics or RecordingMetrics(),
        "clock": lambda: clock.now,
        "sleep": clock.sleep,
    }
    return CallPolicy(**{**base, **changes})


class Server:
    """Fails every call with `error` after `duration` seconds, recording each attempt."""

    def __init__(self, clock: Clock, error: BaseException, duration: float = 0.05) -> None:
        self.clock, self.error, self.duration = clock, error, duration
        self.starts: list[float] = []
        self.timeouts: list[float] = []

    def __call__(self, timeout: float) -> None:
        self.starts.append(self.clock.now)
        self.timeouts.append(timeout)
        self.clock.now += min(self.duration, timeout)
        raise self.error


@pytest.mark.parametrize(
    ("error", "metric"),
    [
        (_status(429, {"retry-after": "1"}), "llm_rate_limit_waits"),
        (_status(500), "llm_outage_retries"),
        (openai.APIConnectionError(request=REQUEST), "llm_outage_retries"),
    ],
    ids=["429-forever", "500-forever", "unreachable"],
)
def test_a_failure_that_never_ends_stops_at_the_rows_deadline(error, metric):
    """The old layers stacked: 6 SDK retries inside each outage attempt, 300 s of 429 waits on
    top. Now the row ends by outage-wait + timeout and no attempt starts after it."""
    clock, metrics = Clock(), RecordingMetrics()
    p = policy(clock, metrics)
    server = Server(clock, error)
    with pytest.raises(type(error)) as raised:
        p.run(server)
    assert clock.now <= p.deadline_s
    assert max(server.starts) < p.deadline_s
    assert all(
        start + t <= p.deadline_s + 1e-9
        for start, t in zip(server.starts, server.timeouts, strict=True)
    )
    assert len(server.starts) > p.max_retries + 1  # it waited past the quick retries
    assert metrics.counters["llm_retries"] == len(server.starts) - 1
    assert metrics.counters[metric] == len(server.starts) - 1
    assert f"{len(server.starts)} attempt(s)" in call_policy.note(raised.value)
    assert call_policy.attempts(raised.value) == len(server.starts)


def test_429_waits_end_by_rate_limit_wait_when_it_is_shorter():
    clock = Clock()
    p = policy(clock, rate_limit_wait_s=5.0, max_retries=0)
    server = Server(clock, _status(429, {"retry-after": "1"}))
    with pytest.raises(openai.APIStatusError):
        p.run(server)
    assert max(server.starts) < 5.0 and len(server.starts) >= 3


def test_429_waits_leave_the_last_attempt_half_a_timeout():
    """A refusal comes back at once: with outage-wait 0 a rate-limited row still waits, within
    its one-timeout deadline, and its last attempt starts with half a timeout or more left."""
    clock = Clock()
    p = policy(clock, outage_wait_s=0.0, timeout_s=10.0, max_retries=0)
    server = Server(clock, _status(429, {"retry-after": "1"}))
    with pytest.raises(openai.APIStatusError):
        p.run(server)
    assert len(server.starts) >= 3
    assert max(server.starts) < 5.0 and min(server.timeouts) >= 5.0


def test_a_slow_server_costs_one_call_plus_the_quick_retries_never_outage_waits():
    """A read timeout is retried within max-retries only (what the SDK did), each attempt
    within the deadline; outage-wait never re-sends it."""
    clock = Clock()
    p = policy(clock, max_retries=1)
    server = Server(clock, _timeout(httpx2.ReadTimeout("slow")), duration=1e9)
    with pytest.raises(openai.APITimeoutError):
        p.run(server)
    assert len(server.starts) == 2
    assert server.timeouts[0] == 10.0
    assert clock.now <= p.deadline_s


def test_a_slow_lookup_costs_one_call_not_one_per_timeout_within_the_wait():
    """A lookup answered after 12 s with a 10 s timeout: the old loop sent it ~14 times in
    120 s of outage-wait; a read timeout now fails the row after that one call."""
    clock = Clock()
    p = policy(clock, prefix="lookup", outage_wait_s=120.0, max_retries=0,
               is_outage=outage.is_mongo_outage, is_transient=call_policy._never)  # fmt: skip
    server = Server(clock, NetworkTimeout("timed out"), duration=10.0)
    with pytest.raises(NetworkTimeout):
        p.run(server)
    assert len(server.starts) == 1


def test_the_deadline_counts_from_the_first_attempt():
    """Each attempt of an unreachable server takes 10 s: no attempt starts after outage-wait
    (unless a quick retry still fits), so the row ends by outage-wait plus one timeout."""
    clock, metrics = Clock(), RecordingMetrics()
    p = policy(clock, metrics, prefix="lookup", max_retries=0, is_outage=outage.is_mongo_outage)
    server = Server(clock, ServerSelectionTimeoutError("no server"), duration=10.0)
    with pytest.raises(ServerSelectionTimeoutError):
        p.run(server)
    assert server.starts and max(server.starts) < 60.0
    assert clock.now <= 60.0 + 10.0
    assert metrics.counters["lookup_outage_retries"] == len(server.starts) - 1
    assert len(metrics.values["lookup_outage_wait_ms"]) == 1


def test_outage_wait_zero_leaves_the_quick_retries_within_one_timeout():
    clock = Clock()
    p = policy(clock, outage_wait_s=0.0, max_retries=2)
    server = Server(clock, _status(500))
    with pytest.raises(openai.APIStatusError):
        p.run(server)
    assert len(server.starts) == 3  # first try + 2 retries, all within the 10 s deadline
    assert clock.now <= 10.0


def test_the_layers_below_see_what_is_left_of_the_deadline():
    clock = Clock()
    p = policy(clock, outage_wait_s=30.0, timeout_s=5.0)
    seen: list[float | None] = []

    def attempt(timeout: float) -> str:
        clock.now += 12.0  # a slot wait, say
        seen.append(remaining_s(lambda: clock.now))
        return "ok"

    assert p.run(attempt) == "ok"
    assert seen == [35.0 - 12.0]
    assert remaining_s() is None  # only inside a run


@settings(max_examples=60, deadline=None)
@given(
    outage_wait=st.floats(0, 600),
    timeout=st.floats(0.01, 120),
    max_retries=st.integers(0, 10),
    durations=st.lists(st.floats(0, 200), min_size=1, max_size=50),
    kinds=st.lists(st.sampled_from(["429", "500", "timeout", "400"]), min_size=1, max_size=50),
)
def test_no_mix_of_failures_outlives_the_deadline(outage_wait, timeout, max_retries, durations,
                                                  kinds):  # fmt: skip
    errors = {
        "429": _status(429, {"retry-after": "7"}),
        "500": _status(500),
        "timeout": _timeout(httpx2.ReadTimeout("slow")),
        "400": _status(400),
    }
    clock = Clock()
    p = policy(clock, outage_wait_s=outage_wait, timeout_s=timeout, max_retries=max_retries)
    calls = []

    def attempt(t: float) -> None:
        i = len(calls)
        calls.append((clock.now, t))
        clock.now += min(durations[i % len(durations)], t)
        raise errors[kinds[i % len(kinds)]]

    with pytest.raises(openai.APIError):
        p.run(attempt)
    assert clock.now <= p.deadline_s + 1e-6
    assert all(start < p.deadline_s for start, _ in calls)
    assert all(t <= timeout for _, t in calls)


def test_an_attempt_after_a_pacing_wait_gets_only_what_is_left_of_the_deadline():
    from flink_rag.connectors.openai_http import _shorten_timeout

    request = httpx2.Request("POST", "http://127.0.0.1:1/v1/chat/completions")
    request.extensions["timeout"] = {"connect": 60.0, "read": 60.0, "write": 60.0, "pool": None}
    _shorten_timeout(request, 2.5)
    assert request.extensions["timeout"] == {"connect": 2.5, "read": 2.5, "write": 2.5,
                                             "pool": 2.5}  # fmt: skip


def test_a_call_slot_wait_ends_with_the_rows_deadline_not_rate_limit_wait():
    import time

    from flink_rag.connectors.errors import ProviderError
    from flink_rag.connectors.rate_control import RateController

    rate = RateController(max_limit=1, max_wait_s=300.0)
    # the only call in flight, then a row whose deadline is 0.2 s away
    with (
        rate.slot(),
        call_policy.row_deadline(time.monotonic() + 0.2),
        pytest.raises(ProviderError) as raised,
        rate.slot(),
    ):
        pass
    assert "no free call slot" in str(raised.value)
    assert "flink-rag.llm.outage-wait" in str(raised.value)
