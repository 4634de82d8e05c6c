"""The jobs being compared: our UDFs and Flink's native ML_PREDICT, on the same inputs.

Each contender builds a fresh TableEnvironment, runs one bounded query against the load
server and returns what it saw (rows, NULL/error rows, rows answered for another input).
Inputs are `<salt> row <id> needs a seat`, so every run can be made cache-cold or replayed.
"""

from __future__ import annotations

import csv
import importlib.resources
import importlib.util
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from flink_rag_bench import fake_responses as fake
from flink_rag_bench.flink_env import MODEL_OPENAI_JAR, table_env

# The load server accepts any key. The native path needs the key inside the SQL text
# (CREATE MODEL ... 'api-key'), so only a dummy key is ever used there.
DUMMY_API_KEY = "bench-dummy-key"
API_KEY_ENV = "FLINK_RAG_BENCH_API_KEY"
SYSTEM_PROMPT = "Answer briefly."
EMBED_MODEL = "bench-embedding"
CHAT_MODEL = "bench-chat"
DIMENSIONS = 256
# LLM_COMPLETE's default max-tokens, sent by both contenders: a TPM limit charges it per call.
MAX_TOKENS = 256


Prepared = tuple[Any, str, Any, tuple[tuple[str, str], ...]]  # t_env, query, check, sink


class ContenderUnavailable(Exception):
    """The contender cannot run here (e.g. the UDF package is not built yet)."""


@dataclass
class JobOutcome:
    rows: int = 0
    failed: int = 0  # NULL result or error set
    wrong: int = 0  # an answer computed for another row's input
    error: str | None = None  # the job itself failed


def row_text(salt: str, row_id: int) -> str:
    return f"{salt} row {row_id} needs a seat"


def _source(t_env: Any, rows: int, salt: str) -> None:
    t_env.execute_sql(
        "CREATE TEMPORARY TABLE bench_src (id BIGINT) WITH ("
        f"'connector' = 'datagen', 'number-of-rows' = '{rows}', 'rows-per-second' = '1000000', "
        f"'fields.id.kind' = 'sequence', 'fields.id.start' = '1', 'fields.id.end' = '{rows}')"
    )
    t_env.execute_sql(
        "CREATE TEMPORARY VIEW bench_input AS "
        f"SELECT id, CONCAT('{salt} row ', CAST(id AS STRING), ' needs a seat') AS text "
        "FROM bench_src"
    )


VECTOR_SINK = (("text", "STRING"), ("is_null", "BOOLEAN"), ("first_component", "FLOAT"))
ANSWER_SINK = (("text", "STRING"), ("answer", "STRING"), ("error", "STRING"))
NULL = "\\N"


def _parse(value: str, sql_type: str) -> Any:
    if value == NULL:
        return None
    if sql_type == "BOOLEAN":
        return value == "true"
    if sql_type == "FLOAT":
        return float(value)
    return value


def _collect(t_env: Any, query: str, check: Any, sink: tuple[tuple[str, str], ...]) -> JobOutcome:
    """Run `query` into CSV files and check every row afterwards.

    Not `TableResult.collect()`: it fetches row by row through the Python gateway (a few
    hundred rows/s here), which would throttle every contender through back-pressure.
    """
    out = JobOutcome()
    columns = ", ".join(f"{name} {sql_type}" for name, sql_type in sink)
    with tempfile.TemporaryDirectory(prefix="flink-rag-bench-out-") as directory:
        t_env.execute_sql(
            f"CREATE TEMPORARY TABLE bench_sink ({columns}) WITH ('connector' = 'filesystem', "
            f"'path' = '{Path(directory).as_uri()}', 'format' = 'csv', "
            f"'csv.null-literal' = '{NULL}')"
        )
        t_env.execute_sql(f"INSERT INTO bench_sink {query}").wait()
        for path in sorted(Path(directory).rglob("*")):
            if not path.is_file() or path.name.startswith("."):
                continue  # in-progress or checksum files
            with path.open(newline="", encoding="utf-8") as f:
                for raw in csv.reader(f):
                    values = [_parse(v, t) for v, (_, t) in zip(raw, sink, strict=True)]
                    out.rows += 1
                    verdict = check(*values)
                    if verdict == "failed":
                        out.failed += 1
                    elif verdict == "wrong":
                        out.wrong += 1
    return out


def _check_vector(text: str, is_null: bool, first: float | None) -> str:
    if is_null or first is None:
        return "failed"
    expected = float(fake.embedding_vector(text, DIMENSIONS)[0])
    return "ok" if np.isclose(first, expected, atol=1e-5) else "wrong"


def _check_answer(text: str, answer: str | None, error: str | None = None) -> str:
    if answer is None or error:
        return "failed"
    return "ok" if answer.startswith(fake.marker_tag(text)) else "wrong"


# --- Flink's native ML_PREDICT (flink-model-openai) -------------------------------------


