"""Where the local stack lives and which loopback ports it uses."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from flink_rag.connectors import settings

HOME_ENV = "FLINK_RAG_HOME"
# The offset, and the two ports the UDFs' defaults point at, are computed once, beside those
# defaults (connectors/settings.py); the other ports shift by the same offset.
PORT_OFFSET_ENV = settings.PORT_OFFSET_ENV
port_offset = settings.port_offset
HOST = settings.LOCAL_HOST
MONGO_PORT = settings.LOCAL_MONGO_PORT
LLM_PORT = settings.LOCAL_LLM_PORT
_OFFSET = port_offset()
KAFKA_PORT = 19092 + _OFFSET
KAFKA_CONTROLLER_PORT = 19093 + _OFFSET
FLINK_REST_PORT = 18081 + _OFFSET
FLINK_RPC_PORT = 18123 + _OFFSET
CONNECT_PORT = 18083 + _OFFSET
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
    connect_port: int = CONNECT_PORT
    # The session cluster's shape, and the Python its TaskManagers run UDFs with (None: the
    # Python running this code). A bare Python here models a cluster that lacks our deps.
    flink_taskmanagers: int = 1
    flink_slots: int = 2
    flink_python_executable: str | None = None
    # Extra Flink settings of the session cluster (they win over the defaults).
    flink_settings: dict[str, str] = field(default_factory=dict)
