"""Run flink-rag SQL files from Python on a local PyFlink mini-cluster (or, with
`execution.target: remote` in the table options, submit them to a session cluster).

Statements run in file order, as `sql-client.sh -f` runs them (flink_rag.sql.runner).
Flink is imported lazily so importing this module needs no JVM.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from flink_rag.connectors.errors import ConfigError
from flink_rag.local.config import LocalConfig
from flink_rag.local.log4j import use_quiet_mini_cluster_logs
from flink_rag.sql import files as sql_files
from flink_rag.sql.runner import apply_set, execute_statements
from flink_rag.udfs.config import configure

KAFKA_JAR = "flink-sql-connector-kafka-5.0.0-2.2.jar"
JVM_HEAP = "-Xmx512m"


def kafka_jar(config: LocalConfig | None = None) -> Path:
    jar = (config or LocalConfig()).jars_dir / "flink" / KAFKA_JAR
    if not jar.is_file():
        raise ConfigError(
            f"Kafka connector jar {KAFKA_JAR} is missing; fetch the jars with "
            "`mvn -B -f jars/pom.xml package`"
        )
    return jar


def table_env(
    *, streaming: bool = True, parallelism: int = 1, options: Mapping[str, str] | None = None
) -> Any:
    """A TableEnvironment with the Kafka connector, this interpreter for Python workers,
    real worker processes and a capped JVM heap."""
    # Both are read when the JVM gateway starts, i.e. by the first TableEnvironment.
    os.environ.setdefault("_python_worker_execution_mode", "process")
    os.environ.setdefault("JVM_ARGS", JVM_HEAP)
    use_quiet_mini_cluster_logs()
    from pyflink.table import EnvironmentSettings, TableEnvironment

    settings = (
        EnvironmentSettings.in_streaming_mode()
        if streaming
        else EnvironmentSettings.in_batch_mode()
    )
    t_env = TableEnvironment.create(settings)
    conf = t_env.get_config()
    conf.set("pipeline.jars", kafka_jar().as_uri())
    conf.set("python.executable", sys.executable)
    conf.set("python.client.executable", sys.executable)
    conf.set("parallelism.default", str(parallelism))
    for key, value in (options or {}).items():
        conf.set(key, value)
    return t_env


def run_statements(
    t_env: Any, statements: Iterable[str], options: Mapping[str, str] | None = None
) -> Any:
    """Run statements in order as the SQL client would; returns the last TableResult.

    `options` (`flink-rag.*` keys) are set first, like per-key SETs at the top of the file.
    """
    if options:
        configure(t_env, options)
    return execute_statements(t_env, statements)


def run_file(
    t_env: Any,
    name: str,
    params: Mapping[str, object],
    options: Mapping[str, str] | None = None,
) -> Any:
    return run_statements(t_env, sql_files.statements(name, params), options)


def submit(
    sql_file: str,
    params: Mapping[str, object],
    *,
    register: Callable[[Any], None] | None = None,
    options: Mapping[str, str] | None = None,
    table_options: Mapping[str, str] | None = None,
) -> Any:
    """Start `sql_file` (after functions.sql) on a local mini-cluster; returns its JobClient
    (cancel it to stop).

    `options` (e.g. `flink-rag.llm.cache-dir`) apply before the file's own `SET`s;
    `table_options` are Flink settings of the environment (e.g. `execution.target: remote`
    with `rest.address`/`rest.port` submits to a session cluster instead)."""
    t_env = table_env(options=table_options)
    if register is None:
        run_file(t_env, "functions.sql", {}, options)
    else:
        register(t_env)
    result = run_file(t_env, sql_file, params, options)
    return result.get_job_client()


def submit_together(
    files: Sequence[tuple[str, Mapping[str, object]]],
    *,
    register: Callable[[Any], None] | None = None,
    options: Mapping[str, str] | None = None,
) -> Any:
    """Several SQL files (name, placeholder values) as one streaming job: their SETs and DDL
    run in order, their INSERTs go into one statement set (one job, one Python worker).
    Returns its JobClient."""
    t_env = table_env()
    if register is None:
        run_file(t_env, "functions.sql", {}, options)
    else:
        register(t_env)
    if options:
        configure(t_env, options)
    statement_set = t_env.create_statement_set()
    for name, params in files:
        for statement in sql_files.statements(name, params):
            kv = sql_files.parse_set(statement)
            if kv is not None:
                apply_set(t_env, *kv)
            elif statement.upper().startswith("INSERT"):
                statement_set.add_insert_sql(statement)
            else:
                t_env.execute_sql(statement)
    return statement_set.execute().get_job_client()


def explain(
    sql_file: str,
    params: Mapping[str, object],
    *,
    register: Callable[[Any], None] | None = None,
    options: Mapping[str, str] | None = None,
) -> str:
    """The optimized plan of `sql_file`'s closing statement set, with each node's changelog mode."""
    t_env = table_env()
    if register is None:
        run_file(t_env, "functions.sql", {}, options)
    else:
        register(t_env)
    statements = sql_files.statements(sql_file, params)
    run_statements(t_env, statements[:-1], options)
    statement_set = statements[-1]
    if not statement_set.upper().startswith("EXECUTE STATEMENT SET"):
        raise ValueError(f"{sql_file} must end with its EXECUTE STATEMENT SET")
    text = "EXPLAIN CHANGELOG_MODE " + statement_set[len("EXECUTE ") :]
    with t_env.execute_sql(text).collect() as rows:
        return "\n".join(str(row[0]) for row in rows)
