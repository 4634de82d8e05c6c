"""Helpers for the flink-rag function tests: bounded queries and small input tables."""

from __future__ import annotations

from typing import Any


def collect(t_env: Any, query: str) -> list[tuple]:
    """All rows of a bounded query, as tuples."""
    with t_env.execute_sql(query).collect() as results:
        return [tuple(row) for row in results]


def strings_table(t_env: Any, name: str, column: str, values: list[str | None]) -> None:
    """A temporary view `name(id INT, <column> STRING)` of `values` (NULLs allowed).

    A VALUES literal would not do: the planner folds constant arguments, and PyFlink's pandas
    UDF operator fails on a call with no column argument.
    """
    from pyflink.table import DataTypes

    schema = DataTypes.ROW(
        [DataTypes.FIELD("id", DataTypes.INT()), DataTypes.FIELD(column, DataTypes.STRING())]
    )
    t_env.create_temporary_view(name, t_env.from_elements(list(enumerate(values)), schema))
