"""The load server over loopback HTTP, driven by the openai SDK as real clients drive it."""

from __future__ import annotations

import json
import re
import threading
import urllib.request

import jsonschema
import numpy as np
import openai
import pytest

from flink_rag_bench import fake_responses as fake
from flink_rag_bench.load_server import LoadServer

pytestmark = pytest.mark.unit


def _client(server: LoadServer, **kwargs) -> openai.OpenAI:
    kwargs.setdefault("max_retries", 0)
    return openai.OpenAI(base_url=server.base_url, api_key="dummy-key", **kwargs)


def _get_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=10) as resp:
        return json.load(resp)


def _post_json(url: str, obj: dict) -> tuple[int, dict, dict]:
    req = urllib.request.Request(
        url, data=json.dumps(obj).encode(), headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, dict(resp.headers), json.load(resp)
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), json.load(err)


@pytest.fixture
def server():
    with LoadServer(dimensions=32) as s:
        yield s


def test_embeddings_one_deterministic_vector_per_input_in_order(server: LoadServer) -> None:
    texts = ["alpha", "beta", "alpha", "gamma"]
    resp = _client(server).embeddings.create(model="bench-embedding", input=texts)
    assert [d.index for d in resp.data] == [0, 1, 2, 3]
    for text, item in zip(texts, resp.data, strict=True):
        assert len(item.embedding) == 32
        assert np.allclose(item.embedding, fake.embedding_vector(text, 32), atol=1e-6)
    assert resp.data[0].embedding == resp.data[2].embedding
    assert resp.usage.prompt_tokens == sum(fake.estimate_tokens(t) for t in texts)


def test_embeddings_honour_dimensions_and_float_encoding(server: LoadServer) -> None:
    status, _, body = _post_json(
        server.base_url + "/embeddings",
        {"model": "m", "input": "one", "dimensions": 8, "encoding_format": "float"},
    )
    assert status == 200
    assert len(body["data"]) == 1
    assert np.allclose(body["data"][0]["embedding"], fake.embedding_vector("one", 8), atol=1e-6)


def test_chat_answer_belongs_to_its_own_input_under_concurrency(server: LoadServer) -> None:
    server.configure(latency_ms=50)
    client = _client(server)
    prompts = [f"passenger {i} needs a seat" for i in range(40)]
    answers: dict[str, str] = {}

    def ask(prompt: str) -> None:
        resp = client.chat.completions.create(
            model="bench-chat", messages=[{"role": "user", "content": prompt}]
        )
        answers[prompt] = resp.choices[0].message.content or ""

    threads = [threading.Thread(target=ask, args=(p,)) for p in prompts]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert sorted(answers) == sorted(prompts)
    for prompt, answer in answers.items():
        assert answer.startswith(fake.marker_tag(prompt))


def test_chat_structured_output_is_valid_for_the_schema(server: LoadServer) -> None:
    schema = {
        "type": "object",
        "properties": {
            "flight_id": {"type": "string", "enum": ["UA10", "UA12"]},
            "explanation": {"type": "string"},
        },
        "required": ["flight_id", "explanation"],
        "additionalProperties": False,
    }
    resp = _client(server).chat.completions.create(
        model="bench-chat",
        messages=[{"role": "user", "content": "rebook pax 9"}],
        response_format={
            "type": "json_schema",
            "json_schema": {"name": "rebooking", "strict": True, "schema": schema},
        },
    )
    answer = json.loads(resp.choices[0].message.content or "")
    jsonschema.validate(answer, schema)
    assert answer == {"flight_id": "UA10", "explanation": fake.marker_tag("rebook pax 9")}


def test_models_are_listed(server: LoadServer) -> None:
    ids = {m.id for m in _client(server).models.list().data}
    assert ids == {"bench-embedding", "bench-chat"}


def test_counters_by_endpoint_status_items_tokens_and_peak_concurrency(server: LoadServer) -> None:
    server.configure(latency_ms=1000, faults=["500:at=10"])
    client = _client(server)
    threads = [
        threading.Thread(
            target=client.embeddings.create, kwargs={"model": "m", "input": ["a", "bb", "ccc"]}
        )
        for _ in range(8)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    server.configure(latency_ms=0)
    client.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi there"}])
    with pytest.raises(openai.InternalServerError):
        client.chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}])
    stats = _get_json(server.url + "/stats")
    assert stats == {**server.stats(), "config": stats["config"]}
    assert stats["requests"] == {
        "/v1/embeddings": {"200": 8},
        "/v1/chat/completions": {"200": 1, "500": 1},
    }
    assert stats["items"] == {"/v1/embeddings": 24, "/v1/chat/completions": 1}
    assert stats["max_in_flight"] == 8
    assert stats["in_flight"] == 0
    assert stats["faults"] == {"500": 1}
    assert stats["prompt_tokens"] == 8 * 3 + fake.estimate_tokens("hi there")
    assert stats["completion_tokens"] > 0
    server.reset_stats()
    assert server.stats()["requests_total"] == 0


def test_rpm_limit_answers_429_with_headers(server: LoadServer) -> None:
    server.configure(rpm=60, burst_seconds=1.0)  # holds one request
    body = {"model": "m", "input": "x"}
    assert _post_json(server.base_url + "/embeddings", body)[0] == 200
    status, headers, err = _post_json(server.base_url + "/embeddings", body)
    headers = {k.lower(): v for k, v in headers.items()}
    assert status == 429
    assert err["error"]["type"] == "rate_limit_exceeded"
    assert 0 < int(headers["retry-after-ms"]) <= 1000
    assert headers["retry-after"] == "1"
    assert headers["x-ratelimit-limit-requests"] == "60"
    assert headers["x-ratelimit-remaining-requests"] == "0"
    assert server.stats()["rate_limited"] == 1


