"""Filter parsing and validation against the rules of $vectorSearch."""

from __future__ import annotations

import datetime as dt

import pytest
from bson import ObjectId

from flink_rag.connectors.errors import FilterError, InputError
from flink_rag.connectors.vector_filters import (
    SUPPORTED_OPERATORS,
    coerce_filter,
    filter_fields,
    parse_filter,
    validate_filter,
)

pytestmark = pytest.mark.unit

FIELDS = ("carrier", "origin", "seats", "departure", "flight_id", "tags.kind")


def check(text: str) -> dict | None:
    return validate_filter(parse_filter(text), FIELDS, store="flights")


@pytest.mark.parametrize("text", [None, "", "   ", "null", "{}"])
def test_no_filter_is_none(text):
    assert parse_filter(text) is None


def test_parse_plain_object():
    assert parse_filter('{"carrier": "LH", "seats": {"$gte": 2}}') == {
        "carrier": "LH",
        "seats": {"$gte": 2},
    }


def test_bad_json_names_the_position():
    with pytest.raises(FilterError) as err:
        parse_filter('{"carrier": "LH",, "x": 1}')
    message = str(err.value)
    assert "line 1 column 18" in message
    assert "character 17" in message
    assert "JSON_OBJECT" in message


def test_single_quotes_get_a_hint():
    with pytest.raises(FilterError, match="double quotes"):
        parse_filter("{'carrier': 'LH'}")


@pytest.mark.parametrize("text", ["[1, 2]", '"LH"', "42", "true"])
def test_non_object_is_rejected(text):
    with pytest.raises(FilterError, match="must be a JSON object"):
        parse_filter(text)


def test_duplicate_keys_are_rejected():
    with pytest.raises(FilterError, match="duplicate key"):
        parse_filter('{"carrier": "LH", "carrier": "BA"}')


def test_filter_error_is_an_input_error():
    assert issubclass(FilterError, InputError)


def test_date_extended_json_iso_with_zone():
    parsed = parse_filter('{"departure": {"$gte": {"$date": "2024-05-01T10:00:00Z"}}}')
    assert parsed == {"departure": {"$gte": dt.datetime(2024, 5, 1, 10, 0, tzinfo=dt.UTC)}}


def test_date_in_flink_timestamp_format_is_utc():
    parsed = parse_filter('{"departure": {"$lt": {"$date": "2024-05-01 10:00:00.250"}}}')
    assert parsed["departure"]["$lt"] == dt.datetime(2024, 5, 1, 10, 0, 0, 250000, tzinfo=dt.UTC)


def test_date_with_offset_is_converted_to_utc():
    parsed = parse_filter('{"departure": {"$date": "2024-05-01T12:00:00+02:00"}}')
    assert parsed["departure"] == dt.datetime(2024, 5, 1, 10, 0, tzinfo=dt.UTC)


def test_bad_date_is_a_filter_error():
    with pytest.raises(FilterError, match="ISO-8601"):
        parse_filter('{"departure": {"$date": "yesterday"}}')


def test_object_id_extended_json():
    parsed = parse_filter('{"flight_id": {"$oid": "5f1d7f0c2a5e4b3c9d8e7f60"}}')
    assert parsed == {"flight_id": ObjectId("5f1d7f0c2a5e4b3c9d8e7f60")}
    assert check('{"flight_id": {"$oid": "5f1d7f0c2a5e4b3c9d8e7f60"}}') is not None


def test_bad_object_id_is_a_filter_error():
    with pytest.raises(FilterError, match="ObjectId"):
        parse_filter('{"flight_id": {"$oid": "nope"}}')


@pytest.mark.parametrize(
    "text",
    [
        '{"carrier": {"$eq": "LH"}}',
        '{"carrier": {"$ne": "LH"}}',
        '{"seats": {"$gt": 1}}',
        '{"seats": {"$lt": 9.5}}',
        '{"seats": {"$gte": 2}}',
        '{"seats": {"$lte": 2}}',
        '{"carrier": {"$in": ["LH", "BA"]}}',
        '{"carrier": {"$nin": ["LH"]}}',
        '{"carrier": {"$exists": true}}',
        '{"seats": {"$not": {"$gt": 3}}}',
        '{"$and": [{"carrier": "LH"}, {"seats": {"$gte": 1}}]}',
        '{"$or": [{"carrier": "LH"}, {"origin": "FRA"}]}',
        '{"$nor": [{"carrier": "LH"}]}',
    ],
)
def test_every_supported_operator_is_accepted(text):
    parsed = parse_filter(text)
    assert validate_filter(parsed, FIELDS) == parsed


