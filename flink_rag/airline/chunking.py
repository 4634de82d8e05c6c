"""Policy documents as source rows: one record per markdown section, with a stable id.

Splitting into token-bounded chunks is not done here: the ingestion SQL runs CHUNK over each
section (sql/ingest_policies.sql), so the same job indexes these rows and anyone else's table.
A section id is `<doc_id>#<section-slug>`; CHUNK's chunk ids (`<section_id>#<n>`) follow.
"""

from __future__ import annotations

import re
from importlib import resources

_LIST_ITEM = re.compile(r"\s*(- |\d+\. )")


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "intro"


def _sections(markdown: str) -> list[tuple[str, str, list[str]]]:
    """(title, section heading, paragraphs) for each `#`/`##` section."""
    title = ""
    heading = ""
    out: list[tuple[str, str, list[str]]] = []
    paragraphs: list[str] = []
    current: list[str] = []

    def flush_paragraph() -> None:
        if current:
            paragraphs.append(" ".join(s.strip() for s in current))
            current.clear()

    def flush_section() -> None:
        flush_paragraph()
        if paragraphs:
            out.append((title, heading, list(paragraphs)))
            paragraphs.clear()

    for line in markdown.splitlines():
        if line.startswith("# "):
            flush_section()
            title = line[2:].strip()
            heading = ""
        elif line.startswith("## "):
            flush_section()
            heading = line[3:].strip()
        elif not line.strip():
            flush_paragraph()
        elif _LIST_ITEM.match(line):
            flush_paragraph()  # a list item starts its own paragraph
            current.append(line)
        else:
            current.append(line)
    flush_section()
    return out


def document_sections(doc_id: str, markdown: str) -> list[dict]:
    """One row per section: paragraphs separated by blank lines, for CHUNK to cut between."""
    return [
        {
            "section_id": f"{doc_id}#{slug(heading)}",
            "doc_id": doc_id,
            "title": title,
            "section": heading or title,
            "text": "\n\n".join(paragraphs),
        }
        for title, heading, paragraphs in _sections(markdown)
    ]


def policy_documents() -> dict[str, str]:
    """Bundled policy documents: doc id (file stem) -> markdown, sorted by id."""
    folder = resources.files("flink_rag.airline") / "policies"
    docs = {
        entry.name.removesuffix(".md"): entry.read_text(encoding="utf-8")
        for entry in folder.iterdir()
        if entry.name.endswith(".md")
    }
    return dict(sorted(docs.items()))


def policy_sections() -> list[dict]:
    return [
        section
        for doc_id, text in policy_documents().items()
        for section in document_sections(doc_id, text)
    ]


def section_of(passage_id: str, sections: list[dict]) -> dict | None:
    """The policy section a stored passage id names: a section id, or one of CHUNK's chunk
    ids `<section_id>#<n>` (what the policies store holds and an answer cites)."""
    by_id = {s["section_id"]: s for s in sections}
    head, _, tail = passage_id.rpartition("#")
    return by_id.get(passage_id) or (by_id.get(head) if tail.isdigit() else None)
