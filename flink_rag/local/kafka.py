"""Apache Kafka 4.1, KRaft single node (broker + controller in one JVM), from jars/lib/kafka."""

from __future__ import annotations

import base64
import os
import subprocess
import uuid
from collections.abc import Sequence
from pathlib import Path

from flink_rag.local import prereqs
from flink_rag.local.component import PROBE_TIMEOUT_S, Component
from flink_rag.local.endpoints import KAFKA_ENV
from flink_rag.local.errors import StartupError

JVM_OPTS = ("-Xms128m", "-Xmx384m", "-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20")
FORMAT_TIMEOUT_S = 120.0

LOG4J2 = """\
# Everything to stdout, which the stack appends to logs/kafka.log.
status = warn
appender.out.type = Console
appender.out.name = STDOUT
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.out.ref = STDOUT
logger.state.name = state.change.logger
logger.state.level = WARN
logger.request.name = kafka.request.logger
logger.request.level = WARN
"""


class Kafka(Component):
    name = "kafka"
    external_env = KAFKA_ENV
    probe_request = "a metadata request"

    @property
    def conf_dir(self) -> Path:
        return self.state.conf_dir(self.name)

    @property
    def properties_file(self) -> Path:
        return self.conf_dir / "server.properties"

    @property
    def jar_dir(self) -> Path:
        return self.config.jars_dir / "kafka"

    def ports(self) -> Sequence[int]:
        return (self.config.kafka_port, self.config.kafka_controller_port)

    def describe(self) -> str:
        return f"{self.config.host}:{self.config.kafka_port}"

    def check_prereqs(self) -> None:
        prereqs.check_java()
        prereqs.check_jars(self.jar_dir, ("kafka_2.13-", "kafka-clients-", "log4j-core-"))
        prereqs.check_module("confluent_kafka", "install the dev dependencies (`make setup`)")

    def server_properties(self) -> str:
        h, c = self.config.host, self.config
        return "\n".join(
            [
                "process.roles=broker,controller",
                "node.id=1",
                f"controller.quorum.bootstrap.servers={h}:{c.kafka_controller_port}",
                f"listeners=PLAINTEXT://{h}:{c.kafka_port},CONTROLLER://{h}:{c.kafka_controller_port}",
                f"advertised.listeners=PLAINTEXT://{h}:{c.kafka_port}",
                "controller.listener.names=CONTROLLER",
                "inter.broker.listener.name=PLAINTEXT",
                "listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
                f"log.dirs={self.state.data_dir(self.name)}",
                "num.partitions=1",
                "num.network.threads=2",
                "num.io.threads=2",
                "background.threads=2",
                "offsets.topic.replication.factor=1",
                "offsets.topic.num.partitions=4",
                "transaction.state.log.replication.factor=1",
                "transaction.state.log.min.isr=1",
                "share.coordinator.state.topic.replication.factor=1",
                "share.coordinator.state.topic.min.isr=1",
                "group.initial.rebalance.delay.ms=0",
                "auto.create.topics.enable=true",
                "log.retention.hours=168",
                "",
            ]
        )

    def _java(self, main: str, *args: str) -> list[str]:
        return [
            prereqs.java_executable(),
            *JVM_OPTS,
            f"-Dlog4j2.configurationFile={self.conf_dir / 'log4j2.properties'}",
            "-cp",
            f"{self.jar_dir}/*",
            main,
            *args,
        ]

    def prepare(self) -> None:
        self.conf_dir.mkdir(parents=True, exist_ok=True)
        self.properties_file.write_text(self.server_properties())
        (self.conf_dir / "log4j2.properties").write_text(LOG4J2)
        data = self.state.data_dir(self.name)
        if (data / "meta.properties").exists():
            return
        # Kafka cluster ids are 16 random bytes, URL-safe base64 without padding.
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        cmd = self._java(
            "kafka.tools.StorageTool",
            "format",
            "--standalone",
            # one argument: a random id may start with "-", which argparse reads as an option
            f"--cluster-id={cluster_id}",
            "-c",
            str(self.properties_file),
        )
        with open(self.log_file, "ab") as log:
            try:
                done = subprocess.run(
                    cmd, stdout=log, stderr=subprocess.STDOUT, timeout=FORMAT_TIMEOUT_S, check=False
                )
            except subprocess.TimeoutExpired as err:
                raise StartupError(
                    f"storage format timed out after {FORMAT_TIMEOUT_S:.0f}s"
                ) from err
        if done.returncode != 0:
            raise StartupError(f"storage format failed (exit {done.returncode})")

    def command(self) -> Sequence[str]:
        return self._java("kafka.Kafka", str(self.properties_file))

    def probe(self, timeout: float = PROBE_TIMEOUT_S) -> str:
        from confluent_kafka.admin import AdminClient

        bootstrap = self._bootstrap()
        admin = AdminClient({"bootstrap.servers": bootstrap, "log_level": 0})
        meta = admin.list_topics(timeout=timeout)
        if not meta.brokers:
            raise ConnectionError(f"no brokers in metadata from {bootstrap}")
        return f"{len(meta.brokers)} broker(s), {len(meta.topics)} topic(s)"

    def _bootstrap(self) -> str:
        if self.external():
            return os.environ[KAFKA_ENV]
        return f"{self.config.host}:{self.config.kafka_port}"
