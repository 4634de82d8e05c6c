"""Structured output: the `response_format` a server needs for a JSON schema, and the check of
the answer against that schema. Pure functions; no I/O.

Two wire styles exist. OpenAI (and vLLM, Ollama) take
`{"type": "json_schema", "json_schema": {"name", "strict", "schema"}}`; llama-cpp-python's
server only knows `{"type": "json_object", "schema": ...}` (it compiles the schema into a
grammar, which is what makes a tiny local model answer with valid JSON at all) and rejects
`json_schema` with HTTP 422. Either way the answer is validated here: servers that do not
enforce the schema, or an answer cut at max-tokens, must not pass as valid.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Mapping
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError, best_match
from referencing import Registry
from referencing.exceptions import NoSuchResource, Unresolvable

from .errors import InputError
from .schema_limits import check_schema_bounds

JSON_SCHEMA = "json_schema"
JSON_OBJECT = "json_object"
STYLES = (JSON_SCHEMA, JSON_OBJECT)
_NAME_OK = re.compile(r"[^A-Za-z0-9_-]")


def _refuse_retrieval(uri: str) -> Any:
    """jsonschema would fetch a remote `$ref` over HTTP, from a worker, with no timeout."""
    raise NoSuchResource(ref=uri)  # type: ignore[call-arg]


# Only references inside the schema itself (`#/$defs/...`) resolve.
_LOCAL_ONLY: Registry = Registry(retrieve=_refuse_retrieval)  # type: ignore[call-arg]


def parse_schema(schema: str | Mapping[str, Any]) -> dict[str, Any]:
    """The schema as a dict, checked against the JSON Schema meta-schema (InputError if bad)."""
    if isinstance(schema, str):
        try:
            parsed = json.loads(schema)
        except json.JSONDecodeError as err:
            raise InputError(
                f"json_schema is not valid JSON ({err.msg} at character {err.pos}); pass a JSON "
                "object, e.g. built with JSON_OBJECT"
            ) from err
    else:
        parsed = dict(schema)
    if not isinstance(parsed, dict):
        raise InputError('json_schema must be a JSON object such as {"type": "object", ...}')
    remote = _remote_ref(parsed)
    if remote is not None:
        raise InputError(
            f"json_schema refers to {remote[:200]!r}; only references inside the schema "
            "(#/$defs/...) are allowed: inline the referenced definitions under $defs"
        )
    try:
        _validator(json.dumps(parsed, sort_keys=True))  # raises InputError on an invalid schema
    except RecursionError as err:
        raise InputError("json_schema is nested too deeply; flatten it with $defs") from err
    check_schema_bounds(parsed)  # before the paid call: what would hang or recurse after it
    return parsed


def _remote_ref(schema: Any) -> str | None:
    """The first `$ref` (or `$dynamicRef`) that points outside the schema, if any."""
    stack = [schema]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            for key, value in node.items():
                if key in ("$ref", "$dynamicRef") and isinstance(value, str):
                    if not value.startswith("#"):
                        return value
                else:
                    stack.append(value)
        elif isinstance(node, list):
            stack.extend(node)
    return None


@functools.lru_cache(maxsize=256)
def _validator(canonical_schema: str) -> Draft202012Validator:
    schema = json.loads(canonical_schema)
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as err:
        raise InputError(
            f"json_schema is not a valid JSON Schema: {_where(err.json_path)}{err.message}"
        ) from err
    return Draft202012Validator(schema, registry=_LOCAL_ONLY)


def is_strict_compatible(schema: Mapping[str, Any]) -> bool:
    """Whether OpenAI's strict mode accepts the schema: every object closed, all keys required.

    Strict mode rejects other schemas with HTTP 400, so those are sent with strict=false and
    only validated here.
    """
    if not isinstance(schema, Mapping):
        return True
    if schema.get("type") == "object" or "properties" in schema:
        props = schema.get("properties", {})
        if schema.get("additionalProperties") is not False:
            return False
        if set(schema.get("required", ())) != set(props):
            return False
    children: list[Any] = []
    for key in ("properties", "$defs", "definitions"):
        children.extend((schema.get(key) or {}).values())
    for key in ("items", "not"):
        if isinstance(schema.get(key), Mapping):
            children.append(schema[key])
    for key in ("anyOf", "allOf", "oneOf", "prefixItems"):
        children.extend(schema.get(key) or ())
    return all(is_strict_compatible(child) for child in children)


def response_format(schema: Mapping[str, Any], style: str = JSON_SCHEMA) -> dict[str, Any]:
    """The `response_format` request field for `schema` in the server's style."""
    if style == JSON_OBJECT:
        return {"type": JSON_OBJECT, "schema": dict(schema)}
    if style != JSON_SCHEMA:
        raise ValueError(f"unknown structured output style {style!r}; use one of {STYLES}")
    name = _NAME_OK.sub("_", str(schema.get("title") or "answer"))[:64] or "answer"
    return {
        "type": JSON_SCHEMA,
        "json_schema": {
            "name": name,
            "strict": is_strict_compatible(schema),
            "schema": dict(schema),
        },
    }


def answer_problem(text: str | None, schema: Mapping[str, Any]) -> str | None:
    """Why `text` is not a JSON value matching `schema` (None if it is)."""
    if text is None:
        return "the model gave no answer text"
    try:
        value = json.loads(text)
    except json.JSONDecodeError as err:
        return f"answer is not valid JSON: {err.msg} at character {err.pos}"
    except RecursionError:
        return "answer is nested too deeply to check"
    validator = _validator(json.dumps(dict(schema), sort_keys=True))
    try:
        error = best_match(validator.iter_errors(value))
    except Unresolvable as err:
        return f"the schema has a reference that does not resolve inside it: {err}"
    except RecursionError:  # parse_schema refuses $ref cycles; this is the last line
        return "the schema recurses without end on this answer; remove the $ref cycle"
    if error is None:
        return None
    return f"answer does not match the schema: {_where(error.json_path)}{_short(error.message)}"


def _where(json_path: str) -> str:
    return f"{json_path}: "


def _short(message: str, limit: int = 300) -> str:
    return message if len(message) <= limit else message[:limit] + "..."
