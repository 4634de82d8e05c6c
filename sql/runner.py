"""Runs SQL statements on a PyFlink TableEnvironment the way `sql-client.sh` runs a file.

`TableEnvironment.execute_sql` does not accept `SET`, so a `SET 'key' = 'value'` goes to the
table config as it is written (the SQL client does the same); every other statement goes to
`execute_sql`. Nothing is rewritten: the SQL that runs here runs unchanged in the SQL client.
Two mistakes that would silently lose options are refused with the fix:
`SET 'flink-rag.…'` (a table option the UDFs never see) and the map form of
`pipeline.global-job-parameters` (it replaces every per-key SET).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ..connectors.errors import ConfigError
from ..udfs.config import JOB_PARAMETERS, PREFIX, configure, job_parameter_key, refuse_map_form
from .files import parse_set

_JOB_PARAMETER_PREFIX = f"{JOB_PARAMETERS}."


def apply_set(t_env: Any, key: str, value: str) -> None:
    """One `SET 'key' = 'value'` statement."""
    if key.startswith(PREFIX):
        raise ConfigError(
            f"SET '{key}' is a table option the Python UDFs never see; write "
            f"SET '{job_parameter_key(key)}' = '...'"
        )
    if key == JOB_PARAMETERS:
        refuse_map_form(value)
    if key.startswith(_JOB_PARAMETER_PREFIX + PREFIX):
        # Validated with the options set before it; configure() does the same SET.
        configure(t_env, {key[len(_JOB_PARAMETER_PREFIX) :]: value})
        return
    if key.startswith(_JOB_PARAMETER_PREFIX) and t_env.get_config().get(JOB_PARAMETERS, None):
        refuse_map_form(t_env.get_config().get(JOB_PARAMETERS, None))
    t_env.get_config().set(key, value)


def execute_statements(t_env: Any, statements: Iterable[str]) -> Any:
    """Run statements in order; returns the TableResult of the last non-SET statement."""
    result = None
    for statement in statements:
        kv = parse_set(statement)
        if kv is not None:
            apply_set(t_env, *kv)
        else:
            result = t_env.execute_sql(statement)
    return result
