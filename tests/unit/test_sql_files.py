"""Pipeline SQL files: placeholders, statement splitting, SET parsing, store profiles."""

from __future__ import annotations

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from flink_rag.airline import dataset, ingestion, rebooking
from flink_rag.airline.checks import (
    alternatives,
    pick_flight,
    reason_problem,
    recommendation_problems,
)
from flink_rag.connectors.errors import ConfigError
from flink_rag.sql import files as sql_files

pytestmark = pytest.mark.unit


def test_split_keeps_literals_and_statement_sets_whole():
    text = """
    -- a comment; with a semicolon
    SET 'a.b' = 'x;y';
    CREATE VIEW v AS SELECT 'it''s; fine' AS s;
    EXECUTE STATEMENT SET
    BEGIN
    INSERT INTO t SELECT 1;
    INSERT INTO u SELECT 2;
    END;
    """
    statements = sql_files.split_statements(text)
    assert statements[0] == "SET 'a.b' = 'x;y'"
    assert statements[1] == "CREATE VIEW v AS SELECT 'it''s; fine' AS s"
    assert statements[2].startswith("EXECUTE STATEMENT SET")
    assert statements[2].endswith("END")
    assert "INSERT INTO u SELECT 2;" in statements[2]
    assert len(statements) == 3


def test_unterminated_literal_is_an_error():
    with pytest.raises(ConfigError, match="unterminated"):
        sql_files.split_statements("SELECT 'oops")


def test_parse_set():
    assert sql_files.parse_set("SET 'k.x' = 'it''s'") == ("k.x", "it's")
    assert sql_files.parse_set("SELECT 1") is None


def test_render_requires_every_placeholder():
    assert sql_files.render("a ${X} b", {"X": 1}) == "a 1 b"
    with pytest.raises(ConfigError, match="Y"):
        sql_files.render("${X} ${Y}", {"X": 1})


@pytest.mark.parametrize(
    ("name", "params"),
    [
        ("rebooking.sql", rebooking.sql_params("k:9092", group_id="g")),
        ("ingest_flights.sql", ingestion.sql_params("flights", "k:9092")),
        ("ingest_policies.sql", ingestion.sql_params("policies", "k:9092")),
    ],
)
def test_every_pipeline_file_renders_with_its_params(name, params):
    text = sql_files.read(name)
    assert sql_files.placeholders(text) <= set(params)
    statements = sql_files.statements(name, params)
    assert not any("${" in s for s in statements)
    kinds = {"SET", "CREATE", "SELECT", "EXECUTE", "INSERT"}
    assert all(s.split()[0].upper() in kinds for s in statements)


HOSTILE = "x'); DROP TABLE bookings; SET 'a' = 'b"


@pytest.mark.parametrize(
    "name", ["rebooking.sql", "ingest_flights.sql", "ingest_policies.sql", "ingest_documents.sql"]
)
def test_a_quote_in_a_value_stays_inside_its_literal(name):
    """Job names, group ids and topics come from command lines: a value with a quote must
    neither end its string literal nor add a statement, wherever the file uses it."""
    text = sql_files.read(name)
    plain = sql_files.split_statements(
        sql_files.render(text, dict.fromkeys(sql_files.placeholders(text), "v"))
    )
    hostile = sql_files.split_statements(
        sql_files.render(text, dict.fromkeys(sql_files.placeholders(text), HOSTILE))
    )
    assert len(hostile) == len(plain)
    for a, b in zip(plain, hostile, strict=True):
        assert a.split()[:2] == b.split()[:2]  # same kind of statement, same object
        # Unquoting the hostile statement's literals gives back the value, whole.
        if "v" in a and "DROP" in b:
            assert HOSTILE.replace("'", "''") in b


def test_the_sql_client_job_name_is_quoted():
    from flink_rag.jobs.sql_client import render_script

    script = render_script(
        "rebooking.sql", rebooking.sql_params("k:9092", group_id="g"), job_name="it's mine"
    )
    assert script.startswith("SET 'pipeline.name' = 'it''s mine';\n")
    statements = sql_files.split_statements(script)
    assert sql_files.parse_set(statements[0]) == ("pipeline.name", "it's mine")


@given(st.from_regex(r"[a-z][a-z0-9._-]{0,30}", fullmatch=True), st.text(max_size=40))
def test_the_sql_client_settings_are_set_first_and_quoted(key: str, value: str):
    # Keys are Flink's (dotted words); a value is any text and comes back whole.
    from flink_rag.jobs.sql_client import render_script

    assume("\x00" not in key + value)
    script = render_script(
        "rebooking.sql",
        rebooking.sql_params("k:9092", group_id="g"),
        job_name="j",
        settings={key: value, "python.fn-execution.bundle.size": "1"},
    )
    statements = sql_files.split_statements(script)
    sets = [sql_files.parse_set(s) for s in statements[:3]]
    assert sets[0] == ("pipeline.name", "j")
    assert sets[1:] == [(key, value), ("python.fn-execution.bundle.size", "1")] or (
        key == "python.fn-execution.bundle.size" and sets[1] == (key, "1")
    )


