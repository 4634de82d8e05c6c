"""Exact vector scores for scan mode, on the same scale Atlas's `vectorSearchScore` uses.

Atlas normalizes scores to [0, 1]: cosine → (1 + cos) / 2, dotProduct → (1 + dot) / 2 (Atlas
requires unit-length vectors for dotProduct), euclidean → 1 / (1 + distance). Scan mode uses
these formulas so a threshold tuned locally means the same on Atlas.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .errors import ConfigError, DimensionMismatchError, InputError

COSINE = "cosine"
EUCLIDEAN = "euclidean"
DOT_PRODUCT = "dotProduct"
SIMILARITIES = (COSINE, EUCLIDEAN, DOT_PRODUCT)


def normalize_similarity(name: str) -> str:
    """Atlas's spelling of a similarity name given in any case ('dotproduct' → 'dotProduct')."""
    for known in SIMILARITIES:
        if name.strip().lower() == known.lower():
            return known
    raise ConfigError(f"similarity {name!r} is not one of {', '.join(SIMILARITIES)}")


def as_vector(values: Sequence[float] | np.ndarray, dimensions: int | None = None) -> np.ndarray:
    """A query vector as a finite 1-D float64 array; InputError otherwise."""
    try:
        vector = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise InputError("query vector must be an array of numbers") from err
    if vector.ndim != 1 or vector.size == 0:
        raise InputError(f"query vector must be a non-empty 1-D array, got shape {vector.shape}")
    if dimensions is not None and vector.size != dimensions:
        raise DimensionMismatchError(
            f"query vector has {vector.size} dimensions but the index has {dimensions}; "
            "embed with the model the index was built for"
        )
    if not np.all(np.isfinite(vector)):
        raise InputError("query vector contains NaN or infinite values")
    return vector


def scores(query: np.ndarray, matrix: np.ndarray, similarity: str) -> np.ndarray:
    """Score each row of `matrix` (n×d) against `query` (d); NaN where a score is undefined.

    Cosine is undefined for a zero-length document vector (Atlas does not index those), so it
    gets NaN and is dropped by `top_k`. A zero-length query vector has no cosine at all: InputError.
    """
    similarity = normalize_similarity(similarity)
    matrix = np.asarray(matrix, dtype=np.float64)
    if matrix.ndim != 2 or matrix.shape[0] == 0:
        return np.empty(0, dtype=np.float64)
    if similarity == EUCLIDEAN:
        distances = np.linalg.norm(matrix - query, axis=1)
        return 1.0 / (1.0 + distances)
    dots = matrix @ query
    if similarity == DOT_PRODUCT:
        return (1.0 + dots) / 2.0
    query_norm = float(np.linalg.norm(query))
    if query_norm == 0.0:
        raise InputError("query vector has zero length; cosine similarity is undefined for it")
    norms = np.linalg.norm(matrix, axis=1) * query_norm
    with np.errstate(divide="ignore", invalid="ignore"):
        cosines = np.where(norms > 0.0, dots / norms, np.nan)
    return (1.0 + np.clip(cosines, -1.0, 1.0)) / 2.0


def top_k(values: np.ndarray, k: int, min_score: float | None = None) -> np.ndarray:
    """Indices of the k best scores, best first (ties: input order); NaN and < min_score dropped."""
    values = np.asarray(values, dtype=np.float64)
    keep = np.flatnonzero(~np.isnan(values))
    if min_score is not None:
        keep = keep[values[keep] >= min_score]
    if keep.size == 0 or k <= 0:
        return np.empty(0, dtype=np.intp)
    if keep.size > k:
        # partition finds the k-th best in O(n); ties at that boundary are resolved by index below.
        kth = np.partition(values[keep], keep.size - k)[keep.size - k]
        keep = keep[values[keep] >= kth]
    order = np.lexsort((keep, -values[keep]))
    return keep[order][:k]
