"""LLM_COMPLETE / LLM_COMPLETE_JSON through SQL against the deterministic OpenAI-compatible
server, in real Python worker processes.

The server tags each answer with a marker of the prompt it received, so every output row can
be checked against its own input - the property async Python UDFs break in PyFlink 2.3.0
(FLINK-39532) and the reason these functions overlap calls inside a pandas UDF instead.
"""

from __future__ import annotations

import json

import pytest
from udf_sql import collect, strings_table

from flink_rag_bench.fake_responses import marker_tag

pytestmark = pytest.mark.flink

ROWS = 240
CONCURRENCY = 64

SCHEMA = json.dumps(
    {
        "type": "object",
        "properties": {"flight": {"type": "string"}, "reason": {"type": "string"}},
        "required": ["flight", "reason"],
        "additionalProperties": False,
    }
)


def llm_options(server, **extra: str) -> dict[str, str]:
    return {
        "flink-rag.llm.base-url": server.base_url,
        "flink-rag.llm.model": "bench-chat",
        "flink-rag.llm.concurrency": str(CONCURRENCY),
        **{f"flink-rag.llm.{k.replace('_', '-')}": v for k, v in extra.items()},
    }


def test_every_answer_is_computed_from_its_own_prompt_with_64_calls_in_flight(udf_env, load_server):
    load_server.configure(latency_ms=250)
    prompts = [f"row {i}: rebook passenger P{i:04d} from flight LH{i % 97}" for i in range(ROWS)]
    prompts[7] = None  # NULL in, NULL out, no call
    t_env = udf_env(llm_options(load_server))
    strings_table(t_env, "prompts", "prompt", prompts)

    rows = collect(
        t_env,
        "SELECT id, prompt, r.text, r.error, r.prompt_tokens, r.completion_tokens, r.latency_ms "
        "FROM (SELECT id, prompt, LLM_COMPLETE(prompt, 'Answer briefly.') AS r FROM prompts)",
    )

    assert sorted(r[0] for r in rows) == list(range(ROWS))
    by_id = {r[0]: r for r in rows}
    assert by_id[7][2:] == (None, None, None, None, None)
    wrong = [
        (i, p, text)
        for i, p, text, error, *_ in rows
        if p is not None and (error is not None or not text.startswith(marker_tag(p)))
    ]
    assert wrong == []
    answered = [r for r in rows if r[1] is not None]
    assert all(r[4] > 0 and r[5] > 0 and r[6] >= 250 for r in answered)
    stats = load_server.stats()
    assert stats["requests"]["/v1/chat/completions"] == {"200": ROWS - 1}
    assert stats["max_in_flight"] >= 50


def test_one_argument_form_and_schema_answers_are_validated(udf_env, load_server):
    prompts = [f"which flight for passenger {i}?" for i in range(20)]
    t_env = udf_env(llm_options(load_server))
    strings_table(t_env, "prompts", "prompt", prompts)

    rows = collect(
        t_env,
        "SELECT prompt, a.text, a.error, j.text, j.error FROM ("
        "  SELECT prompt, LLM_COMPLETE(prompt) AS a,"
        f"   LLM_COMPLETE_JSON(prompt, 'Answer in JSON.', '{SCHEMA}') AS j"
        "  FROM prompts)",
    )

    assert len(rows) == len(prompts)
    for prompt, text, error, json_text, json_error in rows:
        assert error is None and text.startswith(marker_tag(prompt))
        assert json_error is None
        answer = json.loads(json_text)
        assert set(answer) == {"flight", "reason"}
        assert marker_tag(prompt) in json_text


def test_invalid_schema_is_a_row_error_not_a_job_failure(udf_env, load_server):
    t_env = udf_env(llm_options(load_server))
    strings_table(t_env, "prompts", "prompt", ["a", "b"])

    rows = collect(
        t_env,
        "SELECT prompt, r.text, r.error FROM (SELECT prompt, "
        "LLM_COMPLETE_JSON(prompt, 'sys', '{\"type\": \"object\"') AS r FROM prompts)",
    )

    assert sorted(r[0] for r in rows) == ["a", "b"]
    assert all(r[1] is None and "schema" in r[2].lower() for r in rows)
    assert load_server.stats()["requests_total"] == 0


def test_faults_mark_rows_and_lose_none(udf_env, load_server):
    # Every 5th request fails with 500, every 7th is rate limited, every 11th is broken JSON;
    # the SDK retries 2 times (429 honours Retry-After), then the row gets an error.
    load_server.configure(latency_ms=20, faults=["500:every=5", "429:every=7", "badjson:every=11"])
    prompts = [f"fault row {i}" for i in range(120)]
    t_env = udf_env(llm_options(load_server, max_retries="2", timeout="10"))
    strings_table(t_env, "prompts", "prompt", prompts)

    rows = collect(
        t_env,
        "SELECT prompt, r.text, r.error FROM "
        "(SELECT prompt, LLM_COMPLETE(prompt, 'sys') AS r FROM prompts)",
    )

    assert sorted(r[0] for r in rows) == sorted(prompts)
    ok = [r for r in rows if r[2] is None]
    failed = [r for r in rows if r[2] is not None]
    assert all(text.startswith(marker_tag(p)) for p, text, _ in ok)
    assert all(text is None for _, text, _ in failed)
    stats = load_server.stats()
    assert sum(stats["faults"].values()) > 0
    assert stats["requests"]["/v1/chat/completions"].get("500", 0) > 0
    # Retries recover most rows; what cannot be recovered is marked, never dropped.
    assert len(ok) > len(prompts) // 2
    assert len(ok) + len(failed) == len(prompts)


def test_on_error_fail_fails_the_job(udf_env, load_server):
    load_server.configure(faults=["500:every=1"])
    # A 500 is an outage, waited out for up to outage-wait (120 s by default) before the
    # row fails; this test is about what a failed row does to the job, not about the wait.
    t_env = udf_env(llm_options(load_server, on_error="fail", max_retries="0", outage_wait="0"))
    strings_table(t_env, "prompts", "prompt", ["a", "b"])

    with pytest.raises(Exception) as failure:
        collect(t_env, "SELECT r.text FROM (SELECT LLM_COMPLETE(prompt) AS r FROM prompts)")
    assert "HTTP 500" in str(failure.value) or "500" in str(failure.value)
    assert "chat completion" in str(failure.value)
