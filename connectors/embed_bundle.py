"""A bundle of rows through one Embedder: `embed_texts`, the orchestration every provider
shares (the contract is embedding.py's).

NULL handling, input checks, dedupe, truncation by tokens, request planning within the
provider's limits, concurrency, bisecting a rejected request down to the row at fault,
dimension checks, the response cache and metrics: every provider behaves the same because
none of it is written in a provider.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from .batching import is_row_fault, plan_batches, split_in_half
from .embedding import EMPTY, Embedder, EmbedResult, Vector, input_problem, is_empty
from .errors import FlinkRagError, ProviderError
from .metrics import Metrics, NullMetrics
from .response_cache import ResponseCache, cache_key, open_cache
from .settings import EmbedSettings


def embed_texts(
    embedder: Embedder,
    texts: Sequence[Any],
    settings: EmbedSettings,
    metrics: Metrics | None = None,
    cache: ResponseCache | None = None,
) -> list[EmbedResult]:
    """One EmbedResult per input, in order; never raises for one row's problem.

    NULL/blank inputs give (None, None) without a call; identical texts are sent once; over-long
    texts are truncated by tokens (or rejected with on-overlong=error); requests are planned
    within `max_batch_inputs`/`max_batch_tokens` and run `concurrency` at a time. With
    on-error=fail a provider failure (after the call policy's retries and waits) raises
    ProviderError instead.
    """
    metrics = metrics or NullMetrics()
    if cache is None:
        cache = open_cache(settings.cache_dir, settings.cache_max_bytes)
    results: list[EmbedResult] = [EMPTY] * len(texts)
    limit = min(
        (x for x in (settings.max_input_tokens, embedder.max_input_tokens) if x), default=None
    )

    # Group rows by the exact text that will be sent (after truncation): each is sent once.
    rows_by_text: dict[str, list[int]] = {}
    tokens_by_text: dict[str, int] = {}
    originals: dict[str, list[int]] = {}
    counted = 0  # one incr per batch: a locked counter per row showed in worker profiles
    for row, value in enumerate(texts):
        if is_empty(value):
            continue
        counted += 1
        problem = input_problem(value)
        if problem:
            results[row] = EmbedResult(None, problem)
            continue
        originals.setdefault(value, []).append(row)
    metrics.incr("embed_rows", counted)
    for text, rows in originals.items():
        try:
            sent, tokens, error = _fit(embedder, text, limit, settings.on_overlong)
        except FlinkRagError:
            raise  # a configuration problem (e.g. the model cannot load) is not a row's fault
        except Exception as err:  # a tokenizer choking on one text costs that row only
            sent, tokens, error = "", 0, f"text cannot be tokenized ({type(err).__name__})"
        if error is not None:
            for row in rows:
                results[row] = EmbedResult(None, error)
            continue
        if sent != text:
            metrics.incr("embed_truncated", len(rows))
        rows_by_text.setdefault(sent, []).extend(rows)
        tokens_by_text[sent] = tokens

    outcomes = _lookup_cache(embedder, list(rows_by_text), cache, metrics)
    todo = [text for text in rows_by_text if text not in outcomes]
    outcomes.update(_embed_planned(embedder, todo, tokens_by_text, settings, metrics))
    _check_dimensions(embedder, outcomes)
    _store_cache(embedder, todo, outcomes, cache)

    first_provider_error: str | None = None
    for text, rows in rows_by_text.items():
        outcome = outcomes[text]
        for row in rows:
            results[row] = outcome
        first_provider_error = first_provider_error or outcome.error
    metrics.incr("embed_errors", sum(1 for r in results if r.error))
    if settings.on_error == "fail" and first_provider_error:
        raise ProviderError(
            f"{first_provider_error} (flink-rag.embed.on-error=fail stops the job; set it to "
            "'null' to keep going with NULL embeddings)"
        )
    return results


def _fit(
    embedder: Embedder, text: str, limit: int | None, on_overlong: str
) -> tuple[str, int, str | None]:
    """(text to send, its tokens, error): over-long text is truncated by tokens or refused."""
    tokens = embedder.count_tokens(text)
    if limit is None or tokens <= limit:
        return text, tokens, None
    if on_overlong == "error":
        return (
            text,
            tokens,
            (
                f"text has {tokens} tokens, over the limit of {limit}; shorten it, or set "
                "flink-rag.embed.on-overlong=truncate"
            ),
        )
    cut = embedder.truncate(text, limit)
    return cut, embedder.count_tokens(cut), None


# A remote provider's bundle is cut into up to `concurrency` requests so their waits overlap;
# requests below this size are not worth the extra round trip.
MIN_SPLIT_INPUTS = 32


def _inputs_per_request(n: int, embedder: Embedder, settings: EmbedSettings) -> int:
    if not embedder.overlaps_requests or settings.concurrency <= 1:
        return settings.max_batch_inputs
    share = math.ceil(n / settings.concurrency)
    return max(1, min(settings.max_batch_inputs, max(MIN_SPLIT_INPUTS, share)))


def _embed_planned(
    embedder: Embedder,
    texts: list[str],
    tokens_by_text: dict[str, int],
    settings: EmbedSettings,
    metrics: Metrics,
) -> dict[str, EmbedResult]:
    if not texts:
        return {}
    batches = plan_batches(
        [tokens_by_text[t] for t in texts],
        _inputs_per_request(len(texts), embedder, settings),
        settings.max_batch_tokens,
    )

    def run(indices: tuple[int, ...]) -> dict[str, EmbedResult]:
        return _embed_bisecting(embedder, [texts[i] for i in indices], tokens_by_text, metrics)

    outcomes: dict[str, EmbedResult] = {}
    if len(batches) == 1 or settings.concurrency <= 1:
        for batch in batches:
            outcomes.update(run(batch.indices))
        return outcomes
    with ThreadPoolExecutor(max_workers=min(settings.concurrency, len(batches))) as pool:
        for part in pool.map(run, [b.indices for b in batches]):
            outcomes.update(part)
    return outcomes


# A text every embedding model takes: if a request of it alone is refused like the batch was,
# the options (model, dimensions, a proxy), not the rows, are what the provider rejects.
_CANARY_TEXT = "flight"


def _embed_bisecting(
    embedder: Embedder,
    texts: list[str],
    tokens_by_text: dict[str, int],
    metrics: Metrics,
    canary_checked: bool = False,
) -> dict[str, EmbedResult]:
    """Embed one request; if the provider rejects its content, split it to find the bad rows.

    Before splitting, one request of a harmless text tells a row fault from a configuration
    fault: a 400 caused by the options fails every request, and bisecting 256 rows would send
    511 requests to get 256 copies of the same error."""
    started = time.perf_counter()
    metrics.incr("embed_requests")
    try:
        vectors = embedder.embed_batch(texts)
    except ProviderError as err:
        metrics.observe("embed_latency_ms", (time.perf_counter() - started) * 1000)
        if len(texts) > 1 and is_row_fault(err.status):
            if not canary_checked and _refused_like(embedder, err, metrics):
                error = f"{err} (a one-word request is refused the same way: check the options)"
                return {text: EmbedResult(None, error) for text in texts}
            left, right = split_in_half(range(len(texts)))
            halves = ([texts[i] for i in left], [texts[i] for i in right])
            found = _embed_bisecting(embedder, halves[0], tokens_by_text, metrics, True)
            found.update(_embed_bisecting(embedder, halves[1], tokens_by_text, metrics, True))
            return found
        return {text: EmbedResult(None, str(err)) for text in texts}
    except Exception as err:  # a provider bug must cost rows, not the job
        metrics.observe("embed_latency_ms", (time.perf_counter() - started) * 1000)
        error = f"embedding failed unexpectedly ({type(err).__name__}: {err}); report this"
        return {text: EmbedResult(None, error) for text in texts}
    metrics.observe("embed_latency_ms", (time.perf_counter() - started) * 1000)
    metrics.incr("embed_tokens", sum(tokens_by_text[t] for t in texts))
    if len(vectors) != len(texts):
        error = (
            f"the provider returned {len(vectors)} vectors for {len(texts)} inputs; "
            "check that the base URL serves an OpenAI-compatible /embeddings endpoint"
        )
        return {text: EmbedResult(None, error) for text in texts}
    return {text: EmbedResult(_as_floats(v), None) for text, v in zip(texts, vectors, strict=True)}


def _refused_like(embedder: Embedder, err: ProviderError, metrics: Metrics) -> bool:
    """Whether a request of the canary text alone fails with the same status as `err`."""
    metrics.incr("embed_requests")
    try:
        embedder.embed_batch([_CANARY_TEXT])
    except ProviderError as canary:
        return canary.status == err.status
    except Exception:  # not the same refusal: let bisection find the rows
        return False
    return False


def _as_floats(vector: Any) -> Vector:
    if isinstance(vector, list):
        return vector
    if isinstance(vector, np.ndarray) and vector.dtype == np.float32 and vector.ndim == 1:
        return vector  # already what EMBED emits
    return [float(x) for x in vector]


def _all_finite(vector: Vector) -> bool:
    if isinstance(vector, np.ndarray):
        return bool(np.isfinite(vector).all())
    return math.isfinite(math.fsum(vector))  # NaN/inf anywhere makes the sum non-finite


def _check_dimensions(embedder: Embedder, outcomes: dict[str, EmbedResult]) -> None:
    """Every vector must have the model's dimension count and finite values."""
    for text, outcome in outcomes.items():
        vector = outcome.vector
        if vector is None:
            continue
        if embedder.dimensions is None:
            embedder.dimensions = len(vector)  # learnt once from the first answer
        if len(vector) != embedder.dimensions:
            outcomes[text] = EmbedResult(
                None,
                f"the provider returned a {len(vector)}-dimension vector, expected "
                f"{embedder.dimensions}; check flink-rag.embed.model and .dimensions",
            )
        elif not _all_finite(vector):
            outcomes[text] = EmbedResult(None, "the provider returned NaN or infinite values")


def _lookup_cache(
    embedder: Embedder, texts: list[str], cache: ResponseCache | None, metrics: Metrics
) -> dict[str, EmbedResult]:
    if cache is None or not texts:
        return {}
    found: dict[str, EmbedResult] = {}
    for text in texts:
        vector = cache.get(
            cache_key(embedder.provider, embedder.model, embedder.cache_params(), text)
        )
        if isinstance(vector, list):
            found[text] = EmbedResult(vector, None)
    metrics.incr("embed_cache_hits", len(found))
    metrics.incr("embed_cache_misses", len(texts) - len(found))
    return found


def _store_cache(
    embedder: Embedder,
    texts: list[str],
    outcomes: dict[str, EmbedResult],
    cache: ResponseCache | None,
) -> None:
    if cache is None:
        return
    for text in texts:
        vector = outcomes[text].vector
        if vector is not None:  # errors are never cached
            stored = vector.tolist() if isinstance(vector, np.ndarray) else vector
            cache.set(
                cache_key(embedder.provider, embedder.model, embedder.cache_params(), text), stored
            )