def test_the_operator_list_is_the_documented_one():
    assert set(SUPPORTED_OPERATORS) == {
        "$eq", "$ne", "$gt", "$lt", "$gte", "$lte", "$in", "$nin",
        "$exists", "$and", "$or", "$not", "$nor",
    }  # fmt: skip


def test_implicit_equality_and_value_types():
    text = (
        '{"carrier": "LH", "seats": 2, "origin": null, "flight_id": true,'
        ' "departure": {"$date": "2024-05-01T00:00:00Z"}}'
    )
    assert check(text)["carrier"] == "LH"


def test_nested_logic_is_accepted():
    text = '{"$or": [{"$and": [{"carrier": "LH"}, {"seats": {"$gt": 0}}]}, {"origin": "MUC"}]}'
    assert check(text) is not None


def test_dotted_declared_field_is_accepted():
    assert check('{"tags.kind": "window"}') == {"tags.kind": "window"}


@pytest.mark.parametrize(
    ("text", "operator"),
    [
        ('{"carrier": {"$regex": "^L"}}', "$regex"),
        ('{"seats": {"$mod": [2, 0]}}', "$mod"),
        ('{"carrier": {"$elemMatch": {"$eq": "LH"}}}', "$elemMatch"),
        ('{"$where": "this.seats > 1"}', "$where"),
        ('{"$text": {"$search": "x"}}', "$text"),
        ('{"$expr": {"$gt": ["$seats", 1]}}', "$expr"),
        ('{"carrier": {"$size": 1}}', "$size"),
    ],
)
def test_unknown_operator_is_rejected(text, operator):
    with pytest.raises(FilterError, match=rf"\{operator}"):
        check(text)


def test_field_operator_at_top_level_is_rejected():
    with pytest.raises(FilterError, match="must be used on a field"):
        check('{"$in": ["LH"]}')


def test_undeclared_field_names_field_and_fix():
    with pytest.raises(FilterError) as err:
        check('{"carrier": "LH", "price": {"$lt": 100}}')
    message = str(err.value)
    assert "'price'" in message
    assert "flink-rag.store.flights.filter-fields" in message
    assert "flink-rag index create --store flights" in message


def test_undeclared_field_inside_logic_is_rejected():
    with pytest.raises(FilterError, match="'price'"):
        check('{"$or": [{"carrier": "LH"}, {"price": 5}]}')


def test_no_declared_fields_rejects_any_filter():
    with pytest.raises(FilterError, match=r"declared: none"):
        validate_filter({"carrier": "LH"}, ())


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ('{"carrier": {"$in": "LH"}}', "takes an array"),
        ('{"carrier": {"$exists": 1}}', "true or false"),
        ('{"seats": {"$not": 3}}', "$not takes an operator object"),
        ('{"$and": []}', "non-empty array"),
        ('{"$or": {"carrier": "LH"}}', "non-empty array"),
        ('{"$and": ["carrier"]}', "must be a JSON object"),
        ('{"carrier": ["LH", "BA"]}', "use $in/$nin"),
        ('{"carrier": {"code": "LH"}}', "not supported"),
        ('{"seats": {"$gt": null}}', "cannot compare with null"),
        ('{"seats": {"$gt": 1e999}}', "finite"),
        ('{"seats": {"$gt": NaN}}', "finite"),
        ('{"seats": 99999999999999999999}', "64-bit"),
        ('{"carrier": {"$in": [["LH"]]}}', "cannot take an array"),
        ('{"$and": [{}]}', "empty clause"),
    ],
)
def test_bad_values_are_rejected(text, fragment):
    with pytest.raises(FilterError) as err:
        check(text)
    assert fragment in str(err.value)


def test_too_deep_nesting_is_rejected():
    text = '{"carrier": "LH"}'
    for _ in range(20):
        text = '{"$and": [' + text + "]}"
    with pytest.raises(FilterError, match="nested too deeply"):
        check(text)


def test_coerce_accepts_mapping_and_text():
    assert coerce_filter({"carrier": "LH"}) == {"carrier": "LH"}
    assert coerce_filter('{"carrier": "LH"}') == {"carrier": "LH"}
    assert coerce_filter({}) is None
    with pytest.raises(FilterError):
        coerce_filter(42)  # type: ignore[arg-type]


def test_filter_fields_lists_referenced_paths():
    parsed = parse_filter('{"$or": [{"carrier": "LH"}, {"seats": {"$gt": 1}}], "origin": "FRA"}')
    assert filter_fields(parsed) == {"carrier", "seats", "origin"}
