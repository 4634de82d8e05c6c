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
        "finish_reason",
    ]
    assert frame.iloc[0].tolist() == ["a", None, 3, 4, 50, None]
    assert frame.iloc[1].tolist() == [None, "boom", None, None, None, None]
    # pandas' nullable Int dtypes fail in PyFlink's Arrow conversion: object columns only.
    assert all(str(dtype) == "object" for dtype in frame.dtypes)


def test_functions_sql_registers_every_function_and_documents_valid_per_key_sets():
    from importlib import resources

    from flink_rag.connectors.settings import EmbedSettings, LlmSettings, StoreSettings
    from flink_rag.udfs.config import validate

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
        "LLM_COMPLETE_CITED",
        "RAG_PROMPT",
        "CHUNK",
    ]
    examples = [
        parse_set(line.lstrip("-").strip().rstrip(";"))
        for line in text.splitlines()
        if line.lstrip("-").strip().startswith("SET 'pipeline.global-job-parameters.")
    ]
    assert len(examples) == 4 and all(examples)
    params = {k.removeprefix("pipeline.global-job-parameters."): v for k, v in examples}
    assert params["flink-rag.llm.base-url"] == "http://127.0.0.1:18000/v1"
    assert params["flink-rag.llm.escalation.model"] == "gpt-4o"  # a model profile
    validate(params, env={})
    # Every key the settings accept is documented in the header.
    header = text[: text.index("CREATE TEMPORARY")]
    for cls in (EmbedSettings, LlmSettings, StoreSettings):
        for key in cls.option_keys():
            assert key in header, key
