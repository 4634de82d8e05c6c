"""The local stack: Kafka, a MongoDB stand-in, an LLM server and (on demand) a Flink cluster,
run as background processes on loopback, plus `endpoints()` for clients."""

from __future__ import annotations

from flink_rag.local.config import LocalConfig
from flink_rag.local.endpoints import Endpoints, endpoints

__all__ = ["Endpoints", "LocalConfig", "endpoints"]
