"""The SQL files of flink_rag.sql: load, fill `${NAME}` placeholders, split into statements.

The SQL files are the source of truth for the pipeline; Python only substitutes
addresses (Kafka bootstrap, topic names) and runs the statements in order. A pipeline file
derives its Kafka tables from the shapes of kafka_tables.sql, whose statements come first.

Per-run table options (a consumer group, where a source starts) are no placeholders: a runner
passes them as `params[TABLE_OPTIONS] = {table: {option: value}}` and every query that reads
the table gets Flink's dynamic table options hint (`FROM t /*+ OPTIONS(...) */`). The file
stays what the stock SQL client runs; its own options are the defaults a hint overrides.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from importlib import resources

from ..connectors.errors import ConfigError

FUNCTIONS = "functions.sql"
SHAPES = "kafka_tables.sql"
TABLE_OPTIONS = "table-options"  # lower case: never a placeholder name
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_OPTION_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_LITERAL = re.compile(r"('(?:[^']|'')*')")
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
    """The statements of `name` as a runner executes them: a pipeline file after the table
    shapes it derives from, with the per-run table options of `params` (see the module)."""
    shapes = [] if name in (FUNCTIONS, SHAPES) else split_statements(render(read(SHAPES), params))
    parts = [*shapes, *split_statements(render(read(name), params))]
    options = params.get(TABLE_OPTIONS)
    if not options:
        return parts
    if not isinstance(options, Mapping):
        raise ConfigError(f"{TABLE_OPTIONS} must map table names to options, got {options!r}")
    return with_table_options(parts, options)


def with_table_options(
    statements: list[str], options: Mapping[str, Mapping[str, object]]
) -> list[str]:
    """Add `/*+ OPTIONS(...) */` after every `FROM table` / `JOIN table` outside string
    literals. A table that no statement reads is an error: the options would be lost."""
    out = list(statements)
    for table, table_options in options.items():
        hint = _hint(table, table_options)
        read_at = re.compile(rf"\b(?:FROM|JOIN)\s+{table}\b(?!\s*/\*\+)", re.IGNORECASE)
        found = 0
        for i, statement in enumerate(out):
            pieces = _LITERAL.split(statement)  # odd indices are string literals
            for j in range(0, len(pieces), 2):
                pieces[j], n = read_at.subn(lambda m, h=hint: f"{m.group(0)} {h}", pieces[j])
                found += n
            out[i] = "".join(pieces)
        if not found:
            raise ConfigError(
                f"no statement reads table {table!r}, so its options would be lost; "
                "name a table the file reads FROM (e.g. flight_events_raw)"
            )
    return out


def _hint(table: str, options: Mapping[str, object]) -> str:
    if not _IDENTIFIER.match(table):
        raise ConfigError(f"table name {table!r} is not a plain SQL identifier")
    if not options:
        raise ConfigError(f"no options given for table {table!r}")
    bad = [k for k in options if not _OPTION_KEY.match(k)]
    if bad:
        raise ConfigError(f"table option keys {bad!r} are not Flink option names")
    pairs = ", ".join(f"'{k}' = '{quote(str(v))}'" for k, v in options.items())
    return f"/*+ OPTIONS({pairs}) */"


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
