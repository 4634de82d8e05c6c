"""Deterministic stand-ins for the model functions of sql/rebooking.sql, with call counters.

They answer like the real functions' contracts say: EMBED_RESULT gives a fixed vector,
VECTOR_LOOKUP_JSON runs the row's filter on MongoDB, RAG_PROMPT is the real renderer, and
LLM_COMPLETE_CITED picks a candidate from the schema's enum and cites the first policy hit it
is given (or names a flight that was not retrieved when the passenger's assistance code is
POISON, or also cites a real policy passage this row's lookup did not find when it is FORGE).
Unlike the real function it does not check citations itself, so what stops a forged one is
the SQL's grounded check. Every call appends one line
`{"fn": ..., "key": ...}` to `calls_file`, so a test counts calls per function and per
passenger. Pickled by value into the Python workers (`cloudpickle.register_pickle_by_value`).
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

NOT_RETRIEVED = "XX0001-2026-11-22"
# A real section of the policy documents: the fake lookup (first 3 by id) never returns it.
FORGED_CITATION = "special_assistance#priority"


def functions(mongodb_uri: str, database: str, calls_file: str):
    """A `register(t_env)` that creates the four fakes as temporary system functions."""
    from pyflink.table import DataTypes
    from pyflink.table.udf import udf

    def record(fn: str, key: object) -> None:
        with open(calls_file, "a", encoding="utf-8") as fh:
            fh.write(json.dumps({"fn": fn, "key": key}) + "\n")

    embed_row = DataTypes.ROW(
        [
            DataTypes.FIELD("embedding", DataTypes.ARRAY(DataTypes.FLOAT())),
            DataTypes.FIELD("error", DataTypes.STRING()),
        ]
    )

    @udf(result_type=embed_row)
    def embed_result(text):
        from pyflink.common import Row

        record("EMBED_RESULT", text)
        if not text:
            return Row(None, None)
        return Row([1.0, 0.0, 0.0, 0.0], None)

    @udf(result_type=DataTypes.STRING())
    def vector_lookup_json(store, query, k, filter_json):
        import pymongo

        record("VECTOR_LOOKUP_JSON", store)
        if query is None:
            return json.dumps({"hits": [], "error": "query vector is NULL"})
        client = pymongo.MongoClient(mongodb_uri)
        try:
            coll = client[database][store]
            query_filter = json.loads(filter_json) if filter_json else {}
            order = "departure_ts" if store == "flights" else "_id"
            cursor = coll.find(query_filter).sort(order, 1).limit(k)
            hits = [
                {"id": d["_id"], "score": 0.9, "content": d["content"], "metadata": {}}
                for d in cursor
            ]
        finally:
            client.close()
        return json.dumps({"hits": hits, "error": None})

    @udf(result_type=DataTypes.STRING())
    def rag_prompt(template, context_json, budget):
        from flink_rag.connectors.prompt import hits_from_json, render_prompt

        record("RAG_PROMPT", None)
        if template is None:
            return None
        return render_prompt(template, hits_from_json(context_json), budget)

    completion_row = DataTypes.ROW(
        [
            DataTypes.FIELD("text", DataTypes.STRING()),
            DataTypes.FIELD("error", DataTypes.STRING()),
            DataTypes.FIELD("prompt_tokens", DataTypes.INT()),
            DataTypes.FIELD("completion_tokens", DataTypes.INT()),
            DataTypes.FIELD("latency_ms", DataTypes.BIGINT()),
            DataTypes.FIELD("finish_reason", DataTypes.STRING()),
            DataTypes.FIELD("provenance", DataTypes.STRING()),
        ]
    )

    @udf(result_type=completion_row)
    def llm_complete_cited(prompt, system, schema, context_json):
        import hashlib
        import re

        from pyflink.common import Row

        if prompt is None:  # like the real function: no prompt, no call
            return Row(None, None, None, None, None, None, None)
        props = json.loads(schema)["properties"]
        assert props["citations"]["x-citations"] is True  # the SQL asks for citations
        booking_id = re.search(r"Passenger booking (\S+):", prompt).group(1)
        record("LLM_COMPLETE_CITED", booking_id)
        if "needs LLMFAIL" in prompt:  # a passenger whose answer fails: an llm_error row
            error = "fake provider error (LLMFAIL in the prompt)"
            return Row(None, error, None, None, 1, None, None)
        hits = json.loads(context_json)["hits"]
        candidates = props["recommended_flight_id"]["enum"]
        cited = [hits[0]["id"]] + ([FORGED_CITATION] if "needs FORGE" in prompt else [])
        answer = {
            "recommended_flight_id": NOT_RETRIEVED if "needs POISON" in prompt else candidates[0],
            "reason": props["reason"]["enum"][0],
            "compensation": "EUR 250",
            "priority": "NORMAL",
            "citations": cited,
        }
        provenance = {
            "ids": [h["id"] for h in hits],
            "scores": [h["score"] for h in hits],
            "model": "fake",
            "prompt_sha256": hashlib.sha256(prompt.encode()).hexdigest(),
        }
        return Row(json.dumps(answer), None, 10, 10, 1, "stop", json.dumps(provenance))

    def register(t_env):
        for name, fn in (
            ("EMBED_RESULT", embed_result),
            ("VECTOR_LOOKUP_JSON", vector_lookup_json),
            ("RAG_PROMPT", rag_prompt),
            ("LLM_COMPLETE_CITED", llm_complete_cited),
        ):
            t_env.create_temporary_system_function(name, fn)

    return register


def calls(calls_file: Path) -> list[dict]:
    if not calls_file.exists():
        return []
    return [json.loads(line) for line in calls_file.read_text(encoding="utf-8").splitlines()]


def counts(calls_file: Path) -> Counter:
    """Calls per function."""
    return Counter(c["fn"] for c in calls(calls_file))


def flight_docs(data) -> list[dict]:
    """The flights collection the fake lookup searches (one document per flight)."""
    return [
        {
            "_id": f["flight_id"],
            "content": f"Flight {f['flight_number']} {f['origin']}-{f['destination']} "
            f"departs {f['departure_time']}",
            "embedding": [1.0, 0.0, 0.0, 0.0],
            "origin": f["origin"],
            "destination": f["destination"],
            "departure_ts": f["departure_ts"],
            "departure_time": f["departure_time"],
            "seats_left": f["seats_left"],
            "cabins": [c for c, inv in f["cabins"].items() if inv["seats_left"] > 0],
        }
        for f in data.flights
    ]
