"""Hybrid lookups through VectorStore and `flink-rag index create --text-index` against the
stand-in: the text index created beside the vector one, open() checking it, and careless or
hostile query texts costing only their own row."""

from __future__ import annotations

import argparse
import json
import os
import uuid

import pymongo
import pytest

from flink_rag.connectors.errors import ConfigError, IndexNotReadyError, InputError
from flink_rag.connectors.mongodb_store import VectorStore
from flink_rag.connectors.settings import StoreSettings
from flink_rag.local.session import shared_stack
from flink_rag.stores.index_cli import add_arguments, run

pytestmark = pytest.mark.integration

DIMS = 4
CODES = ["LH400", "BA117", "AF023", "KL642"]


@pytest.fixture(scope="module")
def mongo_uri():
    with shared_stack(["mongo"]) as endpoints:
        yield endpoints.mongodb_uri


@pytest.fixture(scope="module")
def database(mongo_uri):
    name = f"flink_rag_hybrid_{uuid.uuid4().hex[:8]}"
    client = pymongo.MongoClient(mongo_uri, serverSelectionTimeoutMS=5000)
    client[name]["notes"].insert_many(
        {
            "_id": f"d{i}",
            "content": f"Flight {code} rebooking notice",
            "carrier": code[:2],
            "embedding": [1.0 if j == i else 0.0 for j in range(DIMS)],
        }
        for i, code in enumerate(CODES)
    )
    yield name
    client.drop_database(name)
    client.close()


def cli(mongo_uri: str, *argv: str) -> int:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    old = os.environ.get("MONGODB_URI")
    os.environ["MONGODB_URI"] = mongo_uri
    try:
        return run(parser.parse_args(list(argv)))
    finally:
        if old is None:
            os.environ.pop("MONGODB_URI", None)
        else:
            os.environ["MONGODB_URI"] = old


@pytest.fixture(scope="module")
def created(mongo_uri, database):
    code = cli(
        mongo_uri, "create", "--store", "notes", "--database", database, "--dimensions",
        str(DIMS), "--mode", "atlas", "--filter-fields", "carrier", "--text-index", "notes_text",
    )  # fmt: skip
    return code


def store(mongo_uri, database, **options: str) -> VectorStore:
    base = {
        "database": database,
        "mode": "atlas",
        "text-index": "notes_text",
        "fields": "carrier",
        "timeout": "5",
        **{k.replace("_", "-"): v for k, v in options.items()},
    }
    return VectorStore(StoreSettings.from_options("notes", base, {"MONGODB_URI": mongo_uri}))


def test_index_create_makes_the_text_index_beside_the_vector_one(
    mongo_uri, database, created, capsys
):
    assert created == 0
    again = cli(  # a second create keeps both indexes as they are
        mongo_uri, "create", "--store", "notes", "--database", database, "--dimensions",
        str(DIMS), "--mode", "atlas", "--filter-fields", "carrier", "--text-index", "notes_text",
    )  # fmt: skip
    out = json.loads(capsys.readouterr().out)
    assert again == 0
    assert out["ready"] is True
    assert out["text_index"] == {"name": "notes_text", "status": "READY"}
    client = pymongo.MongoClient(mongo_uri)
    try:
        found = {i["name"]: i for i in client[database]["notes"].list_search_indexes()}
    finally:
        client.close()
    assert found["notes_text"]["type"] == "search"
    assert found["notes_text"]["latestDefinition"]["mappings"]["fields"] == {
        "carrier": {"type": "token"},
        "content": {"type": "string"},
    }
    assert found["notes_vector_index"]["type"] == "vectorSearch"
    # status reports both; a text index that is not there is "not ready" (exit 1)
    assert cli(mongo_uri, "status", "--store", "notes", "--database", database,
               "--text-index", "notes_text") == 0  # fmt: skip
    assert json.loads(capsys.readouterr().out)["text_index"]["status"] == "READY"
    assert cli(mongo_uri, "status", "--store", "notes", "--database", database,
               "--text-index", "nope") == 1  # fmt: skip
    assert json.loads(capsys.readouterr().out)["text_index"]["status"] == "MISSING"


def test_index_create_refuses_a_text_index_in_scan_mode(mongo_uri, database, capsys):
    code = cli(
        mongo_uri, "create", "--store", "scanned", "--database", database, "--dimensions",
        str(DIMS), "--mode", "scan", "--text-index", "scanned_text",
    )  # fmt: skip
    assert code == 2
    assert "has no Atlas Search (scan mode)" in capsys.readouterr().err


def test_open_checks_the_text_index(mongo_uri, database, created):
    with pytest.raises(IndexNotReadyError) as missing:
        store(mongo_uri, database, text_index="nope").open()
    assert "text index 'nope'" in str(missing.value)
    assert "flink-rag index create --store notes" in str(missing.value)
    with pytest.raises(IndexNotReadyError, match="not an Atlas Search"):
        store(mongo_uri, database, text_index="notes_vector_index").open()


def test_hybrid_search_and_careless_texts(mongo_uri, database, created):
    vs = store(mongo_uri, database, text_weight="3")
    vs.open()
    try:
        at_d0 = [1.0, 0.0, 0.0, 0.0]
        hits = vs.search(at_d0, 2, None, "AF023")
        assert [h.id for h in hits] == ["d2", "d0"]
        assert hits[0].metadata["scoreDetails"]["details"][0]["inputPipelineName"] in (
            "vector",
            "text",
        )
        # whitespace only: no terms, so the vector lookup
        plain = vs.search(at_d0, 2, None, "   ")
        assert plain[0].id == "d0" and "scoreDetails" not in plain[0].metadata
        # query syntax is not parsed: operators and quotes are words or nothing
        odd = vs.search(at_d0, 2, None, 'AF023 AND "(* OR title:x~2 \\')
        assert odd[0].id == "d2"
        assert vs.search(at_d0, 2, None, "x" * 20_000)  # a long text is still one lookup
        assert vs.search(at_d0, 2, None, "LH400 ünïcödé 🚀 \x00")[0].id == "d0"
        with pytest.raises(InputError, match="query text must be a string"):
            vs.search(at_d0, 2, None, 42)  # type: ignore[arg-type]
        with pytest.raises(InputError):  # the filter is checked as for vector lookups
            vs.search(at_d0, 2, {"content": "x"}, "AF023")
        filtered = vs.search(at_d0, 4, {"carrier": {"$ne": "AF"}}, "AF023")
        assert "d2" not in {h.id for h in filtered}
    finally:
        vs.close()


def test_a_hybrid_lookup_on_a_store_without_a_text_index_says_what_to_set(
    mongo_uri, database, created
):
    vs = store(mongo_uri, database, text_index="")
    vs.open()
    try:
        with pytest.raises(ConfigError, match="text-index"):
            vs.search([1.0, 0.0, 0.0, 0.0], 2, None, "AF023")
        assert vs.search([1.0, 0.0, 0.0, 0.0], 2, None, None)[0].id == "d0"
    finally:
        vs.close()
