"""Run the pipeline SQL files from Python on a local PyFlink mini-cluster.

Statements run in file order: `SET` goes to the table config (and to the job
parameters the UDFs read), everything else to `execute_sql`. Flink is imported
lazily so the data generators work without a JVM.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from flink_rag.connectors.errors import ConfigError
from flink_rag.local.config import LocalConfig
from flink_rag.sql import files as sql_files

KAFKA_JAR = "flink-sql-connector-kafka-5.0.0-2.2.jar"
JVM_HEAP = "-Xmx512m"
JOB_PARAMETERS_PREFIX = "pipeline.global-job-parameters."


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


def apply_set(t_env: Any, key: str, value: str, job_params: dict[str, str]) -> None:
    """A SQL `SET`: table config, plus job parameters for `flink-rag.*` (the UDFs read those).

    `job_params` accumulates the `flink-rag.*` pairs set so far in this environment.
    """
    conf = t_env.get_config()
    conf.set(key, value)
    # Per-key form `pipeline.global-job-parameters.flink-rag.x`: kept in the map too, since a
    # map set here (from a plain `flink-rag.*` key) would hide the prefixed keys.
    name = key.removeprefix(JOB_PARAMETERS_PREFIX)
    if name.startswith("flink-rag."):
        job_params[name] = value
        conf.set("pipeline.global-job-parameters", format_map_option(job_params))


def format_map_option(values: Mapping[str, str]) -> str:
    """Flink's map-option syntax, quoted so commas, colons and quotes in values survive.

    Flink splits the entries on `,` then each entry on `:`; a token may be quoted only
    as a whole, with the quote character doubled inside.
    """

    def quote(text: str, q: str) -> str:
        return q + text.replace(q, q + q) + q

    return ",".join(
        quote(f"{quote(k, chr(34))}:{quote(v, chr(34))}", "'") for k, v in values.items()
    )


def run_statements(
    t_env: Any, statements: Iterable[str], options: Mapping[str, str] | None = None
) -> Any:
    """Run statements in order; returns the TableResult of the last one.

    `options` are applied first, like `SET`s at the top of the file.
    """
    result = None
    job_params: dict[str, str] = {}
    for key, value in (options or {}).items():
        apply_set(t_env, key, value, job_params)
    for statement in statements:
        kv = sql_files.parse_set(statement)
        if kv is not None:
            apply_set(t_env, kv[0], kv[1], job_params)
            continue
        result = t_env.execute_sql(statement)
    return result


def run_file(
    t_env: Any,
    name: str,
    params: Mapping[str, object],
    options: Mapping[str, str] | None = None,
) -> Any:
    return run_statements(t_env, sql_files.statements(name, params), options)
