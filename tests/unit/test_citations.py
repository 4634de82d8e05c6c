"""Citations and provenance through ChatClient: the schema a server receives names only the
passages of the prompt, an answer citing anything else is a row error (also from a server that
ignores the schema), and every answer row records what it was built from."""

from __future__ import annotations

import hashlib
import json

import pytest
from test_openai_chat import FakeSdk, client

from flink_rag.connectors.citations import (
    Passage,
    context_hits,
    expand_citations,
    plan_citations,
    prompt_passages,
)
from flink_rag.connectors.errors import InputError
from flink_rag.connectors.prompt import render_prompt
from flink_rag.connectors.response_cache import ResponseCache
from flink_rag.udfs.llm_complete import completions_frame

pytestmark = pytest.mark.unit

FLIGHTS = {
    "hits": [
        {"id": "UA2", "score": 0.9, "content": "SFO-BOS 09:00"},
        {"id": "UA3", "score": 0.8, "content": "SFO-BOS 11:00"},
        {"id": "UA4", "score": 0.1, "content": "SFO-BOS 23:00 " + "x" * 400},
    ],
    "error": None,
}
POLICIES = {"hits": [{"id": "pol-7", "score": 0.7, "content": "Rebook free."}], "error": None}
CONTEXT = json.dumps([FLIGHTS, POLICIES])
SCHEMA = {
    "type": "object",
    "properties": {
        "flight": {"type": "string"},
        "citations": {"x-citations": True, "minItems": 1},
    },
    "required": ["flight", "citations"],
    "additionalProperties": False,
}


def prompt() -> str:
    policy = render_prompt("Policy:\n{context}", POLICIES["hits"], None)
    # UA4 does not fit the budget: retrieved, but not in the prompt, so not citable.
    return render_prompt("Flights:\n{context}\n" + policy + "\nPick one.", FLIGHTS["hits"], 120)


def test_the_passages_of_a_prompt_are_the_retrieved_hits_it_shows():
    text = prompt()
    assert "[UA4]" not in text
    hits = context_hits(CONTEXT)
    assert [h["id"] for h in hits] == ["UA2", "UA3", "UA4", "pol-7"]
    assert prompt_passages(text, hits) == [
        Passage("UA2", 0.9),
        Passage("UA3", 0.8),
        Passage("pol-7", 0.7),
    ]
    # A label-like line the template got from row data names nothing that was retrieved.
    assert prompt_passages("[XX9] forged in the template\n" + text, hits)[0].label == "UA2"


def test_the_schema_is_expanded_into_an_enum_of_the_prompt_ids():
    schema, plan = plan_citations(prompt(), SCHEMA, CONTEXT)
    assert plan is not None and plan.paths == (("citations",),)
    assert schema["properties"]["citations"] == {
        "type": "array",
        "minItems": 1,
        "items": {"type": "string", "enum": ["UA2", "UA3", "pol-7"]},
    }
    assert "x-citations" not in json.dumps(schema)
    # Nothing to cite: only the empty array is valid (minItems would make every answer fail).
    empty, _ = expand_citations(SCHEMA, [])
    assert empty["properties"]["citations"] == {
        "type": "array",
        "items": {"type": "string"},
        "maxItems": 0,
    }


def test_citations_without_context_or_in_odd_places_are_refused_before_the_call():
    with pytest.raises(InputError, match="fourth argument"):
        plan_citations("p", SCHEMA, None)
    nested = {"type": "array", "items": {"x-citations": True}}
    with pytest.raises(InputError, match="#/items"):
        expand_citations(nested, ["a"])
    with pytest.raises(InputError, match="STRING"):
        context_hits(b'{"hits": []}')  # type: ignore[arg-type]
    assert plan_citations("p", {"type": "object"}, None) == ({"type": "object"}, None)


def test_the_server_gets_only_the_prompt_ids_and_the_row_gets_provenance():
    text = prompt()
    sdk = FakeSdk(answers={text: '{"flight": "UA2", "citations": ["UA2", "pol-7"]}'})
    with client(sdk, model="m1", structured_output="json_object") as chat:
        (done,) = chat.complete_many([_request(text, SCHEMA, CONTEXT)])
    assert done.error is None, done.error
    sent = sdk.bodies[-1]["response_format"]["schema"]
    assert sent["properties"]["citations"]["items"]["enum"] == ["UA2", "UA3", "pol-7"]
    assert json.loads(done.provenance) == {
        "ids": ["UA2", "UA3", "pol-7"],
        "scores": [0.9, 0.8, 0.7],
        "model": "m1",
        "prompt_sha256": hashlib.sha256(text.encode()).hexdigest(),
    }


@pytest.mark.parametrize("cited", ["UA4", "XX9", "ua2"])
def test_a_citation_that_is_not_a_passage_of_the_prompt_is_a_row_error(cited):
    text = prompt()
    answer = json.dumps({"flight": "UA2", "citations": ["UA2", cited]})
    sdk = FakeSdk(answers={text: answer})  # a server that does not enforce the schema
    with client(sdk, structured_output="json_object") as chat:
        (done,) = chat.complete_many([_request(text, SCHEMA, CONTEXT)])
    assert done.text == answer  # the raw answer stays for the dead letter
    assert done.error is not None and f"cites {cited!r}" in done.error
    assert "not a passage of the prompt" in done.error
    assert done.provenance is not None


def test_an_answer_with_a_bad_citation_is_never_cached(tmp_path):
    text = prompt()
    sdk = FakeSdk(answers={text: '{"flight": "UA2", "citations": ["XX9"]}'})
    cache = ResponseCache(str(tmp_path))
    for _ in range(2):
        with client(sdk, cache=cache, structured_output="json_object") as chat:
            (done,) = chat.complete_many([_request(text, SCHEMA, CONTEXT)])
        assert done.error is not None
    assert len(sdk.bodies) == 2  # asked again: the invalid answer was not kept


def test_a_cached_answer_carries_the_provenance_of_its_own_row(tmp_path):
    text = prompt()
    sdk = FakeSdk(answers={text: '{"flight": "UA3", "citations": ["UA3"]}'})
    cache = ResponseCache(str(tmp_path))
    records = []
    for _ in range(2):
        with client(sdk, cache=cache, model="m2", structured_output="json_object") as chat:
            (done,) = chat.complete_many([_request(text, SCHEMA, CONTEXT)])
        assert done.error is None
        records.append(json.loads(done.provenance))
    assert len(sdk.bodies) == 1  # the second answer came from the cache
    assert records[0] == records[1] and records[1]["ids"] == ["UA2", "UA3", "pol-7"]


@pytest.mark.parametrize("value", [False, "yes", 1, None])
def test_x_citations_takes_only_true(value):
    schema = {"type": "object", "properties": {"c": {"x-citations": value}}}
    with pytest.raises(InputError, match="value true"):
        expand_citations(schema, ["a"])


def test_without_context_a_json_call_is_what_it_was():
    sdk = FakeSdk(answers={"q": '{"a": 1}'})
    with client(sdk, structured_output="json_object") as chat:
        (done,) = chat.complete_many([_request("q", {"type": "object"}, None)])
    assert (done.text, done.error, done.provenance) == ('{"a": 1}', None, None)
    frame = completions_frame([done], provenance=True)
    assert list(frame.columns)[-1] == "provenance" and frame.iloc[0]["provenance"] is None
    assert "provenance" not in completions_frame([done]).columns


def _request(text, schema, context):
    from flink_rag.connectors.openai_chat import ChatRequest

    return ChatRequest(text, "Answer in JSON.", schema, context)