def test_store_profiles_match_between_ingestion_and_rebooking():
    rebooking_sets = {
        kv[0].removeprefix("pipeline.global-job-parameters."): kv[1]
        for s in sql_files.split_statements(sql_files.read("rebooking.sql"))
        if (kv := sql_files.parse_set(s))
    }
    for kind in ("flights", "policies"):
        settings = ingestion.store_settings(kind, env={})
        declared = rebooking_sets[f"flink-rag.store.{kind}.filter-fields"]
        assert settings.filter_fields == tuple(declared.split(","))
        assert settings.collection == kind
    assert "departure_ts" in ingestion.store_settings("flights", env={}).filter_fields


def test_sql_client_script_sets_options_one_key_each_and_keeps_statements():
    script = sql_files.for_sql_client(
        ["CREATE VIEW v AS SELECT 1", "SET 'a.b' = 'c'"],
        {"flink-rag.llm.base-url": "http://h:1/v1", "flink-rag.llm.model": "it's"},
    )
    assert script.splitlines() == [
        "SET 'pipeline.global-job-parameters.flink-rag.llm.base-url' = 'http://h:1/v1';",
        "SET 'pipeline.global-job-parameters.flink-rag.llm.model' = 'it''s';",
        "CREATE VIEW v AS SELECT 1;",
        "SET 'a.b' = 'c';",
    ]


def test_no_shipped_sql_sets_an_option_the_udfs_cannot_see():
    for name in (
        "functions.sql",
        "rebooking.sql",
        "ingest_flights.sql",
        "ingest_policies.sql",
        "ingest_documents.sql",
    ):
        for statement in sql_files.split_statements(sql_files.read(name)):
            kv = sql_files.parse_set(statement)
            if kv:
                assert not kv[0].startswith("flink-rag."), (name, kv)
                assert kv[0] != "pipeline.global-job-parameters", (name, kv)


def test_grounded_check_on_sample_data():
    data = dataset.generate(seed=4, bookings_per_flight=2, days=2)
    flight = pick_flight(data)
    booking = data.bookings_on(flight["flight_id"])[0]
    good = alternatives(data, flight, booking["cabin"])[0]
    rec = {
        "booking_id": booking["booking_id"],
        "recommended_flight_id": good["flight_id"],
        "candidates": [good["flight_id"]],
        "citations": ["rebooking#order-of-preference#0"],
        "provenance": {"ids": ["rebooking#order-of-preference#0", "loyalty#gold#0"]},
    }
    assert recommendation_problems(rec, data) == []
    assert recommendation_problems({**rec, "candidates": []}, data) == [
        "recommended flight was not among the retrieved candidates"
    ]
    earlier = {
        **rec,
        "recommended_flight_id": flight["flight_id"],
        "candidates": [flight["flight_id"]],
    }
    assert recommendation_problems(earlier, data) == [
        "recommended flight does not depart later than the disrupted one"
    ]
    uncited = "the answer cites no policy passage, or one not retrieved for this passenger"
    forged = ["rebooking#order-of-preference#0", "compensation#amounts-by-distance#0"]
    for bad in (
        {**rec, "citations": forged},  # one real passage this passenger's lookup did not find
        {**rec, "citations": ["loyalty#gold#0]"]},  # a label-like forgery
        {**rec, "citations": []},
        {**rec, "citations": None},
        {**rec, "provenance": None},  # nothing retrieved: nothing can be cited
    ):
        assert recommendation_problems(bad, data) == [uncited]
    other_route = next(f for f in data.flights if f["origin"] != flight["origin"])
    assert "route" in " ".join(
        recommendation_problems({**rec, "recommended_flight_id": other_route["flight_id"]}, data)
    )


def test_reason_must_be_the_built_sentence():
    sentence = "Rebook on XY12 (AMS to LHR, departs 2026-12-06 14:05, 3 economy seats left): "
    good = {"recommended_flight_id": "XY12", "reason": sentence + rebooking.REASONS["seat"] + "."}
    assert reason_problem(good) is None
    for bad in (
        None,
        "",
        "SILVER, SALVADOR, LINCOLN, GOLD, SIGNIFICANT, SIGNIFICANT",
        sentence + "free text the model wrote.",
        sentence + "seat.",  # the code, not its words
        sentence + rebooking.REASONS["seat"],  # cut before the full stop
        sentence.replace("XY12", "XY13") + rebooking.REASONS["seat"] + ".",  # another flight
    ):
        assert reason_problem({**good, "reason": bad}) is not None, bad


def test_sql_client_script_keeps_the_files_statements_unchanged():
    parts = sql_files.statements("rebooking.sql", rebooking.sql_params("k:9092", group_id="g"))
    script = sql_files.for_sql_client(parts, {"flink-rag.llm.model": "smollm2"})
    statements = sql_files.split_statements(script)
    assert statements[0] == "SET 'pipeline.global-job-parameters.flink-rag.llm.model' = 'smollm2'"
    assert statements[1:] == parts
    assert statements[-1].startswith("EXECUTE STATEMENT SET")
