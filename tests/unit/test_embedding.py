"""embed_texts over a fake Embedder: NULLs, bad input, dedupe, truncation, planning,
bisecting, provider failures, dimension checks, concurrency and the cache."""

import threading
from collections.abc import Sequence

import pytest

from flink_rag.connectors.embed_bundle import embed_texts
from flink_rag.connectors.embedding import Embedder, EmbedResult
from flink_rag.connectors.errors import ProviderError
from flink_rag.connectors.metrics import RecordingMetrics
from flink_rag.connectors.response_cache import ResponseCache
from flink_rag.connectors.settings import EmbedSettings

pytestmark = pytest.mark.unit

DIMS = 3


def vector_for(text: str) -> list[float]:
    return [float(len(text)), float(sum(map(ord, text)) % 97), 1.0]


class FakeEmbedder(Embedder):
    """Tokens are words; 'POISON' makes a request fail with 400, 'BUSY' with 429."""

    provider = "fake"
    model = "fake-model"

    def __init__(self, dimensions: int | None = DIMS, max_input_tokens: int | None = None):
        self.dimensions = dimensions
        self.max_input_tokens = max_input_tokens
        self.calls: list[list[str]] = []
        self.lock = threading.Lock()
        self.barrier: threading.Barrier | None = None

    def count_tokens(self, text: str) -> int:
        return len(text.split())

    def truncate(self, text: str, max_tokens: int) -> str:
        return " ".join(text.split()[:max_tokens])

    def embed_batch(self, texts: Sequence[str]) -> list[list[float]]:
        with self.lock:
            self.calls.append(list(texts))
        if self.barrier is not None:
            self.barrier.wait()  # only passes if two requests are in flight at once
        if any("POISON" in t for t in texts):
            raise ProviderError("embedding failed with HTTP 400: bad input", status=400)
        if any("BUSY" in t for t in texts):
            raise ProviderError("embedding failed with HTTP 429 after 6 retries", status=429)
        return [[1.0, 2.0] if "WRONGDIM" in t else vector_for(t) for t in texts]


def settings(**changes) -> EmbedSettings:
    return EmbedSettings(provider="local").model_copy(update=changes)


def test_null_and_blank_give_empty_results_without_a_call():
    fake, metrics = FakeEmbedder(), RecordingMetrics()
    results = embed_texts(fake, [None, "", "   ", float("nan")], settings(), metrics)
    assert results == [EmbedResult(None, None)] * 4
    assert fake.calls == []
    assert metrics.counters["embed_requests"] == 0


def test_each_row_gets_the_vector_of_its_own_text():
    fake = FakeEmbedder()
    texts = [f"row number {i}" for i in range(50)]
    results = embed_texts(fake, texts, settings(), RecordingMetrics())
    assert [r.vector for r in results] == [vector_for(t) for t in texts]
    assert all(r.error is None for r in results)


def test_bad_inputs_are_per_row_errors():
    fake = FakeEmbedder()
    results = embed_texts(fake, ["ok", 42, "bad \ud800 text", b"bytes"], settings())
    assert results[0] == EmbedResult(vector_for("ok"), None)
    assert results[1].vector is None and "must be a STRING, got int" in results[1].error
    assert results[2].vector is None and "not valid UTF-8" in results[2].error
    assert results[3].vector is None and "got bytes" in results[3].error
    assert fake.calls == [["ok"]]


def test_identical_texts_are_sent_once():
    fake, metrics = FakeEmbedder(), RecordingMetrics()
    results = embed_texts(fake, ["a b", "c", "a b", "a b", None], settings(), metrics)
    assert fake.calls == [["a b", "c"]]
    assert results[0] == results[2] == results[3] == EmbedResult(vector_for("a b"), None)
    assert metrics.counters["embed_rows"] == 4
    assert metrics.counters["embed_tokens"] == 3


