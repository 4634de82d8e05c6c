"""The numbers of the call policy, in one place: how long a row may wait for a provider and how
often a call is tried. Every connector (chat, embeddings, lookups) reads them from here.

The rule they keep: a row's wait for an outage ends by `outage-wait` plus one call's timeout
(the outage loop starts no attempt after `outage-wait`), and with the defaults that stays well
below Flink's default checkpoint timeout (10 minutes), so an outage slows a job without making
it fail over and repeat its work. A read timeout is not an outage and is not re-sent.
"""

from __future__ import annotations

# Flink's default `execution.checkpointing.timeout`: a row that waits longer stalls a checkpoint.
FLINK_CHECKPOINT_TIMEOUT_S = 600.0

# How long an outage (endpoint or MongoDB unreachable, 5xx, connect timeouts) is waited out per
# row, counted from the row's first attempt (`<section>.outage-wait`).
DEFAULT_OUTAGE_WAIT_S = 120.0
# Pause between attempts while an outage lasts: doubling from the first, capped (seconds).
OUTAGE_BACKOFF_S = (0.5, 5.0)

# How long a rate-limited (429) call keeps waiting for a slot before its row gets an error
# (`<section>.rate-limit-wait`); back-pressure, not a failure.
DEFAULT_RATE_LIMIT_WAIT_S = 300.0
# Backoff between rate-limit waits when the server names no Retry-After (seconds).
RATE_LIMIT_BACKOFF_S = (0.5, 8.0)
# Longest wait for a slot of the client-side requests-per-minute limit before the row fails.
RPM_SLOT_MAX_WAIT_S = 120.0

# One call's timeout by default (`<section>.timeout`, seconds).
DEFAULT_LLM_TIMEOUT_S = 60.0
DEFAULT_EMBED_TIMEOUT_S = 30.0
DEFAULT_LOOKUP_TIMEOUT_S = 10.0


def row_deadline_s(outage_wait_s: float, timeout_s: float) -> float:
    """The longest a row waits out an outage: no attempt starts after outage-wait, and the last
    one ends within its timeout."""
    return outage_wait_s + timeout_s
