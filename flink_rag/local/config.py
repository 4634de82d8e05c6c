"""Where the local stack lives and which loopback ports it uses."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

HOME_ENV = "FLINK_RAG_HOME"
HOST = "127.0.0.1"
KAFKA_PORT = 19092
KAFKA_CONTROLLER_PORT = 19093
MONGO_PORT = 27027
LLM_PORT = 18000
FLINK_REST_PORT = 18081
FLINK_RPC_PORT = 18123
LLM_MODEL_ALIAS = "smollm2"
DEFAULT_TIMEOUT_S = 180.0


def repo_root() -> Path:
    """The checkout this package runs from (parent of the flink_rag package dir)."""
    return Path(__file__).resolve().parents[2]


def default_home() -> Path:
    env = os.environ.get(HOME_ENV)
    return Path(env).expanduser().resolve() if env else repo_root() / ".flink-rag"


@dataclass(frozen=True)
class LocalConfig:
    """State directory, jar directory and ports; tests build one with spare ports."""

    home: Path = field(default_factory=default_home)
    jars_dir: Path = field(default_factory=lambda: repo_root() / "jars" / "lib")
    host: str = HOST
    kafka_port: int = KAFKA_PORT
    kafka_controller_port: int = KAFKA_CONTROLLER_PORT
    mongo_port: int = MONGO_PORT
    llm_port: int = LLM_PORT
    flink_rest_port: int = FLINK_REST_PORT
    flink_rpc_port: int = FLINK_RPC_PORT
