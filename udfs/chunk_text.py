"""Token-bounded chunking, pure: no Flink, no model. CHUNK (udfs/chunk.py) runs it per row.

A chunk holds at most `max_tokens` tokens as counted by the given counter. Text is cut between
paragraphs (blank lines) where it can, else between sentences, and only a sentence longer than
a chunk is cut between words. Each chunk after the first starts with up to `overlap` tokens
from the end of the previous one (whole sentences if they fit, else trailing words), so a
passage cut at a boundary is still found from either side.

Chunk ids are `<doc_id>#<position>` (position from 0): the same text gives the same ids, so
re-ingesting a document replaces its chunks instead of adding new ones.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

Counter = Callable[[str], int]

_PARAGRAPH_BREAK = re.compile(r"\n\s*\n")
# A sentence ends at . ! ? (optionally followed by a closing quote or bracket) before a space.
_SENTENCE_END = re.compile(r"(?:(?<=[.!?])|(?<=[.!?][\"')\]]))\s+")


@dataclass(frozen=True)
class Chunk:
    chunk_id: str
    position: int
    content: str
    tokens: int


def chunk_id(doc_id: str, position: int) -> str:
    return f"{doc_id}#{position}"


def check_limits(max_tokens: int | None, overlap: int | None) -> str | None:
    """The reason the limits are unusable, or None."""
    if max_tokens is None or max_tokens < 1:
        return f"max_tokens must be >= 1, got {max_tokens}"
    if overlap is None or overlap < 0:
        return f"overlap must be >= 0, got {overlap}"
    if overlap * 2 > max_tokens:
        return f"overlap ({overlap}) must be at most half of max_tokens ({max_tokens})"
    return None


def paragraphs(text: str) -> list[str]:
    """Paragraphs with their inner line breaks folded to spaces."""
    return [" ".join(p.split()) for p in _PARAGRAPH_BREAK.split(text) if p.strip()]


def sentences(paragraph: str) -> list[str]:
    return [s.strip() for s in _SENTENCE_END.split(paragraph) if s.strip()]


def _split_words(text: str, limit: int, count: Counter) -> list[str]:
    """Pieces of at most `limit` tokens, cut between words (inside a word only if one word is
    longer than `limit`)."""
    pieces: list[str] = []
    current: list[str] = []
    for word in text.split():
        candidate = " ".join([*current, word])
        if current and count(candidate) > limit:
            pieces.append(" ".join(current))
            current = [word]
        else:
            current.append(word)
        while count(" ".join(current)) > limit and len(current) == 1:
            head, current[0] = _split_long_word(current[0], limit, count)
            pieces.append(head)
    if current:
        pieces.append(" ".join(current))
    return pieces


def _split_long_word(word: str, limit: int, count: Counter) -> tuple[str, str]:
    cut = len(word)
    while cut > 1 and count(word[:cut]) > limit:
        cut = max(1, cut * limit // max(count(word[:cut]), 1))
        while cut > 1 and count(word[:cut]) > limit:
            cut -= 1
    return word[:cut], word[cut:]


def _units(text: str, limit: int, count: Counter) -> list[tuple[str, bool]]:
    """(piece, starts_paragraph): paragraphs that fit, else their sentences, else word runs."""
    units: list[tuple[str, bool]] = []
    for para in paragraphs(text):
        if count(para) <= limit:
            units.append((para, True))
            continue
        first = True
        for sentence in sentences(para):
            parts = [sentence] if count(sentence) <= limit else _split_words(sentence, limit, count)
            for part in parts:
                units.append((part, first))
                first = False
    return units


def _join(pieces: list[tuple[str, bool]]) -> str:
    out = ""
    for i, (piece, new_paragraph) in enumerate(pieces):
        out += piece if i == 0 else ("\n\n" if new_paragraph else " ") + piece
    return out


def _tail(pieces: list[tuple[str, bool]], overlap: int, count: Counter) -> list[tuple[str, bool]]:
    """The end of a chunk, at most `overlap` tokens: whole pieces (sentences) if any fit,
    else its trailing words."""
    if overlap <= 0 or not pieces:
        return []
    tail: list[tuple[str, bool]] = []
    for piece in reversed(pieces):
        if count(_join([piece, *tail])) > overlap:
            break
        tail.insert(0, piece)
    if tail:
        return [(tail[0][0], True), *tail[1:]]
    words = pieces[-1][0].split()
    kept: list[str] = []
    for word in reversed(words):
        if count(" ".join([word, *kept])) > overlap:
            break
        kept.insert(0, word)
    return [(" ".join(kept), True)] if kept else []


def chunk(doc_id: str, text: str, max_tokens: int, overlap: int, count: Counter) -> list[Chunk]:
    """The chunks of `text`; ValueError if the limits are unusable (see check_limits)."""
    problem = check_limits(max_tokens, overlap)
    if problem:
        raise ValueError(problem)
    # Room for the overlap carried into every chunk after the first.
    limit = max_tokens - overlap if overlap else max_tokens
    groups: list[list[tuple[str, bool]]] = []
    current: list[tuple[str, bool]] = []
    fresh = True  # current holds only carried-over overlap (or nothing)
    for unit in _units(text, limit, count):
        if current and not fresh and count(_join([*current, unit])) > max_tokens:
            groups.append(current)
            current = _tail(current, overlap, count)
            fresh = True
            if current and count(_join([*current, unit])) > max_tokens:
                current = []
        current.append(unit)
        fresh = False
    if current and not fresh:
        groups.append(current)
    chunks = []
    for position, group in enumerate(groups):
        content = _join(group)
        chunks.append(Chunk(chunk_id(doc_id, position), position, content, count(content)))
    return chunks


def word_count(text: str) -> int:
    """A tokenizer-free estimate: words and punctuation marks (close to WordPiece/BPE counts
    of English prose, a little under them)."""
    return len(re.findall(r"\w+|[^\w\s]", text))
