"""The constants in sql/rebooking.sql are literals (the file runs under the stock SQL client
with only addresses and topics filled in); each must equal the Python constant that
documents it and that the demo, bench and tests rely on."""

from __future__ import annotations

import re

import pytest

from flink_rag.airline import rebooking
from flink_rag.sql import files as sql_files

pytestmark = pytest.mark.unit

# Placeholders left in the file: its topics; the Kafka address is in the shapes it derives from.
ALLOWED = set(rebooking.TOPICS)


@pytest.fixture(scope="module")
def sql() -> str:
    return sql_files.read(rebooking.SQL_FILE)


def _only(pattern: str, text: str) -> list[str]:
    found = re.findall(pattern, text, re.DOTALL)
    assert found, f"pattern {pattern!r} no longer matches sql/rebooking.sql: update this test"
    return found


def test_only_addresses_and_topics_are_placeholders(sql):
    assert sql_files.placeholders(sql) == ALLOWED
    assert sql_files.placeholders(sql_files.read(sql_files.SHAPES)) == {"KAFKA_BOOTSTRAP_SERVERS"}


def test_events_group(sql):
    """The group whose offsets the event source resumes from is the one the docs name."""
    (table,) = _only(r"CREATE TEMPORARY TABLE (\w+) \(proc AS PROCTIME\(\)\) WITH \((.*?)\)", sql)
    assert table[0] == rebooking.EVENTS_TABLE
    assert f"'properties.group.id' = '{rebooking.EVENTS_GROUP_ID}'" in table[1]
    assert "'scan.startup.mode' = 'group-offsets'" in table[1]
    assert f"group {rebooking.EVENTS_GROUP_ID}'s" in " ".join(sql.split())


def test_state_horizon(sql):
    assert _only(r"SET 'table\.exec\.state\.ttl' = '([^']*)'", sql) == [rebooking.STATE_HORIZON]
    assert f"after {rebooking.STATE_HORIZON} without access" in " ".join(sql.split())


def test_table_state_ttl_on_every_join_hint(sql):
    hints = _only(r"STATE_TTL\(([^)]*)\)", sql)
    values = {v for h in hints for v in re.findall(r"=\s*'([^']*)'", h)}
    assert values == {rebooking.TABLE_STATE_TTL}


def test_min_delay(sql):
    (value,) = _only(r"COALESCE\(delay_minutes, 0\) < (\d+)", sql)
    assert int(value) == rebooking.MIN_DELAY_MINUTES
    assert f"delay < {rebooking.MIN_DELAY_MINUTES} min" in sql


def test_candidates(sql):
    (value,) = _only(r"VECTOR_LOOKUP_JSON\('flights', [^,]+, (\d+),", sql)
    assert int(value) == rebooking.CANDIDATES


def test_prompt_budgets(sql):
    (policy,) = _only(r"r\.policy_hits, (\d+)\)", sql)
    (flights,) = _only(r"w\.flight_hits, (\d+)\)", sql)
    assert int(policy) == rebooking.POLICY_BUDGET_TOKENS
    assert int(flights) == rebooking.CANDIDATE_BUDGET_TOKENS


def test_policy_budget_holds_every_policy_section_so_each_prompt_has_one_to_cite():
    """The answer must cite a policy passage of its prompt: a budget that the top-ranked
    passage does not fit leaves none (RAG_PROMPT stops at the first that does not fit). A
    whole section, with the metadata and a chunk id, bounds each stored chunk of it."""
    from flink_rag.airline.chunking import policy_sections
    from flink_rag.connectors.prompt import render_prompt

    for s in policy_sections():
        hit = {
            "id": f"{s['section_id']}#0",
            "score": 0.9,
            "content": s["text"],
            "metadata": {"doc_id": s["doc_id"], "title": s["title"], "section": s["section"]},
        }
        context = render_prompt("Policy:\n{context}", [hit], rebooking.POLICY_BUDGET_TOKENS)
        assert context.startswith(f"Policy:\n[{hit['id']}] "), (s["section_id"], context)


def test_reasons(sql):
    """The reason codes the model may choose, and the words each becomes, are the Python ones."""
    (schema,) = _only(r'"reason":\{"type":"string","enum":\[(.*?)\]\},', sql)
    assert re.findall(r'"([a-z]+)"', schema) == list(rebooking.REASONS)
    (case,) = _only(r"CASE JSON_VALUE\(raw_answer, '\$\.reason'\)(.*?)END", sql)
    words = dict(re.findall(r"WHEN '([a-z]+)' THEN '([^']+)'", case))
    (default,) = re.findall(r"ELSE '([^']+)'", case)
    assert {**words, "seat": default} == rebooking.REASONS
