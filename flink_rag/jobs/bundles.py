"""How many rows a Python function sees at once, and so when its results leave.

A Python function's results leave its worker when its bundle ends (Beam buffers them until
then). With PyFlink's defaults (100 000 rows, or what arrives within 1 s) a burst is one bundle
and every answer waits for the slowest; with bundles of k rows they leave k at a time. k is also
the most calls of one Python operator in flight, so it should be the provider's useful
concurrency: 1 for the local llama.cpp server, which answers one request at a time; about
`flink-rag.llm.concurrency` for a provider that serves calls in parallel.
"""

from __future__ import annotations

# The timer that finishes a bundle with fewer rows than its size. With PyFlink's 1 s, bundles
# of one row cost about 5 s each beyond their call (bench/burst.py, 6 messages on the local
# model: the last answer after 39.5 s, against 4.9 s with one bundle); with 100 ms, 4.0 s.
BUNDLE_TIME_MS = 100


def bundle_settings(rows: int) -> dict[str, str]:
    """Flink settings for bundles (and Arrow batches) of at most `rows` rows."""
    if rows < 1:
        raise ValueError(f"a bundle holds at least one row, not {rows}")
    return {
        "python.fn-execution.bundle.size": str(rows),
        "python.fn-execution.arrow.batch.size": str(rows),
        "python.fn-execution.bundle.time": str(BUNDLE_TIME_MS),
    }
