"""Split policy documents into passages with stable ids.

A passage id is `<doc_id>#<section-slug>-<n>`: it depends only on the document
name, the section heading and the passage's position inside the section, so
re-ingesting the same documents upserts the same keys.
"""

from __future__ import annotations

import re
from importlib import resources

DEFAULT_MAX_CHARS = 900
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


def chunk_document(doc_id: str, markdown: str, max_chars: int = DEFAULT_MAX_CHARS) -> list[dict]:
    """Passages of at most ~`max_chars`, never splitting a paragraph."""
    passages: list[dict] = []
    for title, heading, paragraphs in _sections(markdown):
        groups: list[list[str]] = [[]]
        for p in paragraphs:
            if groups[-1] and len(" ".join([*groups[-1], p])) > max_chars:
                groups.append([])
            groups[-1].append(p)
        section = heading or title
        for n, group in enumerate(groups, start=1):
            body = "\n".join(group)
            passages.append(
                {
                    "passage_id": f"{doc_id}#{slug(heading)}-{n}",
                    "doc_id": doc_id,
                    "title": title,
                    "section": section,
                    # The heading travels with the text so a passage is understandable alone.
                    "text": f"{title} - {section}: {body}" if heading else f"{title}: {body}",
                }
            )
    return passages


def policy_documents() -> dict[str, str]:
    """Bundled policy documents: doc id (file stem) -> markdown, sorted by id."""
    folder = resources.files("flink_rag.airline") / "policies"
    docs = {
        entry.name.removesuffix(".md"): entry.read_text(encoding="utf-8")
        for entry in folder.iterdir()
        if entry.name.endswith(".md")
    }
    return dict(sorted(docs.items()))


def policy_passages(max_chars: int = DEFAULT_MAX_CHARS) -> list[dict]:
    return [
        passage
        for doc_id, text in policy_documents().items()
        for passage in chunk_document(doc_id, text, max_chars)
    ]
