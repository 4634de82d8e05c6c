"""The load generator that measures the load server alone, and the py-spy summary."""

from __future__ import annotations

import json

import pytest

from flink_rag_bench.load_ceiling import Ceiling, generate, request_body
from flink_rag_bench.load_server import LoadServer
from flink_rag_bench.profiling import category, summarize

pytestmark = pytest.mark.unit


def test_request_body_is_an_embed_request_of_distinct_inputs():
    body = json.loads(request_body(5, 32, "base64"))
    assert body["model"] == "bench-embedding" and body["encoding_format"] == "base64"
    assert body["dimensions"] == 32 and len(set(body["input"])) == 5


def test_generator_counts_what_the_server_answered():
    with LoadServer(latency_ms=20, dimensions=16) as server:
        c = generate(server.url, concurrency=2, seconds=0.5, batch=8, dimensions=16)
        stats = server.stats()
    assert c.errors == 0 and c.requests > 0
    assert c.requests == stats["ok_requests"]
    assert c.inputs == c.requests * 8 == stats["items"]["/v1/embeddings"]
    assert stats["max_in_flight"] <= 2
    # 2 in flight, >= 20 ms each: at most 100 requests/s
    assert 0 < c.requests_per_s <= 100 and c.inputs_per_s == pytest.approx(c.requests_per_s * 8)


def test_refused_connections_are_errors_not_answers():
    with LoadServer() as server:
        url = server.url
    c = generate(url, concurrency=1, seconds=0.3, batch=1, dimensions=4)
    assert c.requests == 0 and c.errors >= 1 and c.inputs_per_s == 0.0


def test_ceiling_round_trips_through_its_json():
    c = Ceiling(3, 6, 0, 1.5, 2, 2, 8, "base64")
    assert c.as_dict()["inputs_per_s"] == 4.0
    fields = {k: c.as_dict()[k] for k in Ceiling.__dataclass_fields__}
    assert Ceiling(**fields) == c


def test_summary_counts_self_inclusive_and_categories():
    raw = [
        "run (a.py:1);embed_batch (openai_embedding.py:9);b64decode (base64.py:3) 6",
        "run (a.py:1);pandas_to_arrow (pyflink/table/utils.py:40) 3",
        "run (a.py:2) 1",
        "",
    ]
    s = summarize(raw)
    assert s.samples == 10
    assert dict(s.by_category) == {
        "decoding the answer (SDK, pydantic, base64)": 6,
        "Arrow / pandas conversion": 3,
        "other Python": 1,
    }
    assert s.top_self[0] == ("b64decode (base64.py)", 6)
    assert dict(s.top_inclusive)["run (a.py)"] == 10  # line numbers folded
    assert "60.0%  b64decode" in s.text("worker", seconds=1.0)


def test_category_prefers_the_innermost_frame():
    assert category(["embed_texts (embedding.py)", "b64decode (base64.py)"]).startswith("decoding")