def test_overlong_text_is_truncated_by_tokens_and_counted():
    fake, metrics = FakeEmbedder(max_input_tokens=3), RecordingMetrics()
    results = embed_texts(fake, ["one two three four five", "short"], settings(), metrics)
    assert fake.calls == [["one two three", "short"]]
    assert results[0].vector == vector_for("one two three")
    assert metrics.counters["embed_truncated"] == 1


def test_settings_limit_wins_when_it_is_lower():
    fake = FakeEmbedder(max_input_tokens=100)
    embed_texts(fake, ["a b c d"], settings(max_input_tokens=2))
    assert fake.calls == [["a b"]]


def test_overlong_text_is_an_error_when_configured():
    fake = FakeEmbedder(max_input_tokens=3)
    results = embed_texts(fake, ["one two three four", "ok"], settings(on_overlong="error"))
    assert results[0].vector is None
    assert "4 tokens, over the limit of 3" in results[0].error
    assert "on-overlong=truncate" in results[0].error
    assert results[1].vector == vector_for("ok")
    assert fake.calls == [["ok"]]


def test_requests_respect_both_batch_caps():
    fake, metrics = FakeEmbedder(), RecordingMetrics()
    texts = [f"w{i} x y" for i in range(10)]  # 3 tokens each
    embed_texts(fake, texts, settings(max_batch_inputs=4, max_batch_tokens=9), metrics)
    assert sorted(len(c) for c in fake.calls) == [1, 3, 3, 3]
    assert sorted(t for c in fake.calls for t in c) == sorted(texts)
    assert metrics.counters["embed_requests"] == 4


def test_a_rejected_batch_is_bisected_so_only_the_bad_row_fails():
    fake, metrics = FakeEmbedder(), RecordingMetrics()
    texts = [f"good {i}" for i in range(7)] + ["POISON pill"]
    results = embed_texts(fake, texts, settings(), metrics)
    assert [r.vector for r in results[:7]] == [vector_for(t) for t in texts[:7]]
    assert results[7].vector is None and "HTTP 400" in results[7].error
    assert metrics.counters["embed_errors"] == 1
    # 8, a one-word canary that passes (so the rows are at fault), then 4+4 -> 2+2 -> 1+1:
    # the good halves succeed on their own
    assert metrics.counters["embed_requests"] == 8
    assert ["POISON pill"] in fake.calls


def test_a_configuration_400_is_one_error_for_the_batch_not_a_bisection():
    """A 400 the options cause (say, `dimensions` on a model without it) fails every request:
    256 rows must cost 2 requests (the batch and a one-word canary), not 511."""

    class Misconfigured(FakeEmbedder):
        def embed_batch(self, texts):
            with self.lock:
                self.calls.append(list(texts))
            raise ProviderError(
                "embedding failed with HTTP 400: dimensions unsupported", status=400
            )

    fake, metrics = Misconfigured(), RecordingMetrics()
    texts = [f"row {i}" for i in range(256)]
    results = embed_texts(fake, texts, settings(max_batch_inputs=256), metrics)
    assert len(fake.calls) == 2 and metrics.counters["embed_requests"] == 2
    assert all(r.vector is None and "check the options" in r.error for r in results)


def test_rate_limit_after_retries_marks_the_whole_batch_without_bisecting():
    fake = FakeEmbedder()
    texts = ["BUSY a", "b", "c"]
    results = embed_texts(fake, texts, settings())
    assert len(fake.calls) == 1
    assert all(r.vector is None and "HTTP 429" in r.error for r in results)


def test_other_batches_survive_a_failed_batch():
    fake = FakeEmbedder()
    texts = ["BUSY a", "b", "c", "d"]
    results = embed_texts(fake, texts, settings(max_batch_inputs=2))
    assert [r.vector is None for r in results] == [True, True, False, False]
    assert results[2].vector == vector_for("c")


def test_on_error_fail_raises_after_provider_failure():
    with pytest.raises(ProviderError, match="on-error=fail"):
        embed_texts(FakeEmbedder(), ["BUSY x", "y"], settings(on_error="fail"))


