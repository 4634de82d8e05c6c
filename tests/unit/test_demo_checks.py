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
