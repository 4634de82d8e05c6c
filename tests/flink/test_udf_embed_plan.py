"""EMBED runs once per row even when a query uses its result twice (planner, no job run)."""

from __future__ import annotations

import re

import pytest

pytestmark = pytest.mark.flink


def test_a_result_used_twice_is_embedded_once(udf_env):
    t_env = udf_env(
        {
            "flink-rag.embed.provider": "openai",
            "flink-rag.embed.base-url": "http://127.0.0.1:9/v1",
            "flink-rag.embed.model": "bench-embedding",
        }
    )
    t_env.execute_sql(
        "CREATE TEMPORARY TABLE src (id BIGINT, text STRING) WITH ("
        "'connector' = 'datagen', 'number-of-rows' = '10')"
    )
    plan = t_env.explain_sql(
        "SELECT id, e IS NULL AS missing, e[1] AS first FROM (SELECT id, EMBED(text) AS e FROM src)"
    )
    optimized = plan.split("== Optimized Execution Plan ==")[-1]
    assert len(re.findall(r"\bEMBED\(", optimized)) == 1, optimized