def test_on_error_fail_keeps_input_errors_per_row():
    results = embed_texts(FakeEmbedder(), [7, "y"], settings(on_error="fail"))
    assert "must be a STRING" in results[0].error
    assert results[1].vector == vector_for("y")


def test_a_vector_of_the_wrong_size_is_a_row_error():
    results = embed_texts(FakeEmbedder(), ["fine", "WRONGDIM here"], settings())
    assert results[0].vector == vector_for("fine")
    assert results[1].vector is None
    assert "2-dimension vector, expected 3" in results[1].error


def test_unknown_dimensions_are_learnt_from_the_first_answer():
    fake = FakeEmbedder(dimensions=None)
    results = embed_texts(fake, ["fine", "WRONGDIM here"], settings())
    assert fake.dimensions == DIMS
    assert results[1].error is not None


def test_wrong_vector_count_fails_the_batch():
    class Short(FakeEmbedder):
        def embed_batch(self, texts):
            return super().embed_batch(texts)[:-1]

    results = embed_texts(Short(), ["a", "b"], settings())
    assert all(r.vector is None and "1 vectors for 2 inputs" in r.error for r in results)


def test_an_unexpected_exception_costs_rows_not_the_job():
    class Broken(FakeEmbedder):
        def embed_batch(self, texts):
            raise RuntimeError("boom")

    results = embed_texts(Broken(), ["a"], settings())
    assert results[0].vector is None and "RuntimeError: boom" in results[0].error


def test_batches_run_concurrently():
    fake = FakeEmbedder()
    fake.barrier = threading.Barrier(2, timeout=10)
    results = embed_texts(fake, ["a", "b"], settings(max_batch_inputs=1, concurrency=2))
    assert [r.vector for r in results] == [vector_for("a"), vector_for("b")]


def test_a_remote_providers_bundle_is_split_across_concurrent_requests():
    fake = FakeEmbedder()
    fake.overlaps_requests = True
    texts = [f"t{i}" for i in range(1000)]
    results = embed_texts(fake, texts, settings(concurrency=4))
    assert sorted(len(c) for c in fake.calls) == [250, 250, 250, 250]
    assert [r.vector for r in results] == [vector_for(t) for t in texts]


def test_small_bundles_and_local_models_stay_in_one_request():
    remote = FakeEmbedder()
    remote.overlaps_requests = True
    embed_texts(remote, [f"t{i}" for i in range(40)], settings(concurrency=4))
    local = FakeEmbedder()
    embed_texts(local, [f"t{i}" for i in range(1000)], settings(concurrency=4))
    assert [len(c) for c in remote.calls] == [32, 8]
    assert [len(c) for c in local.calls] == [1000]


def test_cache_hits_skip_the_call_and_errors_are_not_cached(tmp_path):
    cache = ResponseCache(str(tmp_path))
    try:
        first, second = FakeEmbedder(), FakeEmbedder()
        m1, m2 = RecordingMetrics(), RecordingMetrics()
        embed_texts(first, ["x", "BUSY y"], settings(max_batch_inputs=1), m1, cache)
        results = embed_texts(second, ["x", "BUSY y"], settings(max_batch_inputs=1), m2, cache)
        assert results[0] == EmbedResult(vector_for("x"), None)
        assert results[1].error is not None
        assert second.calls == [["BUSY y"]]
        assert (m1.counters["embed_cache_hits"], m1.counters["embed_cache_misses"]) == (0, 2)
        assert (m2.counters["embed_cache_hits"], m2.counters["embed_cache_misses"]) == (1, 1)
    finally:
        cache.close()


def test_a_tokenizer_failure_costs_only_its_row():
    class Picky(FakeEmbedder):
        def count_tokens(self, text):
            if "weird" in text:
                raise ValueError("cannot tokenize")
            return super().count_tokens(text)

    results = embed_texts(Picky(), ["weird one", "normal"], settings())
    assert results[0].vector is None and "cannot be tokenized (ValueError)" in results[0].error
    assert results[1].vector == vector_for("normal")
