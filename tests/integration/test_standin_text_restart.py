"""The stand-in keeps its Atlas Search (type search) indexes across a restart, as it keeps its
vector indexes: the definitions are saved beside the data and each index is rebuilt from its
collection at start, so `$search` answers as before and sees the collection as it is."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pymongo
import pytest
from pymongo.operations import SearchIndexModel

from flink_rag.local.config import LocalConfig
from flink_rag.local.mongo import MongoStandIn
from flink_rag.local.state import StateDir

pytestmark = pytest.mark.integration


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _start(home: Path, port: int) -> MongoStandIn:
    config = LocalConfig(home=home, mongo_port=port)
    state = StateDir(home)
    state.ensure()
    component = MongoStandIn(config, state)
    component.check_prereqs()
    component.prepare()
    component.start("text index restart test")
    deadline = time.monotonic() + 60
    while True:
        try:
            component.probe(timeout=2.0)
            return component
        except ConnectionError:
            if time.monotonic() > deadline:
                component.stop()
                raise
            time.sleep(0.3)


def _codes(coll, query: str) -> list[str]:
    stage = {"$search": {"index": "text", "text": {"query": query, "path": "content"}}}
    return [d["_id"] for d in coll.aggregate([stage])]


def test_text_indexes_survive_a_restart(tmp_path):
    port = _free_port()
    uri = f"mongodb://127.0.0.1:{port}/"
    component = _start(tmp_path, port)
    try:
        with pymongo.MongoClient(uri, serverSelectionTimeoutMS=5000) as client:
            coll = client["db"]["docs"]
            coll.insert_many(
                [{"_id": "a", "content": "flight LH400"}, {"_id": "b", "content": "x"}]
            )
            coll.create_search_index(
                SearchIndexModel(
                    name="text", type="search", definition={"mappings": {"dynamic": True}}
                )
            )
            assert _codes(coll, "LH400") == ["a"]
            coll.update_one({"_id": "b"}, {"$set": {"content": "flight BA117"}})
    finally:
        component.stop()
    component = _start(tmp_path, port)
    try:
        with pymongo.MongoClient(uri, serverSelectionTimeoutMS=5000) as client:
            coll = client["db"]["docs"]
            listed = {i["name"]: i for i in coll.list_search_indexes()}
            assert listed["text"]["type"] == "search"
            assert listed["text"]["status"] == "READY"
            assert _codes(coll, "LH400") == ["a"]
            assert _codes(coll, "BA117") == ["b"]  # the write before the restart
    finally:
        component.stop()
