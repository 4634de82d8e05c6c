"""Pure parts of the load server: fault rules, rate-limit buckets, deterministic answers."""

from __future__ import annotations

import json

import jsonschema
import numpy as np
import pytest

from flink_rag_bench import fake_responses as fake
from flink_rag_bench.faults import FaultSchedule, parse_fault
from flink_rag_bench.rate_limits import RateLimiter, format_reset

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("spec", "fired"),
    [
        ("500:every=3", [3, 6, 9]),
        ("429:first=2", [1, 2]),
        ("timeout:at=4,7", [4, 7]),
        ("badjson:first=0", []),
    ],
)
def test_fault_rule_fires_on_schedule(spec: str, fired: list[int]) -> None:
    schedule = FaultSchedule.parse([spec])
    kinds = [schedule.next_fault("{}") for _ in range(10)]
    assert [i + 1 for i, k in enumerate(kinds) if k is not None] == fired
    assert parse_fault(spec).spec() == spec


def test_match_rule_counts_only_matching_requests() -> None:
    schedule = FaultSchedule.parse(["500:first=2:match=poison"])
    bodies = ["ok", "poison 1", "ok", "poison 2", "poison 3"]
    assert [schedule.next_fault(b) for b in bodies] == [None, "500", None, "500", None]


def test_first_matching_rule_wins_but_all_count() -> None:
    schedule = FaultSchedule.parse(["500:every=2", "429:every=3"])
    assert [schedule.next_fault("") for _ in range(6)] == [None, "500", "429", "500", None, "500"]


@pytest.mark.parametrize(
    "spec", ["503:every=2", "500", "500:every=0", "500:often=2", "429:first=x"]
)
def test_bad_fault_rules_say_how_to_write_them(spec: str) -> None:
    with pytest.raises(ValueError, match="bad fault rule"):
        parse_fault(spec)


def test_rpm_bucket_rejects_above_burst_and_says_when_to_retry() -> None:
    limiter = RateLimiter(rpm=120, burst_seconds=1.0)  # 2/s, holds 2
    assert limiter.acquire(1, now=100.0).allowed
    assert limiter.acquire(1, now=100.0).allowed
    rejected = limiter.acquire(1, now=100.0)
    assert not rejected.allowed
    assert rejected.retry_after_s == pytest.approx(0.5)
    assert rejected.headers["retry-after-ms"] == "500"
    assert rejected.headers["retry-after"] == "1"
    assert rejected.headers["x-ratelimit-limit-requests"] == "120"
    assert rejected.headers["x-ratelimit-remaining-requests"] == "0"
    assert limiter.acquire(1, now=100.5).allowed  # refilled exactly when told


def test_tpm_bucket_counts_tokens_and_a_rejection_consumes_nothing() -> None:
    limiter = RateLimiter(rpm=6000, tpm=600, burst_seconds=1.0)  # 10 tokens/s
    assert limiter.acquire(8, now=0.0).allowed
    rejected = limiter.acquire(5, now=0.0)
    assert not rejected.allowed
    assert rejected.retry_after_s == pytest.approx(0.3)
    assert limiter.acquire(2, now=0.0).allowed  # the rejected 5 were not taken
    assert limiter.acquire(25, now=1.0).allowed  # above capacity: needs a full bucket only


def test_no_limits_allow_everything_without_headers() -> None:
    decision = RateLimiter().acquire(10**6)
    assert decision.allowed
    assert decision.headers == {}


@pytest.mark.parametrize(("seconds", "text"), [(0.0201, "21ms"), (1.5, "1.5s"), (61, "1m1s")])
def test_reset_durations_look_like_openai(seconds: float, text: str) -> None:
    assert format_reset(seconds) == text


def test_embedding_vectors_are_deterministic_unit_vectors() -> None:
    a = fake.embedding_vector("flight LH123", 64)
    assert a.shape == (64,)
    assert np.array_equal(a, fake.embedding_vector("flight LH123", 64))
    assert not np.array_equal(a, fake.embedding_vector("flight LH124", 64))
    assert float(np.linalg.norm(a)) == pytest.approx(1.0, abs=1e-5)


def test_schema_answer_is_valid_and_uses_first_enum_value() -> None:
    schema = {
        "type": "object",
        "properties": {
            "flight_id": {"type": "string", "enum": ["LH400", "LH402"]},
            "reason": {"type": "string", "minLength": 20},
            "seats": {"type": "integer", "minimum": 1},
            "alternatives": {"type": "array", "items": {"$ref": "#/$defs/alt"}, "minItems": 2},
            "note": {"anyOf": [{"type": "null"}, {"type": "string"}]},
        },
        "required": ["flight_id", "reason", "seats", "alternatives", "note"],
        "additionalProperties": False,
        "$defs": {"alt": {"type": "object", "properties": {"ok": {"type": "boolean"}}}},
    }
    fmt = {"type": "json_schema", "json_schema": {"name": "r", "strict": True, "schema": schema}}
    answer = json.loads(fake.chat_answer([{"role": "user", "content": "pax 7"}], fmt))
    jsonschema.validate(answer, schema)
    assert answer["flight_id"] == "LH400"
    assert answer["reason"].startswith(fake.marker_tag("pax 7"))
    assert answer["alternatives"] == [{"ok": True}, {"ok": True}]


def test_plain_answer_carries_the_marker_of_the_last_user_message() -> None:
    messages = [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": [{"type": "text", "text": "row 42"}]},
    ]
    assert fake.chat_answer(messages).startswith(f"[m:{fake.input_marker('row 42')}]")
