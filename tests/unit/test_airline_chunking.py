"""Policy documents split into passages with stable ids."""

from __future__ import annotations

import pytest

from flink_rag.airline.chunking import chunk_document, policy_documents, policy_passages

pytestmark = pytest.mark.unit

DOC = """# Title

Intro paragraph
spanning two lines.

## First part

- item one
  continued
- item two

## Second part

Alpha. Beta.

Gamma.
"""


def test_sections_become_passages_with_heading_in_text():
    passages = chunk_document("doc", DOC)
    assert [p["passage_id"] for p in passages] == [
        "doc#intro-1",
        "doc#first-part-1",
        "doc#second-part-1",
    ]
    assert passages[0]["text"] == "Title: Intro paragraph spanning two lines."
    assert passages[1]["text"] == "Title - First part: - item one continued\n- item two"


def test_long_sections_split_between_paragraphs_only():
    passages = chunk_document("doc", DOC, max_chars=10)
    second = [p for p in passages if p["section"] == "Second part"]
    assert [p["passage_id"] for p in second] == ["doc#second-part-1", "doc#second-part-2"]
    assert second[0]["text"].endswith("Alpha. Beta.")
    assert second[1]["text"].endswith("Gamma.")


def test_ids_are_stable_and_unique_over_bundled_policies():
    first = policy_passages()
    assert first == policy_passages()
    ids = [p["passage_id"] for p in first]
    assert len(ids) == len(set(ids))
    assert {"rebooking", "compensation", "loyalty", "special_assistance"} <= set(policy_documents())
    assert any("EUR 600" in p["text"] for p in first)
