"""The rebooking job's optimized plan: every Python function reads an insert-only stream and
each call site appears once (no function inlined into several plan nodes)."""

from __future__ import annotations

import re

import pytest

from flink_rag.airline import rebooking

pytestmark = pytest.mark.flink

# Call sites in sql/rebooking.sql: need + policy question, flights + policies, policy
# context + prompt, one completion (the cited one; no uncited call beside it).
CALL_SITES = {
    "EMBED_RESULT": 2,
    "VECTOR_LOOKUP_JSON": 2,
    "RAG_PROMPT": 2,
    "LLM_COMPLETE_CITED": 1,
    "LLM_COMPLETE_JSON": 0,
}


@pytest.fixture(scope="module")
def plan() -> str:
    return rebooking.explain(rebooking.sql_params("127.0.0.1:9", group_id="plan"))


def _section(plan: str, title: str) -> str:
    start = plan.index(f"== {title} ==")
    end = plan.find("\n== ", start + 1)
    return plan[start : end if end != -1 else None]


def test_every_python_node_is_insert_only(plan):
    physical = _section(plan, "Optimized Physical Plan")
    # A node's text may span lines (string literals hold newlines); its mode closes it.
    modes = re.findall(r"\bPython\w+\(.*?changelogMode=\[([^\]]*)\]", physical, re.DOTALL)
    assert len(modes) >= 7  # one per function call site, at least
    assert set(modes) == {"I"}


def test_each_function_is_called_once_per_call_site(plan):
    execution = _section(plan, "Optimized Execution Plan")
    found = {name: len(re.findall(rf"\b{name}\(", execution)) for name in CALL_SITES}
    assert found == CALL_SITES


def test_state_is_bounded_events_by_the_horizon_tables_by_their_hint(plan):
    from flink_rag.sql import files

    params = rebooking.sql_params("127.0.0.1:9", group_id="plan")
    sets = dict(kv for s in files.statements("rebooking.sql", params) if (kv := files.parse_set(s)))
    assert sets["table.exec.state.ttl"] == rebooking.STATE_HORIZON
    physical = _section(plan, "Optimized Physical Plan")
    joins = re.findall(r"\bJoin\(joinType=.*?changelogMode=\[[^\]]*\](.*?)\n", physical)
    assert joins  # every regular join keeps its table side (right) by the long TTL hint
    hint = f"STATE_TTL options:{{RIGHT={rebooking.TABLE_STATE_TTL}}}"
    assert all(hint in j for j in joins), joins
    # The outer-join dead letters wait in processing-time interval joins, whose state the
    # interval bounds: two of them (unknown_flight, booking_without_customer), insert-only.
    intervals = re.findall(r"\bIntervalJoin\(.*?changelogMode=\[([^\]]*)\]", physical)
    assert intervals == ["I", "I"], intervals


def test_run_options_reach_the_event_source_as_dynamic_table_options(plan):
    """sql_params(group_id=...) is no placeholder: the runner's hint on the view that reads
    the events survives into the scan, where the connector reads it."""
    physical = _section(plan, "Optimized Physical Plan")
    scans = re.findall(r"TableSourceScan\(table=\[\[[^\]]*\bflight_events_raw\b.*", physical)
    assert scans
    assert all("hints=[[[OPTIONS options:{properties.group.id=plan}]]]" in s for s in scans)
    others = re.findall(r"TableSourceScan\(.*", physical)
    assert sum("OPTIONS" in s for s in others) == len(scans)  # no other table is touched
