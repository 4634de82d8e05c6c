"""LLM_COMPLETE answers per row: 200+ calls in flight, each answer from its own prompt, and
answers leaving with their bundle rather than after the slowest row.

The load server tags each answer with a marker of the prompt it received and, with
`prompt_latency`, waits the `latency_ms=N` written in the prompt: the test chooses each row's
latency. PyFlink 2.3.0's async functions get other rows' inputs (FLINK-39532) unless
`flink_rag.udfs.async_operation` snapshots the row; the first test fails without it.
"""

from __future__ import annotations

import time

import pytest
from udf_sql import strings_table

from flink_rag_bench.fake_responses import marker_tag

pytestmark = pytest.mark.flink


def llm_options(server, concurrency: int, **extra: str) -> dict[str, str]:
    return {
        "flink-rag.llm.base-url": server.base_url,
        "flink-rag.llm.model": "bench-chat",
        "flink-rag.llm.concurrency": str(concurrency),  # also Flink's async in-flight bound
        "flink-rag.llm.cache-dir": "off",
        **{f"flink-rag.llm.{k.replace('_', '-')}": v for k, v in extra.items()},
    }


def arrivals(t_env, query: str) -> list[tuple[float, tuple]]:
    """(seconds since the first row arrived, row) for each row, as the sink hands them out."""
    timed: list[tuple[float, tuple]] = []
    with t_env.execute_sql(query).collect() as results:
        for row in results:
            timed.append((time.monotonic(), tuple(row)))
    start = timed[0][0]
    return [(t - start, row) for t, row in timed]


def test_every_answer_is_computed_from_its_own_prompt_with_200_calls_in_flight(
    udf_env, load_server
):
    rows = 300
    load_server.configure(latency_ms=600)
    prompts = [f"row {i}: rebook passenger P{i:04d} from flight LH{i % 89}" for i in range(rows)]
    t_env = udf_env(llm_options(load_server, concurrency=256))
    strings_table(t_env, "prompts", "prompt", prompts)

    got = [
        row
        for _, row in arrivals(
            t_env,
            "SELECT id, prompt, r.text, r.error FROM "
            "(SELECT id, prompt, LLM_COMPLETE(prompt, 'Answer briefly.') AS r FROM prompts)",
        )
    ]

    assert [r[0] for r in got] == list(range(rows))  # every row once, in input order
    wrong = [r for r in got if r[3] is not None or not r[2].startswith(marker_tag(r[1]))]
    assert wrong == [], f"{len(wrong)} rows answered from another row's prompt (FLINK-39532)"
    stats = load_server.stats()
    assert stats["requests"]["/v1/chat/completions"] == {"200": rows}
    assert stats["max_in_flight"] >= 200


def test_answers_leave_with_their_bundle_not_after_the_slowest_row(udf_env, load_server):
    # All 40 rows arrive at once; rows 30-39 take 3 s at the server, the others 20 ms. PyFlink
    # hands a Python operator's results to Flink when a bundle ends, so with bundles of 10 rows
    # the first three bundles are at the sink while the slow rows are still at the server.
    load_server.configure(prompt_latency=True)
    prompts = [f"row {i} latency_ms={3000 if i >= 30 else 20}" for i in range(40)]
    t_env = udf_env(
        llm_options(load_server, concurrency=64), **{"python.fn-execution.bundle.size": "10"}
    )
    strings_table(t_env, "prompts", "prompt", prompts)

    timed = arrivals(
        t_env,
        "SELECT id, r.text, r.latency_ms FROM (SELECT id, LLM_COMPLETE(prompt) AS r FROM prompts)",
    )

    assert [row[0] for _, row in timed] == list(range(40))  # input order
    assert all(row[1].startswith(marker_tag(prompts[row[0]])) for _, row in timed)
    assert all(row[2] >= (3000 if row[0] >= 30 else 20) for _, row in timed)
    at = {row[0]: t for t, row in timed}
    assert at[39] - at[29] >= 2.0, [round(t, 2) for t, _ in timed]


def test_failed_calls_come_back_as_error_rows(udf_env, load_server):
    load_server.configure(latency_ms=20, faults=["500:every=1:match=poison"])
    prompts = [f"{'poison' if i % 4 == 0 else 'fine'} row {i}" for i in range(40)]
    t_env = udf_env(llm_options(load_server, concurrency=32, max_retries="0"))
    strings_table(t_env, "prompts", "prompt", prompts)

    got = [
        row
        for _, row in arrivals(
            t_env,
            "SELECT id, prompt, r.text, r.error FROM "
            "(SELECT id, prompt, LLM_COMPLETE(prompt) AS r FROM prompts)",
        )
    ]

    assert [r[0] for r in got] == list(range(40))
    for _, prompt, text, error in got:
        if prompt.startswith("poison"):
            assert text is None and "500" in error and "chat completion" in error
        else:
            assert error is None and text.startswith(marker_tag(prompt))
