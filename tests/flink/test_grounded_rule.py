""" "Grounded" is defined once, by GROUNDED_RULES in flink_rag/airline/checks.py; the shipped SQL
writes it twice more, and both are run here against it on generated cases, NULLs included:
- the grounded check of sql/rebooking.sql (view `checked`) gives the same reason code;
- the flights lookup filter (view `passenger_needs`), applied with MongoDB's semantics to the
  document sql/ingest_flights.sql makes of an inventory record (views `flight_seats` and
  `flight_docs`), admits exactly the flights the inventory rules (`checks.serves`) accept."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flink_rag.airline import checks, ingestion, rebooking
from flink_rag.sql import files as sql_files

pytestmark = pytest.mark.flink

CABINS = ("economy", "premium", "business")  # the cabins the SQL's seat lookup knows
AIRPORTS = st.sampled_from(["FRA", "LHR", "JFK"])
IDS = st.sampled_from(["F1", "F2", "F3", "F4"])
POLICY_IDS = st.sampled_from(["rebooking#intro", "loyalty#gold", "compensation#intro", "P#4"])
TRIPS = st.fixed_dictionaries(
    {
        "origin": AIRPORTS,
        "destination": AIRPORTS,
        "departure_ts": st.integers(0, 5),
        "cabin": st.sampled_from(CABINS),
    }
)


@st.composite
def cases(draw):
    """Mostly answers that pass the earlier rules, so that every later rule gets exercised."""
    trip = draw(TRIPS)

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
    # Retrieved policy passages (NULL: a lookup that gave none) and what the answer cites:
    # mostly some of those, else none, NULL, a forged id or one another row retrieved.
    policy_ids = draw(st.one_of(st.none(), st.lists(POLICY_IDS, max_size=3, unique=True)))
    retrieved = st.sampled_from(policy_ids) if policy_ids else POLICY_IDS
    cited = draw(
        st.one_of(
            st.lists(retrieved, min_size=1, max_size=2),
            st.lists(retrieved, min_size=1, max_size=2),
            st.lists(st.one_of(retrieved, POLICY_IDS, st.just("forged]")), max_size=2),
            st.none(),
        )
    )
    answer = {
        "recommended_flight_id": rec_id,
        "candidates": candidates,
        "citations": cited,
        "policy_ids": policy_ids,
    }
    return answer, trip, flight


def _view(name: str, sql_file: str = rebooking.SQL_FILE) -> str:
    params = {**rebooking.sql_params("k:9"), **ingestion.sql_params("flights", "k:9")}
    (view,) = [
        s
        for s in sql_files.statements(sql_file, params)
        if s.startswith(f"CREATE TEMPORARY VIEW {name} AS")
    ]
    return view


def _checked_view() -> str:
    return _view("checked")


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
        ("citations", a(s)), ("policy_ids", a(s)), ("provenance", s),
    ]  # fmt: skip
    rows = []
    for n, (answer, trip, flight) in enumerate(generated):
        f = flight or {}
        seats = (f.get("cabins") or {}).get(trip["cabin"], {}).get("seats_left")
        rec_id = answer["recommended_flight_id"]
        rows.append((
            "EV", f"B{n}", "C", "F0", trip["origin"], trip["destination"],
            trip["departure_ts"], "{}", None, None, "prompt", answer["candidates"], "{}", None,
            rec_id, rec_id if flight else None, f.get("origin"), f.get("destination"),
            f.get("departure_ts"), seats, trip["cabin"], None, answer["citations"],
            answer["policy_ids"], "{}",
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


SEATS = st.one_of(st.none(), st.integers(-1, 2), st.integers(1, 3))


@st.composite
def trips_and_flights(draw):
    trip = draw(TRIPS)
    flight = {
        "origin": draw(st.one_of(st.just(trip["origin"]), AIRPORTS)),
        "destination": draw(st.one_of(st.just(trip["destination"]), AIRPORTS)),
        "departure_ts": draw(st.one_of(st.none(), st.integers(0, 8))),
        "cabins": {c: {"seats_left": draw(SEATS)} for c in CABINS},
    }
    return trip, flight


def _matches(mql: dict, doc: dict) -> bool:
    """MongoDB's semantics for what the flight filter uses: equality (an array field matches
    when it holds the value) and $gt (a missing or null field never matches)."""
    for field, condition in mql.items():
        value = doc.get(field)
        if isinstance(condition, dict):
            ((op, bound),) = condition.items()
            assert op == "$gt", f"the filter uses {op}: teach this test its semantics"
            if value is None or not value > bound:
                return False
        elif value != condition and not (isinstance(value, list) and condition in value):
            return False
    return True


@settings(
    max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(trips_and_flights(), min_size=30, max_size=60))
def test_lookup_filter_admits_exactly_the_flights_the_rules_ground(t_env, generated):
    import json

    from pyflink.table import DataTypes

    s, i, b = DataTypes.STRING(), DataTypes.INT(), DataTypes.BIGINT()
    passengers = [
        ("event_type", s), ("origin", s), ("destination", s), ("departure_time", s),
        ("departure_ts", b), ("booking_id", s), ("cabin", s), ("fare_family", s),
        ("loyalty_tier", s), ("special_assistance", s),
    ]  # fmt: skip
    inventory = [
        ("flight_id", s), ("flight_number", s), ("origin", s), ("destination", s),
        ("origin_city", s), ("destination_city", s), ("departure_time", s),
        ("arrival_time", s), ("departure_ts", b), ("aircraft", s), ("cabins", s),
        ("seats_left", i), ("status", s),
    ]  # fmt: skip
    p_rows, f_rows = [], []
    for n, (trip, flight) in enumerate(generated):
        p_rows.append((
            "CANCELLATION", trip["origin"], trip["destination"], "t", trip["departure_ts"],
            f"B{n}", trip["cabin"], "Flex", "GOLD", None,
        ))  # fmt: skip
        seats = [c["seats_left"] for c in flight["cabins"].values()]
        f_rows.append((
            f"B{n}", "XY1", flight["origin"], flight["destination"], "A", "B", "t", "t",
            flight["departure_ts"], "A320", json.dumps(flight["cabins"]),
            sum(x for x in seats if x is not None and x > 0), "SCHEDULED",
        ))  # fmt: skip

    def table(name, rows, columns):
        schema = DataTypes.ROW([DataTypes.FIELD(c, kind) for c, kind in columns])
        t_env.drop_temporary_view(name)
        t_env.create_temporary_view(name, t_env.from_elements(rows, schema))

    table("passengers", p_rows, passengers)
    table("flight_inventory_src", f_rows, inventory)
    for name, sql_file in (
        ("passenger_needs", rebooking.SQL_FILE),
        ("flight_seats", "ingest_flights.sql"),
        ("flight_docs", "ingest_flights.sql"),
    ):
        t_env.drop_temporary_view(name)
        t_env.execute_sql(_view(name, sql_file))
    query = (
        "SELECT p.booking_id, p.flight_filter, d.origin, d.destination, d.departure_ts, "
        "d.seats_left, d.open_cabins FROM passenger_needs AS p "
        "JOIN flight_docs AS d ON d.flight_id = p.booking_id"
    )
    with t_env.execute_sql(query).collect() as results:
        admitted = {
            row[0]: _matches(
                json.loads(row[1]),
                {
                    "origin": row[2],
                    "destination": row[3],
                    "departure_ts": row[4],
                    "seats_left": row[5],
                    "cabins": list(row[6] or []),
                },
            )
            for row in results
        }
    assert admitted == {f"B{n}": checks.serves(*case) for n, case in enumerate(generated)}
