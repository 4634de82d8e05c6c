"""Errors of the local stack; each message is one line that says what failed and how to fix it."""

from __future__ import annotations

from flink_rag.connectors.errors import FlinkRagError


class LocalStackError(FlinkRagError):
    """A local component could not be prepared, started, probed or stopped."""


class PrerequisiteError(LocalStackError):
    """Something the stack needs is missing (Java, jars, the LLM server package)."""


class PortInUseError(LocalStackError):
    """A component's port is taken by a process this stack did not start."""


class StartupError(LocalStackError):
    """A component exited or did not become ready in time."""
