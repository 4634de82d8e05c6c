"""Flink SQL functions (Python UDFs): EMBED, VECTOR_LOOKUP, LLM_COMPLETE and helpers.

`register(t_env)` runs `sql/functions.sql`; `configure(t_env, {...})` sets the `flink-rag.*`
job parameters the functions read. PyFlink is imported only by the function modules.
"""

from __future__ import annotations

from importlib import resources
from typing import Any

from .config import configure
from .quiet_logs import quiet_gateway_jvm

FUNCTIONS_SQL = "functions.sql"


def register(t_env: Any) -> None:
    """Create the temporary system functions of `functions.sql` in `t_env`, and keep the
    workers' environment (secrets included) out of the JVM's log (quiet_logs.py)."""
    quiet_gateway_jvm(t_env)
    from ..sql.files import split_statements
    from ..sql.runner import execute_statements

    text = (resources.files("flink_rag.sql") / FUNCTIONS_SQL).read_text(encoding="utf-8")
    execute_statements(t_env, split_statements(text))


__all__ = ["configure", "register"]
