"""How the pandas UDFs read their argument columns and build their ROW results."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from flink_rag.connectors.openai_chat import Completion
from flink_rag.sql.files import parse_set, split_statements
from flink_rag.udfs import FUNCTIONS_SQL
from flink_rag.udfs.llm_complete import _rows, _values, completions_frame

pytestmark = pytest.mark.unit


def test_literal_and_missing_arguments_are_repeated_per_row():
    prompts = pd.Series(["a", None, "c"])
    assert _rows(prompts, "system literal") == 3
    assert _values(prompts, 3) == ["a", None, "c"]
    assert _values("system literal", 3) == ["system literal"] * 3
    assert _values(None, 3) == [None, None, None]
    assert _values(pd.Series([math.nan, "x"]), 2) == [None, "x"]


def test_completion_frame_keeps_nulls_as_nulls():
    frame = completions_frame(
        [Completion("a", None, 3, 4, 50), Completion(None, "boom"), Completion(None, None)]
    )
    assert list(frame.columns) == [
        "text",
        "error",
        "prompt_tokens",
        "completion_tokens",
        "latency_ms",
    ]
    assert frame.iloc[0].tolist() == ["a", None, 3, 4, 50]
    assert frame.iloc[1].tolist() == [None, "boom", None, None, None]
    # pandas' nullable Int dtypes fail in PyFlink's Arrow conversion: object columns only.
    assert all(str(dtype) == "object" for dtype in frame.dtypes)


def test_functions_sql_registers_every_function_and_its_set_example_parses():
    from importlib import resources

    from test_udf_config import split_flink_map

    text = (resources.files("flink_rag.sql") / FUNCTIONS_SQL).read_text(encoding="utf-8")
    statements = split_statements(text)
    names = [s.split()[7] for s in statements]
    assert names == [
        "EMBED",
        "EMBED_RESULT",
        "VECTOR_LOOKUP",
        "VECTOR_LOOKUP_JSON",
        "VECTOR_HITS",
        "LLM_COMPLETE",
        "LLM_COMPLETE_JSON",
        "RAG_PROMPT",
    ]
    lines = text.splitlines()
    at = next(i for i, line in enumerate(lines) if "SET 'pipeline.global-job-parameters'" in line)
    statement = " ".join(line.lstrip("-").strip() for line in lines[at : at + 2]).rstrip(";")
    key, value = parse_set(statement)
    assert key == "pipeline.global-job-parameters"
    assert split_flink_map(value) == {
        "flink-rag.llm.base-url": "http://127.0.0.1:18000/v1",
        "flink-rag.llm.model": "smollm2",
        "flink-rag.store.flights.filter-fields": "origin,destination",
    }
