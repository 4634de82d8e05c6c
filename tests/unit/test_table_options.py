"""Per-run table options reach the queries as Flink dynamic table options, never as text of
their own: each `FROM t` / `JOIN t` outside string literals gets one hint, values stay inside
their literals, and options for a table nothing reads are refused (they would be lost)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from flink_rag.airline import rebooking
from flink_rag.connectors.errors import ConfigError
from flink_rag.sql import files as sql_files

pytestmark = pytest.mark.unit


def test_every_read_of_the_table_gets_the_hint_and_nothing_else_changes():
    statements = [
        "CREATE TEMPORARY VIEW v AS SELECT * FROM ev WHERE x = 'FROM ev'",
        "SELECT a FROM other JOIN ev AS e ON TRUE",
        "CREATE TEMPORARY TABLE ev2 WITH ('topic' = 't') LIKE ev",
        "SELECT 1 FROM events",  # another table whose name starts alike
    ]
    out = sql_files.with_table_options(statements, {"ev": {"scan.startup.mode": "latest-offset"}})
    hint = "/*+ OPTIONS('scan.startup.mode' = 'latest-offset') */"
    assert out == [
        f"CREATE TEMPORARY VIEW v AS SELECT * FROM ev {hint} WHERE x = 'FROM ev'",
        f"SELECT a FROM other JOIN ev {hint} AS e ON TRUE",
        statements[2],
        statements[3],
    ]


def test_a_table_no_statement_reads_is_refused_with_what_to_do():
    with pytest.raises(ConfigError, match=r"no statement reads table 'evnts'.*FROM"):
        sql_files.with_table_options(["SELECT * FROM ev"], {"evnts": {"a": "b"}})


@pytest.mark.parametrize(
    ("table", "options"),
    [
        ("ev; DROP TABLE x", {"a": "b"}),
        ("ev", {"a') */ SELECT 1 --": "b"}),
        ("ev", {}),
    ],
)
def test_names_that_are_not_identifiers_or_option_keys_are_refused(table, options):
    with pytest.raises(ConfigError):
        sql_files.with_table_options([f"SELECT * FROM {table}"], {table: options})


@given(st.text(max_size=40))
def test_a_value_stays_inside_its_literal(value):
    """Whatever a command line passes (a group id with quotes, comment markers or `*/`), the
    statement keeps its shape: one hint, and the value whole inside one literal."""
    (out,) = sql_files.with_table_options(
        ["SELECT * FROM ev"], {"ev": {"properties.group.id": value}}
    )
    literal = "'" + value.replace("'", "''") + "'"
    assert out == f"SELECT * FROM ev /*+ OPTIONS('properties.group.id' = {literal}) */"
    assert sql_files.split_statements(out + ";") == [out]


def test_rebooking_run_options_go_to_the_event_source_only():
    params = rebooking.sql_params(
        "k:9",
        group_id="g1",
        events_startup_mode="timestamp",
        events_startup_timestamp=1700000000000,
    )
    statements = sql_files.statements(rebooking.SQL_FILE, params)
    hinted = [s for s in statements if "/*+ OPTIONS(" in s]
    assert len(hinted) == 1 and hinted[0].startswith("CREATE TEMPORARY VIEW parsed_events")
    assert (
        "FROM flight_events_raw /*+ OPTIONS('properties.group.id' = 'g1', "
        "'scan.startup.mode' = 'timestamp', 'scan.startup.timestamp-millis' = '1700000000000') */"
    ) in hinted[0]
    assert not any("${" in s for s in statements)


def test_without_run_options_the_statements_are_the_files_as_shipped():
    params = rebooking.sql_params("k:9")
    assert sql_files.TABLE_OPTIONS not in params
    statements = sql_files.statements(rebooking.SQL_FILE, params)
    shapes = sql_files.split_statements(sql_files.render(sql_files.read(sql_files.SHAPES), params))
    own = sql_files.split_statements(sql_files.render(sql_files.read(rebooking.SQL_FILE), params))
    assert statements == [*shapes, *own]


@pytest.mark.parametrize(
    "name", ["rebooking.sql", "ingest_flights.sql", "ingest_policies.sql", "ingest_documents.sql"]
)
def test_each_pipeline_derives_its_kafka_tables_from_the_shapes(name):
    """No pipeline file writes a connector, an address or a format of its own: one shape each."""
    text = sql_files.read(name)
    for own in ("'connector'", "'properties.bootstrap.servers'", "'key.format'", "'format'"):
        assert own not in text, (name, own)
    creates = text.count("CREATE TEMPORARY TABLE")
    shapes = ("LIKE kafka_records", "LIKE kafka_upsert_json", "LIKE kafka_vectors")
    assert creates == sum(text.count(shape) for shape in shapes)
