"""Hits and their JSON form: BSON values become JSON-safe metadata."""

from __future__ import annotations

import datetime as dt
import json
import uuid

import pytest
from bson import Decimal128, ObjectId

from flink_rag.connectors.vector_hits import Hit, get_path, json_safe, lookup_json

pytestmark = pytest.mark.unit


def test_json_safe_converts_bson_values():
    oid = ObjectId("5f1d7f0c2a5e4b3c9d8e7f60")
    value = {
        "when": dt.datetime(2025, 3, 1, 12, 30),
        "aware": dt.datetime(2025, 3, 1, 12, 30, tzinfo=dt.timezone(dt.timedelta(hours=2))),
        "day": dt.date(2025, 3, 1),
        "id": oid,
        "uuid": uuid.UUID(int=1),
        "price": Decimal128("12.50"),
        "nan": float("nan"),
        "nested": [{"n": 1}, (2, "x")],
        "raw": b"\x01\xff",
        "flag": True,
    }
    assert json_safe(value) == {
        "when": "2025-03-01T12:30:00+00:00",
        "aware": "2025-03-01T12:30:00+02:00",
        "day": "2025-03-01",
        "id": "5f1d7f0c2a5e4b3c9d8e7f60",
        "uuid": "00000000-0000-0000-0000-000000000001",
        "price": "12.50",
        "nan": None,
        "nested": [{"n": 1}, [2, "x"]],
        "raw": "01ff",
        "flag": True,
    }


def test_get_path_walks_nested_documents():
    doc = {"a": {"b": {"c": 3}}, "l": [1]}
    assert get_path(doc, "a.b.c") == 3
    assert get_path(doc, "a.x") is None
    assert get_path(doc, "l.0") is None  # array positions are not metadata paths


def test_lookup_json_shape():
    hits = [Hit("a", 0.9, "text", {"carrier": "LH"}), Hit("b", 0.5, None)]
    assert json.loads(lookup_json(hits)) == {
        "hits": [
            {"id": "a", "score": 0.9, "content": "text", "metadata": {"carrier": "LH"}},
            {"id": "b", "score": 0.5, "content": None, "metadata": {}},
        ],
        "error": None,
    }
    assert json.loads(lookup_json(None, "filter is not valid JSON")) == {
        "hits": [],
        "error": "filter is not valid JSON",
    }


def test_lookup_json_keeps_unicode():
    assert "Zürich" in lookup_json([Hit("z", 1.0, "Zürich")])
