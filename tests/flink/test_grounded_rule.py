"""The grounded check of sql/rebooking.sql (view `checked`, taken from the shipped file) and
the one definition in flink_rag/airline/checks.py give the same reason code on the same
generated answers, including unknown (NULL) inventory values."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flink_rag.airline import checks, rebooking
from flink_rag.sql import files as sql_files

pytestmark = pytest.mark.flink

CABINS = ("economy", "premium", "business")  # the cabins the SQL's seat lookup knows
AIRPORTS = st.sampled_from(["FRA", "LHR", "JFK"])
IDS = st.sampled_from(["F1", "F2", "F3", "F4"])


@st.composite
def cases(draw):
    """Mostly answers that pass the earlier rules, so that every later rule gets exercised."""
    trip = {
        "origin": draw(AIRPORTS),
        "destination": draw(AIRPORTS),
        "departure_ts": draw(st.integers(0, 5)),
        "cabin": draw(st.sampled_from(CABINS)),
    }

    def usually(value):
        return st.one_of(st.just(value), st.just(value), st.just(value), st.none(), AIRPORTS)

    seats = st.one_of(st.integers(1, 2), st.integers(1, 2), st.none(), st.integers(-1, 0))
    flight = draw(
        st.one_of(
            st.none(),
            st.fixed_dictionaries(
                {
                    "origin": usually(trip["origin"]),
                    "destination": usually(trip["destination"]),
                    "departure_ts": st.one_of(st.none(), st.integers(0, 8)),
                    "cabins": st.fixed_dictionaries(
                        {c: st.fixed_dictionaries({"seats_left": seats}) for c in CABINS}
                    ),
                }
            ),
        )
    )
    rec_id = draw(IDS)
    # The SQL reaches the grounded rules only with candidates and a recommendation.
    candidates = draw(st.lists(IDS, min_size=1, max_size=3))
    if draw(st.integers(0, 3)):
        candidates = [*candidates, rec_id]
    return rec_id, candidates, trip, flight


def _checked_view() -> str:
    params = rebooking.sql_params("k:9", group_id="g")
    (view,) = [
        s
        for s in sql_files.statements(rebooking.SQL_FILE, params)
        if s.startswith("CREATE TEMPORARY VIEW checked AS")
    ]
    return view


@pytest.fixture(scope="module")
def t_env():
    from pyflink.table import EnvironmentSettings, TableEnvironment

    return TableEnvironment.create(EnvironmentSettings.in_batch_mode())


@settings(
    max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(cases(), min_size=30, max_size=60))
def test_sql_and_python_grounded_rules_agree(t_env, generated):
    from pyflink.table import DataTypes

    s, i, b, a = DataTypes.STRING(), DataTypes.INT(), DataTypes.BIGINT(), DataTypes.ARRAY
    columns = [
        ("event_id", s), ("booking_id", s), ("customer_id", s), ("flight_id", s),
        ("origin", s), ("destination", s), ("departure_ts", b), ("flight_filter", s),
        ("retrieval_problem", s), ("retrieval_error", s), ("prompt", s),
        ("candidate_ids", a(s)), ("raw_answer", s), ("llm_error", s),
        ("recommended_flight_id", s), ("inventory_flight_id", s), ("inventory_origin", s),
        ("inventory_destination", s), ("inventory_departure_ts", b),
        ("inventory_seats_left", i), ("cabin", s), ("inventory_departure_time", s),
    ]  # fmt: skip
    rows = []
    for n, (rec_id, candidates, trip, flight) in enumerate(generated):
        f = flight or {}
        seats = (f.get("cabins") or {}).get(trip["cabin"], {}).get("seats_left")
        rows.append((
            "EV", f"B{n}", "C", "F0", trip["origin"], trip["destination"],
            trip["departure_ts"], "{}", None, None, "prompt", candidates, "{}", None,
            rec_id, rec_id if flight else None, f.get("origin"), f.get("destination"),
            f.get("departure_ts"), seats, trip["cabin"], None,
        ))  # fmt: skip
    schema = DataTypes.ROW([DataTypes.FIELD(name, kind) for name, kind in columns])
    t_env.drop_temporary_view("checked")
    t_env.drop_temporary_view("answered")
    t_env.create_temporary_view("answered", t_env.from_elements(rows, schema))
    t_env.execute_sql(_checked_view())
    with t_env.execute_sql("SELECT booking_id, problem FROM checked").collect() as results:
        sql_codes = {row[0]: row[1] for row in results}
    python_codes = {f"B{n}": checks.grounded_problem(*case) for n, case in enumerate(generated)}
    assert sql_codes == python_codes
