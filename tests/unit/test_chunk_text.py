"""Token-bounded chunking: boundaries, limits, overlap, stable ids."""

from __future__ import annotations

import itertools

import pytest

from flink_rag.udfs.chunk_text import check_limits, chunk, paragraphs, sentences, word_count

pytestmark = pytest.mark.unit


def words(n: int, stem: str = "w") -> str:
    return " ".join(f"{stem}{i}" for i in range(n))


def test_short_text_is_one_chunk_with_id_from_doc_and_position():
    out = chunk("faq-7", "How do I change a seat?\n\nOpen the booking.", 50, 0, word_count)
    assert [(c.chunk_id, c.position) for c in out] == [("faq-7#0", 0)]
    assert out[0].content == "How do I change a seat?\n\nOpen the booking."
    assert out[0].tokens == word_count(out[0].content)


def test_paragraph_boundaries_are_preferred_over_sentences():
    first = "Alpha one. Alpha two. Alpha three."  # 9 tokens
    second = "Beta one. Beta two."  # 6 tokens
    out = chunk("d", f"{first}\n\n{second}", 12, 0, word_count)
    assert [c.content for c in out] == [first, second]


def test_long_paragraph_is_cut_between_sentences():
    para = "One two three. Four five six. Seven eight nine."  # 4 tokens per sentence
    out = chunk("d", para, 8, 0, word_count)
    assert [c.content for c in out] == ["One two three. Four five six.", "Seven eight nine."]
    assert all(c.tokens <= 8 for c in out)


def test_overlong_sentence_is_cut_between_words_and_every_chunk_fits():
    text = words(95)
    out = chunk("d", text, 20, 0, word_count)
    assert all(c.tokens <= 20 for c in out)
    assert " ".join(c.content for c in out) == text  # nothing lost, nothing repeated
    assert len(out) == 5


def test_overlap_carries_the_end_of_the_previous_chunk():
    sents = [f"S{i} a b c." for i in range(8)]  # 6 tokens each
    out = chunk("d", " ".join(sents), 20, 6, word_count)
    assert all(c.tokens <= 20 for c in out)
    for prev, nxt in itertools.pairwise(out):
        assert nxt.content.startswith(prev.content.split(". ")[-1].rstrip("."))
    covered = " ".join(c.content for c in out)
    assert all(s in covered for s in sents)


def test_overlap_falls_back_to_trailing_words():
    out = chunk("d", words(60), 20, 5, word_count)
    assert all(c.tokens <= 20 for c in out)
    for prev, nxt in itertools.pairwise(out):
        tail = prev.content.split()[-5:]
        assert nxt.content.split()[:5] == tail


def test_same_text_same_chunks_and_ids():
    text = "\n\n".join(words(30, f"p{i}x") for i in range(4))
    assert chunk("doc", text, 25, 5, word_count) == chunk("doc", text, 25, 5, word_count)


@pytest.mark.parametrize(
    ("max_tokens", "overlap", "reason"),
    [(0, 0, "max_tokens"), (None, 0, "max_tokens"), (10, -1, "overlap"), (10, 6, "half")],
)
def test_unusable_limits_are_named(max_tokens, overlap, reason):
    problem = check_limits(max_tokens, overlap)
    assert problem is not None and reason in problem
    if max_tokens is not None:
        with pytest.raises(ValueError, match=reason):
            chunk("d", "text", max_tokens, overlap, word_count)


def test_paragraphs_and_sentences_split_as_documented():
    assert paragraphs("a\nb\n\n \n\nc") == ["a b", "c"]
    assert sentences('He said "stop." Then left! Why? ok') == [
        'He said "stop."',
        "Then left!",
        "Why?",
        "ok",
    ]
