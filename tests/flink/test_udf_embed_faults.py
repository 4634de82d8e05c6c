"""EMBED / EMBED_RESULT with an OpenAI-compatible provider through SQL: transient 429/500 are
retried, a request the server keeps failing marks its rows (NULL + error) without touching the
other requests' rows, none is lost, and `flink-rag.embed.on-error=fail` fails the job."""

from __future__ import annotations

import numpy as np
import pytest
from udf_sql import collect, strings_table

from flink_rag_bench.fake_responses import embedding_vector

pytestmark = pytest.mark.flink

DIMS = 8


def embed_options(server, **extra: str) -> dict[str, str]:
    return {
        "flink-rag.embed.provider": "openai",
        "flink-rag.embed.base-url": server.base_url,
        "flink-rag.embed.model": "bench-embed",
        "flink-rag.embed.dimensions": str(DIMS),
        "flink-rag.embed.max-retries": "1",
        # A 500 is an outage to EMBED, waited out for up to outage-wait; these tests are about
        # rows the provider refuses (tests/integration/test_embed_outage.py waits one out).
        "flink-rag.embed.outage-wait": "0",
        **{f"flink-rag.embed.{k.replace('_', '-')}": v for k, v in extra.items()},
    }


def test_failed_requests_are_retried_or_marked_and_no_row_is_lost(udf_env, load_server):
    # Requests 1 and 2 fail once (500, then 429 + Retry-After): the SDK's retry recovers them.
    # Every request carrying "poison" fails with 500: its rows (at most one request of 4) are
    # marked with the error, every other row gets its vector.
    load_server.configure(faults=["500:at=1", "429:at=2", "500:every=1:match=poison"])
    texts = [f"text {i}" for i in range(30)] + ["poison row", None, "text 3"]
    t_env = udf_env(embed_options(load_server, max_batch_inputs="4", max_retries="2"))
    strings_table(t_env, "texts", "text", texts)

    rows = collect(
        t_env,
        "SELECT id, text, r.embedding, r.error, EMBED(text) FROM "
        "(SELECT id, text, EMBED_RESULT(text) AS r FROM texts)",
    )

    assert sorted(r[0] for r in rows) == list(range(len(texts)))
    failed = [r for r in rows if r[3] is not None]
    assert "poison row" in {r[1] for r in failed}
    assert 1 <= len(failed) <= 4
    for _, text, vector, error, plain in rows:
        if text is None:
            assert (vector, error, plain) == (None, None, None)
        elif error is not None:
            assert vector is None and plain is None and "HTTP 500" in error
        else:
            want = embedding_vector(text, DIMS)
            np.testing.assert_allclose(vector, want, atol=1e-6)
            np.testing.assert_allclose(plain, want, atol=1e-6)
    faults = load_server.stats()["faults"]
    assert faults.get("429", 0) >= 1 and faults.get("500", 0) >= 2


def test_on_error_fail_fails_the_job_with_the_setting_named(udf_env, load_server):
    load_server.configure(faults=["500:every=1:match=poison"])
    t_env = udf_env(embed_options(load_server, on_error="fail", max_retries="0"))
    strings_table(t_env, "texts", "text", ["fine", "poison row"])

    with pytest.raises(Exception) as failure:
        collect(t_env, "SELECT EMBED(text) FROM texts")
    assert "flink-rag.embed.on-error=fail" in str(failure.value)
