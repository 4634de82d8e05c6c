"""The demo's checks as a hostile stack and a careless model would meet them: outputs of other
data sets on the shared topics, and reasons that are not the sentence the SQL builds."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from flink_rag.airline import rebooking, scenario
from flink_rag.airline.checks import reason_problem
from flink_rag.jobs.output import Outputs

pytestmark = pytest.mark.unit

EVENT = "DEMO-1"


def _rec(booking: str, event: str = EVENT) -> dict:
    return {"booking_id": booking, "event_id": event, "recommended_flight_id": "XY2"}


def test_outputs_of_other_seeds_on_the_same_flight_are_counted_not_checked():
    """The issue's failure: another seed's booking 29CXYK on the cancelled flight was rebooked
    too and the demo called it 'unknown booking'. Its output is not the run's to check."""
    out = Outputs(
        recommendations={
            "OURS1": _rec("OURS1"),
            "29CXYK": _rec("29CXYK"),  # another seed's passenger, same event
            "OURS2": _rec("OURS2", event="DEMO-0"),  # an earlier run's answer
        },
        dead_letters={
            "booking@OURS3@DEMO-1": {"booking_id": "OURS3", "event_id": EVENT},
            "booking@OTHER@DEMO-1": {"booking_id": "OTHER", "event_id": EVENT},
        },
    )
    recs, dead, others = scenario._of_event(out, EVENT, {"OURS1", "OURS2", "OURS3"})
    assert [r["booking_id"] for r in recs] == ["OURS1"]
    assert [d["booking_id"] for d in dead] == ["OURS3"]
    assert others == 2


def test_a_run_alone_on_the_stack_has_no_others():
    out = Outputs(recommendations={"A": _rec("A"), "B": _rec("B")})
    recs, dead, others = scenario._of_event(out, EVENT, {"A", "B"})
    assert (len(recs), dead, others) == (2, [], 0)


facts = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\n"), max_size=30
)


@given(
    flight=st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-", min_size=1, max_size=20),
    middle=facts,
    code=st.sampled_from(sorted(rebooking.REASONS)),
)
def test_every_sentence_the_sql_builds_is_accepted(flight, middle, code):
    reason = f"Rebook on {flight} ({middle}): {rebooking.REASONS[code]}."
    assert reason_problem({"recommended_flight_id": flight, "reason": reason}) is None


@given(flight=st.text(min_size=1, max_size=20), text=st.text(max_size=200))
def test_text_without_a_known_reason_at_its_end_is_refused(flight, text):
    if any(text.endswith(f"): {words}.") for words in rebooking.REASONS.values()):
        return  # a well-formed ending; the head decides (the test above)
    assert reason_problem({"recommended_flight_id": flight, "reason": text}) is not None


SECTIONS = [
    {"section_id": "loyalty#gold", "title": "Loyalty", "section": "GOLD", "text": "Lounge  \n ok"},
    {"section_id": "rebooking#intro", "title": "Rebooking", "section": "Rebooking", "text": "x"},
]


def test_cited_chunks_print_their_section_score_and_snippet():
    rec = {
        "citations": ["loyalty#gold#3", "rebooking#intro"],
        "provenance": {"ids": ["rebooking#intro", "loyalty#gold#3"], "scores": [0.5, 0.8125]},
    }
    assert scenario.citation_lines(rec, SECTIONS) == [
        '    cites [loyalty#gold#3] (score 0.812) Loyalty / GOLD: "Lounge ok"',
        '    cites [rebooking#intro] (score 0.500) Rebooking: "x"',
    ]


@pytest.mark.parametrize(
    ("rec", "expected"),
    [
        ({}, ["    cites no policy passage"]),
        ({"citations": [], "provenance": None}, ["    cites no policy passage"]),
        # a forged id, an id that only looks like a chunk, a section's chunk with no number
        (
            {"citations": ["loyalty#gold#x", "#1", None], "provenance": {"ids": None}},
            [
                "    cites [loyalty#gold#x] not a section of the policy documents",
                "    cites [#1] not a section of the policy documents",
                "    cites [None] not a section of the policy documents",
            ],
        ),
        # a score that is not a number is left out, not printed as one
        (
            {
                "citations": ["loyalty#gold"],
                "provenance": {"ids": ["loyalty#gold"], "scores": [None]},
            },
            ['    cites [loyalty#gold] Loyalty / GOLD: "Lounge ok"'],
        ),
    ],
)
def test_careless_citations_and_provenance_still_print(rec, expected):
    assert scenario.citation_lines(rec, SECTIONS) == expected


@given(st.text(max_size=40))
def test_section_of_names_a_section_only_by_its_id_or_a_numbered_chunk_of_it(passage_id):
    from flink_rag.airline.chunking import section_of

    found = section_of(passage_id, SECTIONS)
    head, _, tail = passage_id.rpartition("#")
    if found is not None:
        assert passage_id == found["section_id"] or (head == found["section_id"] and tail.isdigit())
    for section in SECTIONS:
        assert section_of(f"{section['section_id']}#{len(passage_id)}", SECTIONS) is section
