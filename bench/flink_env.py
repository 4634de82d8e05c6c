"""The PyFlink environment every contender runs in: real Python worker processes, capped JVM."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path

from flink_rag.local.config import LocalConfig
from flink_rag.local.log4j import use_quiet_mini_cluster_logs

MODEL_OPENAI_JAR = "flink/flink-model-openai-2.3.0.jar"
JVM_HEAP = "-Xmx512m"


def prepare_process_env() -> None:
    """Must run before the first PyFlink gateway starts (both are read at JVM launch)."""
    os.environ.setdefault("JVM_ARGS", JVM_HEAP)
    use_quiet_mini_cluster_logs()
    # Without this a local job runs the UDFs inside the driver (one GIL); a cluster never does.
    os.environ["_python_worker_execution_mode"] = "process"  # noqa: SIM112 - PyFlink spells it so


def jar_url(relative: str, jars_dir: Path | None = None) -> str:
    path = (jars_dir or LocalConfig().jars_dir) / relative
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} is missing; fetch the JVM pieces with `mvn -B -f jars/pom.xml package`"
        )
    return path.resolve().as_uri()


def table_env(parallelism: int = 1, conf: Mapping[str, str] | None = None, jars: tuple = ()):
    """A streaming TableEnvironment configured like a cluster job (see DESIGN.md)."""
    prepare_process_env()
    from pyflink.table import EnvironmentSettings, TableEnvironment

    t_env = TableEnvironment.create(EnvironmentSettings.in_streaming_mode())
    config = t_env.get_config()
    config.set("parallelism.default", str(parallelism))
    config.set("python.executable", sys.executable)
    config.set("python.client.executable", sys.executable)
    if jars:
        config.set("pipeline.jars", ";".join(jar_url(j) for j in jars))
    for key, value in (conf or {}).items():
        config.set(key, value)
    return t_env
