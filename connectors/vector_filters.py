"""Vector lookup filters: parse MQL JSON and check it against what `$vectorSearch` accepts.

A filter arrives per row as JSON text (often built in SQL with JSON_OBJECT). It is checked
before any call, so a bad filter is a clear per-row error instead of a server failure, and the
same rules hold in scan mode, where the stand-in server would accept far more than Atlas does.
Extended JSON is understood: `{"$date": "..."}` (ISO-8601; a zone-less time such as Flink's
`2024-05-01 10:00:00` is taken as UTC) and `{"$oid": "..."}`.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import uuid
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

from bson import ObjectId
from bson.errors import BSONError
from bson.json_util import DEFAULT_JSON_OPTIONS
from bson.json_util import object_pairs_hook as _bson_pairs_hook
from bson.regex import Regex

from .errors import FilterError

# The operators $vectorSearch accepts in `filter`.
LOGICAL_OPERATORS = frozenset({"$and", "$or", "$nor"})
COMPARISON_OPERATORS = frozenset({"$eq", "$ne", "$gt", "$lt", "$gte", "$lte"})
ARRAY_OPERATORS = frozenset({"$in", "$nin"})
FIELD_OPERATORS = COMPARISON_OPERATORS | ARRAY_OPERATORS | {"$exists", "$not"}
SUPPORTED_OPERATORS = LOGICAL_OPERATORS | FIELD_OPERATORS

MAX_DEPTH = 16  # a filter nested deeper than this is a bug in the SQL that built it
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
_HINT = (
    'write the filter as a JSON object, e.g. {"carrier": "LH", "seats": {"$gte": 2}}; '
    "in SQL, JSON_OBJECT('carrier' VALUE carrier) builds one"
)


def parse_filter(text: str | None) -> dict[str, Any] | None:
    """The filter as a dict, or None for NULL/empty/`null`/`{}`; FilterError if it is not JSON."""
    if text is None or not text.strip():
        return None
    try:
        value = json.loads(text, object_pairs_hook=_pairs_hook)
    except json.JSONDecodeError as err:
        raise FilterError(
            f"filter is not valid JSON: {err.msg} at line {err.lineno} column {err.colno} "
            f"(character {err.pos}){_json_hint(text)}; {_HINT}"
        ) from err
    except RecursionError as err:
        raise FilterError(f"filter is nested too deeply (limit {MAX_DEPTH} levels)") from err
    except ArithmeticError as err:  # {"$numberDecimal": "x"} raises decimal.InvalidOperation
        raise FilterError(
            'filter has a {"$numberDecimal": ...} that is not a decimal number such as "12.50"'
        ) from err
    except (ValueError, TypeError, BSONError) as err:
        raise FilterError(f"filter has an invalid extended JSON value: {err}; {_HINT}") from err
    except Exception as err:  # bson's extended-JSON decoding raises more kinds than it documents
        raise FilterError(
            f"filter has an invalid extended JSON value ({type(err).__name__}); {_HINT}"
        ) from err
    if value is None:
        return None
    if not isinstance(value, dict):
        raise FilterError(f"filter must be a JSON object, got {type(value).__name__}; {_HINT}")
    return value or None


def coerce_filter(value: str | Mapping[str, Any] | None) -> dict[str, Any] | None:
    """Accept the filter as JSON text or as an already parsed mapping."""
    if value is None or isinstance(value, str):
        return parse_filter(value)
    if isinstance(value, Mapping):
        return dict(value) or None
    raise FilterError(f"filter must be JSON text or a mapping, got {type(value).__name__}")


def validate_filter(
    filter: Mapping[str, Any] | None,
    allowed_fields: Iterable[str],
    *,
    store: str | None = None,
) -> dict[str, Any] | None:
    """Check `filter` against $vectorSearch's rules and the declared filter fields; return it.

    Raises FilterError naming the offending field or operator and how to fix it.
    """
    if not filter:
        return None
    checker = _Checker(frozenset(allowed_fields), store)
    checker.document(filter, depth=0)
    return dict(filter)


def filter_fields(filter: Mapping[str, Any] | None) -> set[str]:
    """The field paths a (valid) filter refers to."""
    found: set[str] = set()

    def walk(doc: Mapping[str, Any]) -> None:
        for key, value in doc.items():
            if key in LOGICAL_OPERATORS:
                for clause in value:
                    walk(clause)
            else:
                found.add(key)

    if filter:
        walk(filter)
    return found


class _Checker:
    def __init__(self, allowed: frozenset[str], store: str | None):
        self.allowed = allowed
        self.store = store

    def document(self, doc: Any, depth: int) -> None:
        if depth > MAX_DEPTH:
            raise FilterError(f"filter is nested too deeply (limit {MAX_DEPTH} levels)")
        if not isinstance(doc, Mapping):
            raise FilterError(
                f"each clause of $and/$or/$nor must be a JSON object, got {_kind(doc)}"
            )
        if not doc:
            raise FilterError("filter has an empty clause {}; remove it")
        for key, value in doc.items():
            if key in LOGICAL_OPERATORS:
                if not isinstance(value, list) or not value:
                    raise FilterError(f"{key} takes a non-empty array of filter objects")
                for clause in value:
                    self.document(clause, depth + 1)
            elif key.startswith("$"):
                raise FilterError(self._operator_message(key, top_level=True))
            else:
                self.field(key, value, depth + 1)

    def field(self, name: str, condition: Any, depth: int) -> None:
        if name not in self.allowed:
            raise FilterError(self._field_message(name))
        if isinstance(condition, Mapping) and any(k.startswith("$") for k in condition):
            self.operators(name, condition, depth)
        else:
            self.value(name, "$eq", condition)

    def operators(self, name: str, ops: Mapping[str, Any], depth: int) -> None:
        if depth > MAX_DEPTH:
            raise FilterError(f"filter is nested too deeply (limit {MAX_DEPTH} levels)")
        for op, arg in ops.items():
            if op not in FIELD_OPERATORS:
                raise FilterError(self._operator_message(op, field=name))
            if op == "$exists":
                if not isinstance(arg, bool):
                    raise FilterError(f"{name}: $exists takes true or false, got {_kind(arg)}")
            elif op == "$not":
                if not isinstance(arg, Mapping) or not arg:
                    raise FilterError(
                        f'{name}: $not takes an operator object, e.g. {{"$not": {{"$eq": 1}}}}'
                    )
                self.operators(name, arg, depth + 1)
            elif op in ARRAY_OPERATORS:
                if not isinstance(arg, list):
                    raise FilterError(f"{name}: {op} takes an array, got {_kind(arg)}")
                for item in arg:
                    self.value(name, op, item)
            else:
                self.value(name, op, arg)

    def value(self, name: str, op: str, value: Any) -> None:
        if value is None:
            if op in ("$eq", "$ne", "$in", "$nin"):
                return
            raise FilterError(f"{name}: {op} cannot compare with null")
        if isinstance(value, bool | str | ObjectId | dt.datetime | uuid.UUID):
            return
        if isinstance(value, int):
            if not _INT64_MIN <= value <= _INT64_MAX:
                raise FilterError(f"{name}: {op} value {value} does not fit a 64-bit integer")
            return
        if isinstance(value, float):
            if not math.isfinite(value):
                raise FilterError(f"{name}: {op} value must be a finite number, got {value}")
            return
        if isinstance(value, Regex):
            raise FilterError(f"{name}: $regex is not supported by $vectorSearch filters")
        if isinstance(value, list):
            raise FilterError(
                f"{name}: {op} cannot take an array; use $in/$nin to match any of several values"
            )
        raise FilterError(
            f"{name}: {op} value of type {_kind(value)} is not supported by $vectorSearch; "
            'use a boolean, number, string, date ({"$date": "..."}) or ObjectId ({"$oid": "..."})'
        )

    def _field_message(self, name: str) -> str:
        declared = ", ".join(sorted(self.allowed)) or "none"
        store = self.store or "<name>"
        return (
            f"filter field {name!r} is not a declared filter field (declared: {declared}); "
            f"add it to 'flink-rag.store.{store}.filter-fields' and to the index with "
            f"`flink-rag index create --store {store} --filter-fields ...`"
        )

    @staticmethod
    def _operator_message(op: str, *, field: str | None = None, top_level: bool = False) -> str:
        where = f" on field {field!r}" if field else ""
        if top_level and op in FIELD_OPERATORS:
            return f"{op} must be used on a field, e.g. {{'<field>': {{'{op}': ...}}}}"
        supported = " ".join(sorted(SUPPORTED_OPERATORS))
        return (
            f"operator {op}{where} is not supported by $vectorSearch filters; "
            f"use one of {supported}"
        )


def _pairs_hook(pairs: list[tuple[str, Any]]) -> Any:
    keys = [k for k, _ in pairs]
    if len(set(keys)) != len(keys):
        # Counter, not keys.count per key: that was quadratic (a 1 MB filter took minutes).
        dupes = sorted(k for k, n in Counter(keys).items() if n > 1)[:10]
        raise ValueError(f"duplicate key(s) {', '.join(dupes)} in one object; merge them")
    if len(pairs) == 1 and pairs[0][0] == "$date" and isinstance(pairs[0][1], str):
        return _parse_date(pairs[0][1])
    return _bson_pairs_hook(pairs, DEFAULT_JSON_OPTIONS)


def _parse_date(text: str) -> dt.datetime:
    """ISO-8601 with 'T' or ' ', optional fraction and zone; zone-less means UTC."""
    raw = text.strip()
    if raw.endswith(("Z", "z")):
        raw = raw[:-1] + "+00:00"
    try:
        value = dt.datetime.fromisoformat(raw)
    except ValueError as err:
        raise ValueError(
            f'{{"$date": {text!r}}} is not an ISO-8601 timestamp like "2024-05-01T10:00:00Z"'
        ) from err
    if value.tzinfo is None:
        return value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC)


def _json_hint(text: str) -> str:
    if "'" in text and '"' not in text:
        return " (JSON needs double quotes, not single quotes)"
    return ""


def _kind(value: Any) -> str:
    return "null" if value is None else type(value).__name__