# OpenAI's duration format: `20ms`, `1s`, `1.5s`, `6m0s`.
_DURATION = re.compile(r"^(\d+ms|\d+(\.\d+)?s|\d+m\d+s)$")
_RATE_HEADERS = [
    f"x-ratelimit-{kind}-{dim}"
    for kind in ("limit", "remaining", "reset")
    for dim in ("requests", "tokens")
]


def test_every_answer_carries_openai_rate_limit_headers(server: LoadServer) -> None:
    server.configure(rpm=600, tpm=6000, burst_seconds=1.0)  # holds 10 requests, 100 tokens
    body = {"model": "m", "messages": [{"role": "user", "content": "abcdefgh"}], "max_tokens": 40}
    status, headers, _ = _post_json(server.base_url + "/chat/completions", body)
    headers = {k.lower(): v for k, v in headers.items()}
    assert status == 200
    assert set(_RATE_HEADERS) <= set(headers)
    assert headers["x-ratelimit-limit-requests"] == "600"
    assert headers["x-ratelimit-limit-tokens"] == "6000"
    assert headers["x-ratelimit-remaining-requests"] == "9"
    # charged at admission like OpenAI: prompt (2 tokens) + max_tokens (40)
    assert headers["x-ratelimit-remaining-tokens"] == "58"
    for dim in ("requests", "tokens"):
        assert _DURATION.match(headers[f"x-ratelimit-reset-{dim}"]), headers
    assert "retry-after" not in headers
    assert server.stats()["charged_tokens"] == 42


def test_a_tpm_429_says_when_the_tokens_are_back(server: LoadServer) -> None:
    # 1 token/s, holds 60: slow enough that the refill between the two requests (under 1 s
    # even on a loaded machine) cannot change the whole-token figures asserted below.
    server.configure(tpm=60, burst_seconds=60.0)
    body = {"model": "m", "messages": [{"role": "user", "content": "abcd"}], "max_tokens": 50}
    assert _post_json(server.base_url + "/chat/completions", body)[0] == 200  # 51 taken
    status, headers, err = _post_json(server.base_url + "/chat/completions", body)
    headers = {k.lower(): v for k, v in headers.items()}
    assert status == 429
    assert err["error"]["type"] == "rate_limit_exceeded"
    assert headers["x-ratelimit-remaining-tokens"] == "9"
    assert "x-ratelimit-limit-requests" not in headers  # no RPM limit configured
    wait_ms = int(headers["retry-after-ms"])
    assert 41000 <= wait_ms <= 42000  # 42 missing tokens at 1/s, less what refilled meanwhile
    assert headers["retry-after"] == "42"  # whole seconds, rounded up
    reset = headers["x-ratelimit-reset-tokens"]  # until the bucket is full again: ~51 s
    assert _DURATION.match(reset) and 50.0 <= float(reset.removesuffix("s")) <= 51.1, reset


def test_sdk_waits_as_told_by_retry_after(server: LoadServer) -> None:
    # One request per second, bucket of one. A client that waits retry-after-ms finds a token
    # when it comes back, so each request beyond the first is rejected at most once.
    server.configure(rpm=60, burst_seconds=1.0)
    client = _client(server, max_retries=10)
    for i in range(3):
        client.embeddings.create(model="m", input=[f"t{i}"])
    stats = server.stats()
    assert stats["requests"]["/v1/embeddings"]["200"] == 3
    assert 1 <= stats["rate_limited"] <= 2
    assert stats["requests"]["/v1/embeddings"]["429"] == stats["rate_limited"]


def test_injected_429_is_retried_by_the_sdk(server: LoadServer) -> None:
    server.configure(faults=["429:first=2"], fault_retry_after_ms=20)
    resp = _client(server, max_retries=3).embeddings.create(model="m", input=["z"])
    assert len(resp.data) == 1
    assert server.stats()["requests"]["/v1/embeddings"] == {"200": 1, "429": 2}


def test_timeout_fault_outlasts_the_client_timeout(server: LoadServer) -> None:
    server.configure(faults=["timeout:first=1"], timeout_sleep_s=3.0)
    client = _client(server, timeout=0.3)
    with pytest.raises(openai.APITimeoutError):
        client.embeddings.create(model="m", input=["slow"])
    assert len(client.embeddings.create(model="m", input=["fast"]).data) == 1


def test_badjson_fault_breaks_the_body(server: LoadServer) -> None:
    server.configure(faults=["badjson:every=1:match=broken"])
    client = _client(server)
    with pytest.raises((json.JSONDecodeError, openai.APIResponseValidationError)):
        client.embeddings.create(model="m", input=["broken row"])
    assert len(client.embeddings.create(model="m", input=["fine row"]).data) == 1


def test_admin_config_rejects_unknown_knobs_and_bad_rules(server: LoadServer) -> None:
    status, _, err = _post_json(server.url + "/admin/config", {"latency": 5})
    assert status == 400
    assert "unknown load server knob" in err["error"]["message"]
    status, _, err = _post_json(server.url + "/admin/config", {"faults": ["503:every=1"]})
    assert status == 400
    assert "bad fault rule" in err["error"]["message"]
    status, _, body = _post_json(server.url + "/admin/config", {"latency_ms": 7})
    assert status == 200
    assert body["config"]["latency_ms"] == 7
    assert server.config.latency_ms == 7
