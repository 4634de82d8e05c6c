"""Policy documents split into section rows with stable ids (CHUNK cuts them further)."""

from __future__ import annotations

import pytest

from flink_rag.airline.chunking import document_sections, policy_documents, policy_sections

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


def test_sections_become_rows_with_paragraphs_kept_apart():
    sections = document_sections("doc", DOC)
    assert [s["section_id"] for s in sections] == ["doc#intro", "doc#first-part", "doc#second-part"]
    assert sections[0]["text"] == "Intro paragraph spanning two lines."
    assert sections[0]["section"] == "Title"
    assert sections[1]["text"] == "- item one continued\n\n- item two"
    assert sections[2] == {
        "section_id": "doc#second-part",
        "doc_id": "doc",
        "title": "Title",
        "section": "Second part",
        "text": "Alpha. Beta.\n\nGamma.",
    }


def test_ids_are_stable_and_unique_over_bundled_policies():
    first = policy_sections()
    assert first == policy_sections()
    ids = [s["section_id"] for s in first]
    assert len(ids) == len(set(ids))
    assert {"rebooking", "compensation", "loyalty", "special_assistance"} <= set(policy_documents())
    assert any("EUR 600" in s["text"] for s in first)
