"""The labelled retrieval set (bench/quality_set.py): deterministic, and each query's label is
the one document holding its code, so that recall measures retrieval, not labelling slips."""

from __future__ import annotations

import re

import pytest

from flink_rag_bench.quality_set import build

pytestmark = pytest.mark.unit

CODE = re.compile(r"(?:flight|booking|fare) ([A-Z0-9]+)|for ([A-Z][a-z]+ [A-Z][a-z]+)$")


@pytest.mark.parametrize("family", [1, 4, 8])
def test_every_coded_query_names_exactly_its_document(family):
    docs, queries = build(family=family)
    assert build(family=family) == (docs, queries)  # deterministic
    assert len(docs) == 200 and len(queries) == 60
    assert len({d["_id"] for d in docs}) == len(docs)
    by_id = {d["_id"]: d for d in docs}
    for query in queries:
        assert query.relevant in by_id
        if query.kind == "policy":
            continue
        match = CODE.search(query.text.rstrip("?"))
        assert match, query.text
        code = match.group(1) or match.group(2)
        holders = [d["_id"] for d in docs if re.search(rf"\b{re.escape(code)}\b", d["content"])]
        if query.kind == "flight":  # a booking may mention the flight too; one notice has it
            holders = [h for h in holders if h.startswith("flight-")]
        assert holders == [query.relevant], (query, holders)


def test_families_are_near_identical_codes():
    docs, _ = build(family=8)
    flights = [d["content"].split()[1] for d in docs if d["kind"] == "flight"]
    first = flights[:8]
    assert len({f[:2] for f in first}) == 1  # one carrier
    assert len(set(first)) == 8
    with pytest.raises(ValueError, match="family"):
        build(family=9)
