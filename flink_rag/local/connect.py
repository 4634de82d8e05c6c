"""Kafka Connect 4.1 (one distributed worker, from jars/lib/connect) with the MongoDB sink
connector on its classpath.

Distributed mode keeps connector configs and offsets in Kafka topics, so a sink created once
(`flink-rag store sink create`) survives a restart of the worker. Connector configs name the
MongoDB URI as `${env:MONGODB_URI}`: the worker resolves it from its own environment (Kafka's
EnvVarConfigProvider, limited to that one variable), so it is never in a request, a config
topic or a log. The local worker gets the stand-in's URI unless MONGODB_URI is set when it
starts. With KAFKA_CONNECT_URL set, that worker is used as is.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from flink_rag.local import prereqs, process
from flink_rag.local.component import PROBE_TIMEOUT_S, Component
from flink_rag.local.config import CONNECT_PORT, HOST
from flink_rag.local.endpoints import KAFKA_ENV, MONGODB_ENV
from flink_rag.local.errors import StartupError
from flink_rag.local.kafka import LOG4J2, Kafka

CONNECT_ENV = "KAFKA_CONNECT_URL"
MAIN_CLASS = "org.apache.kafka.connect.cli.ConnectDistributed"
# Measured: ~420 MB RSS with one MongoDB sink task at this heap.
JVM_OPTS = ("-Xms64m", "-Xmx384m", "-XX:+UseG1GC", "-XX:MaxGCPauseMillis=50")
GROUP_ID = "flink-rag-connect"
KAFKA_WAIT_S = 90.0
REQUIRED_JARS = ("connect-runtime-", "connect-json-", "connect-transforms-", "mongo-kafka-connect-")


def connect_url() -> str:
    """The Connect REST API clients talk to: KAFKA_CONNECT_URL, else the local worker."""
    return (os.environ.get(CONNECT_ENV) or f"http://{HOST}:{CONNECT_PORT}").rstrip("/")


class KafkaConnect(Component):
    name = "connect"
    external_env = CONNECT_ENV
    status_timeout = 15.0

    @property
    def conf_dir(self) -> Path:
        return self.state.conf_dir(self.name)

    @property
    def properties_file(self) -> Path:
        return self.conf_dir / "worker.properties"

    @property
    def jar_dir(self) -> Path:
        return self.config.jars_dir / "connect"

    @property
    def port(self) -> int:
        return self.config.connect_port

    @property
    def url(self) -> str:
        return connect_url() if self.external() else f"http://{self.config.host}:{self.port}"

    def ports(self) -> Sequence[int]:
        return (self.port,)

    def describe(self) -> str:
        return CONNECT_ENV if self.external() else f"{self.config.host}:{self.port}"

    def check_prereqs(self) -> None:
        prereqs.check_java()
        prereqs.check_jars(self.jar_dir, REQUIRED_JARS)

    def _bootstrap(self) -> str:
        return os.environ.get(KAFKA_ENV) or f"{self.config.host}:{self.config.kafka_port}"

    def worker_properties(self) -> str:
        h = self.config.host
        return "\n".join(
            [
                f"bootstrap.servers={self._bootstrap()}",
                f"group.id={GROUP_ID}",
                "key.converter=org.apache.kafka.connect.storage.StringConverter",
                "value.converter=org.apache.kafka.connect.json.JsonConverter",
                "value.converter.schemas.enable=false",
                "config.storage.topic=flink-rag-connect-configs",
                "offset.storage.topic=flink-rag-connect-offsets",
                "status.storage.topic=flink-rag-connect-status",
                "config.storage.replication.factor=1",
                "offset.storage.replication.factor=1",
                "offset.storage.partitions=1",
                "status.storage.replication.factor=1",
                "status.storage.partitions=1",
                "offset.flush.interval.ms=1000",
                # One worker: after a restart, take its connectors back at once.
                "scheduled.rebalance.max.delay.ms=0",
                f"listeners=http://{h}:{self.port}",
                f"rest.advertised.host.name={h}",
                f"rest.advertised.port={self.port}",
                "config.providers=env",
                "config.providers.env.class="
                "org.apache.kafka.common.config.provider.EnvVarConfigProvider",
                f"config.providers.env.param.allowlist.pattern=^{MONGODB_ENV}$",
                "",
            ]
        )

    def prepare(self) -> None:
        self.conf_dir.mkdir(parents=True, exist_ok=True)
        self.properties_file.write_text(self.worker_properties())
        (self.conf_dir / "log4j2.properties").write_text(LOG4J2)
        # The worker creates its topics at start and exits if Kafka is not there yet.
        kafka = Kafka(self.config, self.state)
        try:
            process.wait_until(lambda: kafka.probe(PROBE_TIMEOUT_S), timeout=KAFKA_WAIT_S)
        except TimeoutError as err:
            raise StartupError(
                f"Kafka at {self._bootstrap()} did not answer within {KAFKA_WAIT_S:.0f}s ({err});"
                " start it first (`flink-rag local up --only kafka`)"
            ) from err

    def env(self) -> Mapping[str, str]:
        env = dict(os.environ)
        # The sink's `${env:MONGODB_URI}` resolves here; default: the local stand-in.
        env.setdefault(MONGODB_ENV, f"mongodb://{self.config.host}:{self.config.mongo_port}/")
        return env

    def command(self) -> Sequence[str]:
        return [
            prereqs.java_executable(),
            *JVM_OPTS,
            f"-Dlog4j2.configurationFile={self.conf_dir / 'log4j2.properties'}",
            "-cp",
            f"{self.jar_dir}/*",
            MAIN_CLASS,
            str(self.properties_file),
        ]

    def probe(self, timeout: float = PROBE_TIMEOUT_S) -> str:
        import requests

        root = requests.get(self.url + "/", timeout=timeout)
        root.raise_for_status()
        # /connectors answers only once the worker has joined its group.
        connectors = requests.get(self.url + "/connectors?expand=status", timeout=timeout)
        if connectors.status_code != 200:
            raise ConnectionError(
                f"GET /connectors: HTTP {connectors.status_code} (worker still joining?)"
            )
        states = [
            f"{name} {info['status']['connector']['state']}"
            for name, info in sorted(connectors.json().items())
        ]
        version = root.json().get("version", "?")
        return f"Kafka Connect {version}, connectors: {', '.join(states) or 'none'}"
