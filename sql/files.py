"""The SQL files of flink_rag.sql: load, fill `${NAME}` placeholders, split into statements.

The SQL files are the source of truth for the pipeline; Python only substitutes
addresses (Kafka bootstrap, topic names) and runs the statements in order.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from importlib import resources

from ..connectors.errors import ConfigError

_PLACEHOLDER = re.compile(r"\$\{([A-Z][A-Z0-9_]*)\}")
_STATEMENT_SET = re.compile(r"(EXECUTE|BEGIN)\s+STATEMENT\s+SET\b", re.IGNORECASE)
_END = re.compile(r"\bEND$", re.IGNORECASE)
_SET = re.compile(r"^SET\s+'([^']+)'\s*=\s*'((?:[^']|'')*)'$", re.IGNORECASE | re.DOTALL)


def read(name: str) -> str:
    """The text of a bundled SQL file, e.g. `rebooking.sql`."""
    return (resources.files("flink_rag.sql") / name).read_text(encoding="utf-8")


def placeholders(text: str) -> set[str]:
    return set(_PLACEHOLDER.findall(text))


def render(text: str, params: Mapping[str, object]) -> str:
    """Replace every `${NAME}`; a missing name is an error (never an empty string).

    Every placeholder of the bundled files stands inside a string literal (a topic, an
    address, a group id: tests/unit/test_sql_files.py checks it), so each value is quoted
    for one: a `'` in a job name or group id given on the command line stays text instead
    of ending the literal and adding SQL of its own."""
    missing = placeholders(text) - set(params)
    if missing:
        raise ConfigError(f"SQL placeholders without a value: {', '.join(sorted(missing))}")
    return _PLACEHOLDER.sub(lambda m: quote(str(params[m.group(1)])), text)


def split_statements(text: str) -> list[str]:
    """Split on `;` outside string literals and `--` comments; comments are dropped.

    An `EXECUTE STATEMENT SET BEGIN ... END` block stays one statement.
    """
    statements: list[str] = []
    buf: list[str] = []
    i, n = 0, len(text)
    in_string = False
    while i < n:
        ch = text[i]
        if in_string:
            buf.append(ch)
            if ch == "'":
                if i + 1 < n and text[i + 1] == "'":  # '' escapes a quote
                    buf.append("'")
                    i += 1
                else:
                    in_string = False
        elif ch == "'":
            in_string = True
            buf.append(ch)
        elif ch == "-" and text.startswith("--", i):
            end = text.find("\n", i)
            i = n if end == -1 else end
            continue
        elif ch == ";":
            current = "".join(buf).strip()
            if _STATEMENT_SET.match(current) and not _END.search(current):
                buf.append(ch)  # inside EXECUTE STATEMENT SET BEGIN ... END
            else:
                statements.append(current)
                buf = []
        else:
            buf.append(ch)
        i += 1
    if in_string:
        raise ConfigError("unterminated string literal in SQL text")
    statements.append("".join(buf).strip())
    return [s for s in statements if s]


def parse_set(statement: str) -> tuple[str, str] | None:
    """(key, value) of a `SET 'key' = 'value'` statement, else None."""
    m = _SET.match(statement.strip())
    return (m.group(1), m.group(2).replace("''", "'")) if m else None


def statements(name: str, params: Mapping[str, object]) -> list[str]:
    return split_statements(render(read(name), params))


def for_sql_client(parts: list[str], options: Mapping[str, str] | None = None) -> str:
    """One script for `sql-client.sh -f` from statements of several files, in order.

    `options` (`flink-rag.*` keys) become per-key job-parameter SETs placed first, exactly
    what a user would write at the top of the file; the statements are not changed.
    """
    from ..udfs.config import set_statements

    head = set_statements(options or {})
    return "".join(f"{s};\n" for s in [*head, *parts])


def quote(value: str) -> str:
    """The body of a SQL string literal: every ' doubled."""
    return value.replace("'", "''")
