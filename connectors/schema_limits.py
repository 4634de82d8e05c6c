"""Bounds on a per-row JSON schema, checked before the paid call.

A schema is row data, and jsonschema trusts it: a `pattern` such as `^(a+)+$` makes `re`
backtrack for hours on a 30-character answer (Python's `re` has no timeout), and a `$ref` cycle
that never descends into the instance (`{"$ref": "#"}` at the root, two definitions referring
to each other) recurses until RecursionError. Both would be found only after the call was paid
for, and would stall or fail the row with "report this". These checks refuse such schemas up
front with an error that says what to change.

The regex check is a static one on the parsed pattern: an unbounded repeat that contains
another repeat (`(a+)+`, `(a*b?)*`, `(\\w+\\s?)*`) is refused. That is the shape of
catastrophic backtracking; alternations of overlapping branches (`(a|aa)+`) are rarer and
left to the answer-length bound (max-tokens).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

# The standard library's own regex parser (re._parser since 3.11): the tree it gives is the
# one `re` compiles, so the check sees exactly what jsonschema will run.
from re import _parser as sre_parse  # type: ignore[attr-defined]
from typing import Any

from .errors import InputError

# Keywords whose subschemas apply to the same instance (no descent into the data).
_SAME_INSTANCE_LISTS = ("allOf", "anyOf", "oneOf")
_SAME_INSTANCE_ONE = ("not", "if", "then", "else")
_REPEATS = (sre_parse.MAX_REPEAT, sre_parse.MIN_REPEAT, getattr(sre_parse, "POSSESSIVE_REPEAT", 0))
# Patterns longer than this are refused outright: a schema is a contract, not a data file.
MAX_PATTERN_CHARS = 1000


def check_schema_bounds(schema: dict[str, Any]) -> None:
    """InputError if the schema has a catastrophic pattern or a `$ref` cycle."""
    for where, pattern in _patterns(schema, "#"):
        problem = pattern_problem(pattern)
        if problem is not None:
            raise InputError(f"json_schema {where}: {problem}")
    cycle = _ref_cycle(schema)
    if cycle is not None:
        raise InputError(
            f"json_schema has a $ref cycle that never reaches the answer's data ({cycle}); "
            "a recursive schema must recurse through properties or items"
        )


def pattern_problem(pattern: Any) -> str | None:
    """Why `pattern` cannot be used to validate an answer in bounded time (None if it can)."""
    if not isinstance(pattern, str):
        return None  # the meta-schema check reports the type
    if len(pattern) > MAX_PATTERN_CHARS:
        return f"pattern is longer than {MAX_PATTERN_CHARS} characters; shorten it"
    try:
        parsed = sre_parse.parse(pattern)
    except (re.error, RecursionError, OverflowError) as err:
        return f"pattern {pattern[:80]!r} is not a valid regular expression ({err})"
    if _nested_unbounded(list(parsed), inside_unbounded=False):
        return (
            f"pattern {pattern[:80]!r} nests a repeat inside an unbounded repeat (like "
            "(a+)+), which can take hours to check; write it without the nesting, e.g. a+"
        )
    return None


def _nested_unbounded(items: list[Any], inside_unbounded: bool) -> bool:
    for op, arg in items:
        if op in _REPEATS:
            _low, high, sub = arg
            if inside_unbounded and high > 1:
                return True
            if _nested_unbounded(list(sub), inside_unbounded or high == sre_parse.MAXREPEAT):
                return True
            continue
        if op == sre_parse.SUBPATTERN:
            subs = [list(arg[-1])]
        elif op == sre_parse.BRANCH:
            subs = [list(b) for b in arg[1]]
        elif op in (sre_parse.ASSERT, sre_parse.ASSERT_NOT):
            subs = [list(arg[1])]
        else:
            continue
        if any(_nested_unbounded(sub, inside_unbounded) for sub in subs):
            return True
    return False


def _patterns(node: Any, where: str) -> Iterator[tuple[str, Any]]:
    """(location, pattern) of every `pattern` and `patternProperties` key in the schema."""
    stack = [(node, where)]
    while stack:
        current, at = stack.pop()
        if isinstance(current, dict):
            for key, value in current.items():
                if key == "pattern" and isinstance(value, str):
                    yield f"{at}/pattern", value
                elif key == "patternProperties" and isinstance(value, dict):
                    for regex, sub in value.items():
                        yield f"{at}/patternProperties", regex
                        stack.append((sub, f"{at}/patternProperties"))
                else:
                    stack.append((value, f"{at}/{key}"))
        elif isinstance(current, list):
            stack.extend((v, f"{at}/{i}") for i, v in enumerate(current))


def _resolve(root: Any, ref: str) -> Any:
    """The node a local `$ref` (`#`, `#/$defs/a`) points at, or None."""
    if ref == "#":
        return root
    if not ref.startswith("#/"):
        return None  # anchors and remote refs: parse_schema refuses remote ones
    node = root
    for raw in ref[2:].split("/"):
        part = raw.replace("~1", "/").replace("~0", "~")
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return None
    return node


def _same_instance(node: Any, root: Any) -> Iterator[Any]:
    """The subschemas that validate the same instance as `node` does."""
    if not isinstance(node, dict):
        return
    ref = node.get("$ref")
    if isinstance(ref, str):
        target = _resolve(root, ref)
        if target is not None:
            yield target
    for key in _SAME_INSTANCE_LISTS:
        subs = node.get(key)
        if isinstance(subs, list):  # elsewhere a property may be *named* allOf
            yield from subs
    for key in _SAME_INSTANCE_ONE:
        if key in node:
            yield node[key]
    dependent = node.get("dependentSchemas")
    if isinstance(dependent, dict):
        yield from dependent.values()


def _ref_cycle(root: Any) -> str | None:
    """A path around a cycle of same-instance subschemas through a `$ref`, if there is one.

    Iterative depth-first search (a deep schema must not hit the recursion limit here either),
    over every subschema reachable in the document."""
    state: dict[int, int] = {}  # id -> 1 on the current path, 2 done
    everything: list[Any] = []
    stack: list[Any] = [root]
    while stack:  # every dict in the schema is a possible start
        node = stack.pop()
        if isinstance(node, dict):
            everything.append(node)
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    for start in everything:
        if state.get(id(start)):
            continue
        path: list[tuple[Any, Iterator[Any]]] = [(start, _same_instance(start, root))]
        state[id(start)] = 1
        while path:
            node, children = path[-1]
            child = next(children, None)
            if child is None:
                state[id(node)] = 2
                path.pop()
                continue
            if not isinstance(child, dict):
                continue
            seen = state.get(id(child))
            if seen == 1:
                refs = [n.get("$ref") for n, _ in path if isinstance(n.get("$ref"), str)]
                return " -> ".join(refs[-4:]) or "$ref"
            if seen is None:
                state[id(child)] = 1
                path.append((child, _same_instance(child, root)))
    return None
