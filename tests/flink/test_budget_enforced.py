"""A token budget of N per minute on a model profile, against the load server: the server is
sent at most N tokens (counted on its side), every row past the budget has a row error
starting `budget_exhausted` and was never sent, and no row is missing from the output."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.flink

JOB = Path(__file__).with_name("budget_job.py")
ROWS = 40
BUDGET = 600  # tokens per minute: room for about twenty of the forty rows
OPERATOR_TPM = 5000  # the connection's ceiling: SQL lowers it to BUDGET


def test_rows_past_the_budget_are_refused_and_none_is_lost(tmp_path, load_server):
    connections = tmp_path / "connections.toml"
    connections.write_text(
        f'[connections.metered]\nkind = "openai"\nendpoint = "{load_server.base_url}"\n'
        f"tpm = {OPERATOR_TPM}\n"
    )
    options = {
        "flink-rag.llm.metered.connection": "metered",
        "flink-rag.llm.metered.model": "small-model",
        "flink-rag.llm.metered.max-tokens": "24",
        "flink-rag.llm.metered.tokens-per-minute": str(BUDGET),
        # A short wait: the first rows' unused estimates come back and let more rows in,
        # so the server is sent close to the budget; the rest are dead-lettered after it.
        "flink-rag.llm.metered.budget-wait": "2",
        "flink-rag.llm.metered.cache-dir": "off",
    }
    env = {k: v for k, v in os.environ.items() if k != "OPENAI_API_KEY"}
    env.update(FLINK_RAG_CONNECTIONS=str(connections), FLINK_LOG_DIR=str(tmp_path / "log"))
    done = subprocess.run(
        [sys.executable, str(JOB), json.dumps(options), str(ROWS)],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    stats = load_server.stats()

    rows = [json.loads(line[4:]) for line in done.stdout.splitlines() if line.startswith("ROW ")]
    assert sorted(r[0] for r in rows) == list(range(ROWS))  # none lost, none twice
    answered = [r for r in rows if r[2] is None]
    refused = [r for r in rows if r[2] is not None]
    for _, text, _, prompt_tokens, completion_tokens in answered:
        assert text and prompt_tokens > 0 and completion_tokens > 0
    for _, text, error, *_ in refused:
        assert text is None
        assert error.startswith("budget_exhausted: profile 'metered': 600 tokens per minute"), error
        assert "flink-rag.llm.metered.tokens-per-minute" in error
    assert answered and refused, (len(answered), len(refused))

    # The server saw exactly the answered rows, and no more tokens than the budget in a
    # minute (the whole run's calls take seconds; a slower run is held to one N per minute).
    assert stats["requests"]["/v1/chat/completions"] == {"200": len(answered)}, stats
    seen = stats["prompt_tokens"] + stats["completion_tokens"]
    assert seen == sum(r[3] + r[4] for r in answered)
    span = stats["last_response_at"] - stats["first_request_at"]
    assert seen <= BUDGET * (1 + int(span // 60)), (seen, span)
