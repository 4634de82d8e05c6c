"""Where clients find Kafka, MongoDB, the LLM server and Flink: env overrides, else loopback."""

from __future__ import annotations

import os
from dataclasses import dataclass

from flink_rag.local.config import LocalConfig

KAFKA_ENV = "KAFKA_BOOTSTRAP_SERVERS"
MONGODB_ENV = "MONGODB_URI"
LLM_ENV = "FLINK_RAG_LLM_BASE_URL"
FLINK_ENV = "FLINK_REST_URL"


@dataclass(frozen=True)
class Endpoints:
    """Addresses only; no client is opened here.

    `mongodb_uri` may carry a password: never log it.
    """

    kafka_bootstrap: str
    mongodb_uri: str
    llm_base_url: str
    flink_rest_url: str

    def __repr__(self) -> str:
        # The MongoDB URI may hold credentials; keep it out of reprs and test output.
        return (
            f"Endpoints(kafka_bootstrap={self.kafka_bootstrap!r}, mongodb_uri='***', "
            f"llm_base_url={self.llm_base_url!r}, flink_rest_url={self.flink_rest_url!r})"
        )


def local_endpoints(config: LocalConfig) -> Endpoints:
    """The addresses of the components this package starts, ignoring env overrides."""
    h = config.host
    return Endpoints(
        kafka_bootstrap=f"{h}:{config.kafka_port}",
        mongodb_uri=f"mongodb://{h}:{config.mongo_port}/",
        llm_base_url=f"http://{h}:{config.llm_port}/v1",
        flink_rest_url=f"http://{h}:{config.flink_rest_port}",
    )


def endpoints(config: LocalConfig | None = None) -> Endpoints:
    """Endpoints honouring KAFKA_BOOTSTRAP_SERVERS, MONGODB_URI, FLINK_RAG_LLM_BASE_URL and
    FLINK_REST_URL; unset ones point at the local stack."""
    local = local_endpoints(config or LocalConfig())
    return Endpoints(
        kafka_bootstrap=os.environ.get(KAFKA_ENV) or local.kafka_bootstrap,
        mongodb_uri=os.environ.get(MONGODB_ENV) or local.mongodb_uri,
        llm_base_url=(os.environ.get(LLM_ENV) or local.llm_base_url).rstrip("/"),
        flink_rest_url=(os.environ.get(FLINK_ENV) or local.flink_rest_url).rstrip("/"),
    )
