"""The numbers of the call policy, in one place: how long a row may wait for a provider and how
often a call is tried. Every connector (chat, embeddings, lookups) reads them from here.

The rule they keep: a row ends by its deadline, `outage-wait` plus one call's timeout, whatever
fails (call_policy.py: retries, outage and rate-limit waits, slot and pacing waits all spend
it), and with the defaults that stays well below Flink's default checkpoint timeout (10
minutes), so an outage slows a job without making it fail over and repeat its work.
"""

from __future__ import annotations

# Flink's default `execution.checkpointing.timeout`: a row that waits longer stalls a checkpoint.
FLINK_CHECKPOINT_TIMEOUT_S = 600.0

# How long an outage (endpoint or MongoDB unreachable, 5xx, connect timeouts) is waited out per
# row, counted from the row's first attempt (`<section>.outage-wait`).
DEFAULT_OUTAGE_WAIT_S = 120.0
# Pause between attempts while an outage lasts: doubling from the first, capped (seconds).
OUTAGE_BACKOFF_S = (0.5, 5.0)

# How long a rate-limited (429) call keeps waiting before its row gets an error
# (`<section>.rate-limit-wait`); back-pressure, not a failure. The row's deadline bounds it too:
# the waits end by rate-limit-wait or when half a timeout of the deadline is left.
DEFAULT_RATE_LIMIT_WAIT_S = 300.0
# Backoff between rate-limit waits when the server names no Retry-After (seconds).
RATE_LIMIT_BACKOFF_S = (0.5, 8.0)
# Longest wait for a slot of the client-side requests-per-minute limit before the row fails
# (or less: what is left of the row's deadline).
RPM_SLOT_MAX_WAIT_S = 120.0

# How long a row waits for a spent token budget to come back (`llm.budget-wait`) before it
# gets a `budget_exhausted` error; the row's deadline bounds it too (token_budget.py).
DEFAULT_BUDGET_WAIT_S = 60.0

# One call's timeout by default (`<section>.timeout`, seconds).
DEFAULT_LLM_TIMEOUT_S = 60.0
DEFAULT_EMBED_TIMEOUT_S = 30.0
DEFAULT_LOOKUP_TIMEOUT_S = 10.0


def row_deadline_s(outage_wait_s: float, timeout_s: float) -> float:
    """A row's deadline, the longest it takes whatever fails: no attempt starts after it, and
    each attempt's timeout is cut to what is left (call_policy.CallPolicy.deadline_s)."""
    return outage_wait_s + timeout_s
