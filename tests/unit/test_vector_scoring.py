"""Scan-mode scores on Atlas's vectorSearchScore scale, and top-k selection."""

from __future__ import annotations

import math

import numpy as np
import pytest

from flink_rag.connectors.errors import ConfigError, DimensionMismatchError, InputError
from flink_rag.connectors.vector_scoring import (
    as_vector,
    normalize_similarity,
    scores,
    top_k,
)

pytestmark = pytest.mark.unit


def test_cosine_hand_computed():
    query = np.array([1.0, 0.0])
    docs = np.array([[1.0, 0.0], [0.0, 2.0], [-3.0, 0.0], [1.0, 1.0]])
    got = scores(query, docs, "cosine")
    # (1 + cos) / 2 with cos = 1, 0, -1, 1/sqrt(2)
    assert got == pytest.approx([1.0, 0.5, 0.0, (1 + 1 / math.sqrt(2)) / 2])


def test_euclidean_hand_computed():
    query = np.array([0.0, 0.0])
    docs = np.array([[0.0, 0.0], [3.0, 4.0], [1.0, 0.0]])
    # 1 / (1 + d) with d = 0, 5, 1
    assert scores(query, docs, "euclidean") == pytest.approx([1.0, 1 / 6, 0.5])


def test_dot_product_hand_computed():
    query = np.array([0.6, 0.8])
    docs = np.array([[0.6, 0.8], [0.8, -0.6], [-0.6, -0.8]])
    # (1 + dot) / 2 with dot = 1, 0, -1
    assert scores(query, docs, "dotProduct") == pytest.approx([1.0, 0.5, 0.0])


def test_cosine_agrees_with_atlas_formula_on_random_vectors():
    rng = np.random.default_rng(7)
    query, docs = rng.normal(size=16), rng.normal(size=(50, 16))
    expected = [
        (1 + float(np.dot(query, d) / (np.linalg.norm(query) * np.linalg.norm(d)))) / 2
        for d in docs
    ]
    assert scores(query, docs, "cosine") == pytest.approx(expected, abs=1e-12)


def test_dot_equals_cosine_for_unit_vectors():
    rng = np.random.default_rng(3)
    query = rng.normal(size=8)
    query /= np.linalg.norm(query)
    docs = rng.normal(size=(20, 8))
    docs /= np.linalg.norm(docs, axis=1, keepdims=True)
    assert scores(query, docs, "dotProduct") == pytest.approx(scores(query, docs, "cosine"))


def test_cosine_is_scale_invariant():
    query = np.array([1.0, 2.0, 3.0])
    docs = np.array([[2.0, 1.0, 0.5]])
    assert scores(query * 10, docs * 0.01, "cosine") == pytest.approx(scores(query, docs, "cosine"))


def test_zero_document_vector_has_no_cosine_score():
    got = scores(np.array([1.0, 0.0]), np.array([[0.0, 0.0], [1.0, 0.0]]), "cosine")
    assert math.isnan(got[0])
    assert got[1] == pytest.approx(1.0)
    assert top_k(got, 5).tolist() == [1]


def test_zero_query_vector_is_an_input_error_for_cosine():
    with pytest.raises(InputError, match="zero length"):
        scores(np.zeros(2), np.array([[1.0, 0.0]]), "cosine")


def test_zero_query_vector_is_fine_for_euclidean():
    assert scores(np.zeros(2), np.array([[3.0, 4.0]]), "euclidean") == pytest.approx([1 / 6])


def test_empty_matrix_gives_no_scores():
    assert scores(np.ones(3), np.empty((0, 3)), "cosine").size == 0


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("cosine", "cosine"), ("dotproduct", "dotProduct"), ("DOTPRODUCT", "dotProduct"),
     ("Euclidean", "euclidean")],
)  # fmt: skip
def test_normalize_similarity(raw, expected):
    assert normalize_similarity(raw) == expected


def test_unknown_similarity():
    with pytest.raises(ConfigError, match="manhattan"):
        normalize_similarity("manhattan")


def test_top_k_orders_best_first_and_breaks_ties_by_position():
    values = np.array([0.2, 0.9, 0.5, 0.9, 0.1])
    assert top_k(values, 3).tolist() == [1, 3, 2]
    assert top_k(values, 1).tolist() == [1]
    assert top_k(values, 10).tolist() == [1, 3, 2, 0, 4]


def test_top_k_tie_at_the_boundary_keeps_earliest():
    values = np.array([0.5, 0.7, 0.5, 0.5])
    assert top_k(values, 2).tolist() == [1, 0]


def test_top_k_min_score_and_nan():
    values = np.array([0.2, np.nan, 0.8, 0.6])
    assert top_k(values, 3, min_score=0.6).tolist() == [2, 3]
    assert top_k(values, 3, min_score=0.95).tolist() == []


def test_top_k_matches_full_sort_on_large_input():
    rng = np.random.default_rng(11)
    values = rng.random(5000)
    assert top_k(values, 25).tolist() == np.argsort(-values, kind="stable")[:25].tolist()


def test_as_vector_checks_shape_dimensions_and_values():
    assert as_vector([1, 2, 3], 3).tolist() == [1.0, 2.0, 3.0]
    with pytest.raises(DimensionMismatchError, match="2 dimensions but the index has 3"):
        as_vector([1, 2], 3)
    with pytest.raises(InputError, match="NaN"):
        as_vector([1.0, float("nan")])
    with pytest.raises(InputError, match="1-D"):
        as_vector([[1.0, 2.0]])
    with pytest.raises(InputError, match="1-D"):
        as_vector([])
    with pytest.raises(InputError, match="numbers"):
        as_vector(["a", "b"])