def _native_env(base_url: str, task: str) -> Any:
    t_env = table_env(jars=(MODEL_OPENAI_JAR,))
    if task == "embed":
        t_env.execute_sql(
            "CREATE MODEL bench_model INPUT (text STRING) OUTPUT (embedding ARRAY<FLOAT>) WITH ("
            f"'provider' = 'openai', 'endpoint' = '{base_url}/embeddings', "
            f"'api-key' = '{DUMMY_API_KEY}', 'model' = '{EMBED_MODEL}')"
        )
    else:
        t_env.execute_sql(
            "CREATE MODEL bench_model INPUT (text STRING) OUTPUT (answer STRING) WITH ("
            f"'provider' = 'openai', 'endpoint' = '{base_url}/chat/completions', "
            f"'api-key' = '{DUMMY_API_KEY}', 'model' = '{CHAT_MODEL}', "
            f"'system-prompt' = '{SYSTEM_PROMPT}', 'max-tokens' = '{MAX_TOKENS}')"
        )
    return t_env


def _ml_predict(concurrency: int) -> str:
    return (
        "ML_PREDICT(TABLE bench_input, MODEL bench_model, DESCRIPTOR(text), "
        f"MAP['async', 'true', 'max-concurrent-operations', '{concurrency}'])"
    )


def native_embed(base_url: str, rows: int, concurrency: int, salt: str) -> Prepared:
    t_env = _native_env(base_url, "embed")
    _source(t_env, rows, salt)
    query = f"SELECT text, embedding IS NULL, embedding[1] FROM {_ml_predict(concurrency)}"
    return t_env, query, _check_vector, VECTOR_SINK


def native_complete(base_url: str, rows: int, concurrency: int, salt: str) -> Prepared:
    t_env = _native_env(base_url, "chat")
    _source(t_env, rows, salt)
    query = f"SELECT text, answer, CAST(NULL AS STRING) FROM {_ml_predict(concurrency)}"
    return t_env, query, _check_answer, ANSWER_SINK


# --- our UDFs -----------------------------------------------------------------------------


def udfs_available() -> str | None:
    """None when our UDFs can be registered, else why not."""
    if importlib.util.find_spec("flink_rag.udfs.embed") is None:
        return "flink_rag.udfs.embed is not built yet"
    if not importlib.resources.files("flink_rag.sql").joinpath("functions.sql").is_file():
        return "sql/functions.sql is missing"
    return None


def register_functions(t_env: Any, options: dict[str, str]) -> None:
    """Our functions plus their `flink-rag.*` options (job parameters: what the UDFs read)."""
    from flink_rag.udfs import configure, register

    configure(t_env, options)
    register(t_env)


def _ours_env(
    base_url: str, concurrency: int, cache_dir: str | None, extra: dict[str, str] | None = None
) -> Any:
    why = udfs_available()
    if why:
        raise ContenderUnavailable(why)
    conf = {
        "flink-rag.embed.provider": "openai",
        "flink-rag.embed.base-url": base_url,
        "flink-rag.embed.model": EMBED_MODEL,
        "flink-rag.embed.concurrency": str(concurrency),
        "flink-rag.llm.base-url": base_url,
        "flink-rag.llm.model": CHAT_MODEL,
        "flink-rag.llm.concurrency": str(concurrency),
        "flink-rag.llm.max-tokens": str(MAX_TOKENS),
    }
    # Throughput runs measure provider calls: no answer cache unless the case asks for one.
    conf["flink-rag.embed.cache-dir"] = cache_dir or "off"
    conf["flink-rag.llm.cache-dir"] = cache_dir or "off"
    # Keys outside flink-rag.* are Flink options of the job (e.g. the bundle size).
    flink_conf = {k: v for k, v in (extra or {}).items() if not k.startswith("flink-rag.")}
    conf.update({k: v for k, v in (extra or {}).items() if k.startswith("flink-rag.")})
    t_env = table_env(conf=flink_conf)
    register_functions(t_env, conf)
    return t_env


def ours_embed(
    base_url: str,
    rows: int,
    concurrency: int,
    salt: str,
    cache_dir: str | None = None,
    extra: dict[str, str] | None = None,
) -> Prepared:
    t_env = _ours_env(base_url, concurrency, cache_dir, extra)
    _source(t_env, rows, salt)
    query = "SELECT text, e IS NULL, e[1] FROM (SELECT text, EMBED(text) AS e FROM bench_input)"
    return t_env, query, _check_vector, VECTOR_SINK


def ours_complete(
    base_url: str,
    rows: int,
    concurrency: int,
    salt: str,
    cache_dir: str | None = None,
    extra: dict[str, str] | None = None,
) -> Prepared:
    t_env = _ours_env(base_url, concurrency, cache_dir, extra)
    _source(t_env, rows, salt)
    query = (
        "SELECT text, r.text, r.error FROM "
        f"(SELECT text, LLM_COMPLETE(text, '{SYSTEM_PROMPT}') AS r FROM bench_input)"
    )
    return t_env, query, _check_answer, ANSWER_SINK


def run(prepared: Prepared) -> JobOutcome:
    t_env, query, check, sink = prepared
    return _collect(t_env, query, check, sink)
