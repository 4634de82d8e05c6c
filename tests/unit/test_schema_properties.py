"""Per-row JSON schemas are row data: a catastrophic pattern or a $ref cycle is refused before
the paid call, and any schema/answer pair ends as a verdict, never an exception."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flink_rag.connectors.errors import InputError
from flink_rag.connectors.schema_limits import pattern_problem
from flink_rag.connectors.structured_output import answer_problem, parse_schema

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    "pattern", [r"^(a+)+$", r"(a*)*b", r"^(\w+\s?)*$", r"((ab)*c)+", r"(?:x+y?)+"]
)
def test_a_catastrophic_pattern_is_refused_before_the_call(pattern):
    schema = {"type": "object", "properties": {"name": {"type": "string", "pattern": pattern}}}
    with pytest.raises(InputError, match="nests a repeat"):
        parse_schema(json.dumps(schema))
    with pytest.raises(InputError, match="nests a repeat"):
        parse_schema({"type": "object", "patternProperties": {pattern: {"type": "string"}}})


@pytest.mark.parametrize("pattern", [r"^[A-Z]{2}[0-9]{1,4}$", r"^(ab)+$", r"(a|b)*c", r"\d+"])
def test_ordinary_patterns_pass(pattern):
    parse_schema({"type": "string", "pattern": pattern})


@pytest.mark.parametrize(
    "schema",
    [
        {"$ref": "#"},
        {"allOf": [{"$ref": "#"}]},
        {"$defs": {"a": {"$ref": "#/$defs/b"}, "b": {"$ref": "#/$defs/a"}}, "$ref": "#/$defs/a"},
        {
            "$defs": {"a": {"anyOf": [{"$ref": "#/$defs/a"}]}},
            "properties": {"x": {"$ref": "#/$defs/a"}},
        },
        {"$defs": {"a": {"not": {"$ref": "#/$defs/a"}}}},
    ],
)
def test_a_ref_cycle_is_refused_before_the_call(schema):
    with pytest.raises(InputError, match=r"\$ref cycle"):
        parse_schema(schema)


def test_a_recursive_schema_through_properties_is_fine():
    tree = {
        "$defs": {
            "node": {
                "type": "object",
                "properties": {"kids": {"type": "array", "items": {"$ref": "#/$defs/node"}}},
            }
        },
        "$ref": "#/$defs/node",
    }
    schema = parse_schema(tree)
    assert answer_problem('{"kids": [{"kids": []}]}', schema) is None
    assert "does not match" in answer_problem('{"kids": [1]}', schema)


schema_keys = st.sampled_from(
    ["type", "properties", "items", "allOf", "anyOf", "oneOf", "not", "$ref", "$defs",
     "pattern", "required", "enum", "const", "minLength", "additionalProperties", "if", "then"]
)  # fmt: skip
values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-3, 3)
    | st.sampled_from(["#", "#/$defs/a", "#/properties/x", "string", "object", "(a+)+", "^x$"]),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(schema_keys | st.sampled_from(["a", "x"]), inner, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=200, deadline=None)
@given(values, values)
def test_every_schema_and_answer_end_as_a_verdict(schema, answer):
    try:
        parsed = parse_schema(json.dumps(schema))
    except InputError as err:
        assert "report this" not in str(err)
        return
    verdict = answer_problem(json.dumps(answer), parsed)
    assert verdict is None or isinstance(verdict, str)


@settings(max_examples=150, deadline=None)
@given(st.text(alphabet="()[]{}*+?|^$\\a1,.-:", max_size=20))
def test_every_pattern_gets_a_verdict(pattern):
    problem = pattern_problem(pattern)
    assert problem is None or isinstance(problem, str)
