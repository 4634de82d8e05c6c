"""response_format building and validation of answers against a JSON schema."""

import json

import pytest

from flink_rag.connectors.errors import InputError
from flink_rag.connectors.structured_output import (
    answer_problem,
    is_strict_compatible,
    parse_schema,
    response_format,
)

pytestmark = pytest.mark.unit

CHOICE = {
    "type": "object",
    "properties": {
        "flight_id": {"type": "string", "enum": ["UA1", "UA2"]},
        "reason": {"type": "string"},
        "seats": {"type": "array", "items": {"type": "integer", "minimum": 1}},
    },
    "required": ["flight_id", "reason", "seats"],
    "additionalProperties": False,
}


def test_parse_schema_accepts_json_text_and_dicts():
    assert parse_schema(json.dumps(CHOICE)) == CHOICE
    assert parse_schema(CHOICE) == CHOICE


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("{not json", "json_schema is not valid JSON"),
        ("[1, 2]", "must be a JSON object"),
        ('{"type": "no-such-type"}', "not a valid JSON Schema"),
        ('{"properties": {"a": {"minimum": "one"}}}', "not a valid JSON Schema"),
    ],
)
def test_bad_schemas_are_input_errors(raw, message):
    with pytest.raises(InputError, match=message):
        parse_schema(raw)


def test_json_schema_style_uses_strict_when_openai_would_accept_it():
    fmt = response_format(CHOICE)
    assert fmt["type"] == "json_schema"
    assert fmt["json_schema"] == {"name": "answer", "strict": True, "schema": CHOICE}


def test_strict_is_off_for_schemas_strict_mode_rejects():
    open_schema = {"type": "object", "properties": {"a": {"type": "string"}}}
    assert is_strict_compatible(open_schema) is False
    assert response_format(open_schema)["json_schema"]["strict"] is False
    nested = json.loads(json.dumps(CHOICE))
    nested["properties"]["inner"] = {"type": "object", "properties": {"x": {"type": "string"}}}
    nested["required"].append("inner")
    assert is_strict_compatible(nested) is False


def test_schema_title_becomes_a_safe_name():
    fmt = response_format({**CHOICE, "title": "Rebooking choice!"})
    assert fmt["json_schema"]["name"] == "Rebooking_choice_"


def test_json_object_style_for_llama_cpp():
    assert response_format(CHOICE, "json_object") == {"type": "json_object", "schema": CHOICE}
    with pytest.raises(ValueError):
        response_format(CHOICE, "xml")


def test_a_valid_answer_has_no_problem():
    answer = '{"flight_id": "UA2", "reason": "earliest", "seats": [1, 2]}'
    assert answer_problem(answer, CHOICE) is None


@pytest.mark.parametrize(
    ("answer", "problem"),
    [
        ('{"flight_id": "UA2", "reason": "x"', "answer is not valid JSON: "),
        ("Sure! Here is", "answer is not valid JSON: "),
        (
            '{"flight_id": "XX9", "reason": "x", "seats": []}',
            "answer does not match the schema: $.flight_id: 'XX9' is not one of",
        ),
        (
            '{"flight_id": "UA1", "reason": "x", "seats": [0]}',
            "answer does not match the schema: $.seats[0]: 0 is less than the minimum of 1",
        ),
        (
            '{"flight_id": "UA1", "seats": []}',
            "answer does not match the schema: $: 'reason' is a required property",
        ),
    ],
)
def test_invalid_answers_say_where(answer, problem):
    assert answer_problem(answer, CHOICE).startswith(problem)


def test_no_text_is_a_problem():
    assert answer_problem(None, CHOICE) == "the model gave no answer text"


def test_a_remote_ref_is_refused_without_fetching():
    schema = {"type": "object", "properties": {"a": {"$ref": "http://127.0.0.1:9/x.json"}}}
    with pytest.raises(InputError, match="only references inside the schema"):
        parse_schema(schema)


def test_a_local_ref_resolves_and_a_missing_one_is_an_answer_problem():
    schema = {"$defs": {"n": {"type": "integer"}}, "properties": {"a": {"$ref": "#/$defs/n"}}}
    assert answer_problem('{"a": 1}', parse_schema(schema)) is None
    assert "not of type 'integer'" in answer_problem('{"a": "x"}', schema)
    broken = {"properties": {"a": {"$ref": "#/$defs/missing"}}}
    assert "does not resolve" in answer_problem('{"a": 1}', broken)
