"""The outage loop: one deadline per row from its first attempt, read timeouts are not outages."""

from __future__ import annotations

import httpx2
import openai
import pytest
from pymongo.errors import AutoReconnect, NetworkTimeout, ServerSelectionTimeoutError

from flink_rag.connectors import outage
from flink_rag.connectors.metrics import RecordingMetrics

pytestmark = pytest.mark.unit

REQUEST = httpx2.Request("POST", "http://127.0.0.1:1/v1/chat/completions")


def _timeout(cause: BaseException) -> openai.APITimeoutError:
    try:
        raise openai.APITimeoutError(request=REQUEST) from cause
    except openai.APITimeoutError as err:
        return err


def test_a_read_timeout_is_not_an_outage_but_a_connect_timeout_is():
    assert not outage.is_outage(_timeout(httpx2.ReadTimeout("slow")))
    assert outage.is_outage(_timeout(httpx2.ConnectTimeout("down")))
    assert outage.is_outage(openai.APIConnectionError(request=REQUEST))
    assert not outage.is_mongo_outage(NetworkTimeout("timed out"))
    assert outage.is_mongo_outage(AutoReconnect("connection reset"))
    assert outage.is_mongo_outage(ServerSelectionTimeoutError("no server"))


class Clock:
    """A fake clock that the loop's sleeps advance, and each call advances by its duration."""

    def __init__(self, monkeypatch):
        self.now = 0.0
        # time.monotonic itself: tenacity's clock and the loop's are the same function
        monkeypatch.setattr(outage.time, "monotonic", lambda: self.now)

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_a_slow_server_costs_one_call_not_one_per_timeout_within_the_wait(monkeypatch):
    """A lookup answered after 12 s with a 10 s timeout: the old loop sent it ~14 times in
    120 s of outage-wait; a read timeout now fails the row after that one call."""
    clock = Clock(monkeypatch)
    calls = []

    def slow_lookup():
        calls.append(clock.now)
        clock.now += 10.0  # the socket timeout
        raise NetworkTimeout("timed out")

    with pytest.raises(NetworkTimeout):
        outage.wait_out_outages(
            slow_lookup, 120.0, RecordingMetrics(), "lookup", clock.sleep, outage.is_mongo_outage
        )
    assert len(calls) == 1


def test_the_deadline_counts_from_the_first_attempt(monkeypatch):
    """Each attempt of an unreachable server takes 10 s: no attempt starts after wait_s, so
    the row ends by wait_s plus one attempt (it used to be first attempt + wait_s + one)."""
    clock = Clock(monkeypatch)
    calls = []

    def down():
        calls.append(clock.now)
        clock.now += 10.0
        raise ServerSelectionTimeoutError("no server")

    metrics = RecordingMetrics()
    with pytest.raises(ServerSelectionTimeoutError):
        outage.wait_out_outages(down, 60.0, metrics, "lookup", clock.sleep, outage.is_mongo_outage)
    assert calls and max(calls) < 60.0
    assert clock.now <= 60.0 + 10.0
    assert metrics.counters["lookup_outage_retries"] == len(calls) - 1
    assert len(metrics.values["lookup_outage_wait_ms"]) == 1
