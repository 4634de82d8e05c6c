"""How the UDFs build their ROW results, and the async operation adjustments they rely on."""

from __future__ import annotations

import pytest

from flink_rag.connectors.openai_chat import Completion
from flink_rag.sql.files import parse_set, split_statements
from flink_rag.udfs import FUNCTIONS_SQL, async_operation
from flink_rag.udfs.llm_complete import completion_row

pytestmark = pytest.mark.unit


def test_completion_row_keeps_nulls_as_nulls():
    assert tuple(completion_row(Completion("a", None, 3, 4, 50))) == ("a", None, 3, 4, 50)
    assert tuple(completion_row(Completion(None, "boom"))) == (None, "boom", None, None, None)
    assert tuple(completion_row(Completion(None, None))) == (None,) * 5


def test_row_snapshot_is_on_only_for_pyflink_releases_with_flink_39532():
    assert async_operation.needs_row_snapshot((2, 3, 0))
    assert async_operation.needs_row_snapshot((2, 2, 9))
    assert not async_operation.needs_row_snapshot((2, 3, 1))
    assert not async_operation.needs_row_snapshot((2, 4, 0))


def test_llm_functions_are_async_with_the_operation_adjusted():
    from pyflink.fn_execution.table.async_function.operations import (
        AsyncScalarFunctionOperation,
    )
    from pyflink.table.udf import AsyncScalarFunction

    from flink_rag.udfs import llm_complete

    assert isinstance(llm_complete.LLM_COMPLETE._func, AsyncScalarFunction)
    assert isinstance(llm_complete.LLM_COMPLETE_JSON._func, AsyncScalarFunction)
    assert getattr(AsyncScalarFunctionOperation, "_flink_rag_wrapped", False)


def test_snapshot_wrapper_hands_the_operation_a_copy_of_the_reused_row():
    seen: list[list] = []

    class Operation:
        def process_element(self, value):
            seen.append(value)

    reused = ["row 1"]
    wrapped = async_operation._snapshot_row(Operation.process_element)
    wrapped(Operation(), reused)
    reused[0] = "row 2"  # what the Cython decoder does with its list
    wrapped(Operation(), reused)
    assert seen == [["row 1"], ["row 2"]]


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
        "RAG_PROMPT",
        "CHUNK",
    ]
    examples = [
        parse_set(line.lstrip("-").strip().rstrip(";"))
        for line in text.splitlines()
        if line.lstrip("-").strip().startswith("SET 'pipeline.global-job-parameters.")
    ]
    assert len(examples) == 3 and all(examples)
    params = {k.removeprefix("pipeline.global-job-parameters."): v for k, v in examples}
    assert params["flink-rag.llm.base-url"] == "http://127.0.0.1:18000/v1"
    validate(params, env={})
    # Every key the settings accept is documented in the header.
    header = text[: text.index("CREATE TEMPORARY")]
    for cls in (EmbedSettings, LlmSettings, StoreSettings):
        for key in cls.option_keys():
            assert key in header, key
