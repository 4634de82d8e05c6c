"""The MongoDB stand-in: mongo-java-server with its H2 backend (data kept under data/mongo).

It speaks the wire protocol (CRUD, indexes, aggregation) and Atlas Vector Search: the
search-index commands and `$vectorSearch` on Lucene HNSW (jars/mongo), so vector lookups take
the Atlas code path. With MONGODB_URI set, that server is used instead.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from flink_rag.local import prereqs
from flink_rag.local.component import PROBE_TIMEOUT_S, Component
from flink_rag.local.endpoints import MONGODB_ENV

MAIN_CLASS = "io.flinkrag.mongo.StandInServer"
LAUNCHER_JAR = "flink-rag-mongo-stand-in-"
# Heap for the H2 cache and Lucene's indexing buffers; the vectors themselves are memory-mapped.
JVM_OPTS = ("-Xms32m", "-Xmx1g", "-XX:+UseSerialGC")
# On Java 21+ Lucene computes vector similarities with SIMD (the incubating Vector API): measured
# 1.6-1.8x less CPU for an HNSW build of 384-dim vectors than Java 17's scalar loops. Lucene 9.12
# knows Java up to 23, so newer runtimes are allowed explicitly.
VECTOR_API_JAVA = 21
VECTOR_API_OPTS = (
    "--add-modules=jdk.incubator.vector",
    "-Dorg.apache.lucene.vectorization.upperJavaFeatureVersion=99",
)
LUCENE_JAR = "lucene-core-"
VECTOR_SEARCH = "Atlas $vectorSearch on Lucene HNSW"


class MongoStandIn(Component):
    name = "mongo"
    external_env = MONGODB_ENV
    probe_request = "a ping"

    @property
    def jar_dir(self) -> Path:
        return self.config.jars_dir / "mongo"

    @property
    def data_file(self) -> Path:
        return self.state.data_dir(self.name) / "stand-in.mv.db"

    def ports(self) -> Sequence[int]:
        return (self.config.mongo_port,)

    def describe(self) -> str:
        if self.external():
            return "MONGODB_URI"  # the URI may hold a password: never print it
        return f"{self.config.host}:{self.config.mongo_port} stand-in ({VECTOR_SEARCH})"

    def check_prereqs(self) -> None:
        prereqs.check_java()
        jars = (LAUNCHER_JAR, "mongo-java-server-core-", "h2-", LUCENE_JAR)
        prereqs.check_jars(self.jar_dir, jars)

    def prepare(self) -> None:
        self.data_file.parent.mkdir(parents=True, exist_ok=True)

    def command(self) -> Sequence[str]:
        java = prereqs.java_executable()
        simd = prereqs.java_major_version(java) >= VECTOR_API_JAVA
        return [
            java,
            *JVM_OPTS,
            *(VECTOR_API_OPTS if simd else ()),
            "-cp",
            f"{self.jar_dir}/*",
            MAIN_CLASS,
            str(self.data_file),
            self.config.host,
            str(self.config.mongo_port),
        ]

    def probe(self, timeout: float = PROBE_TIMEOUT_S) -> str:
        import pymongo

        uri = os.environ[MONGODB_ENV] if self.external() else self._local_uri()
        ms = int(timeout * 1000)
        try:
            client: pymongo.MongoClient = pymongo.MongoClient(
                uri, serverSelectionTimeoutMS=ms, connectTimeoutMS=ms, socketTimeoutMS=ms
            )
        except pymongo.errors.PyMongoError as err:
            # Driver messages can quote the URI; report only the error type.
            raise ConnectionError(f"invalid MONGODB_URI ({type(err).__name__})") from None
        try:
            client.admin.command("ping")
            version = client.server_info().get("version", "?")
        except pymongo.errors.PyMongoError as err:
            # An outside server's errors can quote the URI; report only the error type then.
            detail = type(err).__name__ if self.external() else str(err)
            raise ConnectionError(f"ping failed ({detail})") from None
        finally:
            client.close()
        return f"ping ok, reports MongoDB {version}"

    def _local_uri(self) -> str:
        return f"mongodb://{self.config.host}:{self.config.mongo_port}/"
