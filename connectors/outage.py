"""Which failures the call policy (call_policy.py) waits out, retries quickly, or gives up on.

- An outage (refused or reset connection, connect timeout, no selectable MongoDB server, 5xx)
  is waited out until the row's `outage-wait` has passed: a restarted server or a network cut
  delays answers instead of failing them.
- Back-pressure (HTTP 429, Atlas's overload errors on the search path) is a wait too, like
  the server asked: a rate limit is not a failure.
- A read timeout is not an outage: the server took the request and is slow to answer (a long
  generation, a heavy `$vectorSearch`). Sending it again multiplies cost and load - a lookup
  that takes 12 s with a 10 s timeout was sent about 14 times in two minutes - so it is only
  retried within `max-retries` (LLM, embeddings; what the SDK did) and within the deadline.
"""

from __future__ import annotations

from .rate_control import retry_after_s

# Timeouts of these kinds (by class name: httpx and its fork raise the same names) mean the
# connection was never made, so the server is down or unreachable.
_CONNECT_TIMEOUTS = ("ConnectTimeout", "PoolTimeout")
# Atlas answers an overloaded search with these codes (489; 462 IngressRequestRateLimitExceeded
# and 463 IngressOperationRateLimitExceeded of load shedding); any error labelled
# SystemOverloadedError is overload too (Atlas docs, "Handle Overload Errors").
MONGO_OVERLOAD_CODES = frozenset({489, 462, 463})
MONGO_OVERLOAD_LABEL = "SystemOverloadedError"


def is_outage(err: BaseException) -> bool:
    """Connection refused or reset, a connect timeout, or a server error: worth waiting for."""
    import openai

    if isinstance(err, openai.APIStatusError):
        return err.status_code >= 500
    if isinstance(err, openai.APITimeoutError):
        return _caused_by(err, _CONNECT_TIMEOUTS)
    return isinstance(err, openai.APIConnectionError)


def is_rate_limit(err: BaseException) -> bool:
    import openai

    return isinstance(err, openai.APIStatusError) and err.status_code == 429


def is_transient(err: BaseException) -> bool:
    """What the openai SDK retries on its own (408, 409, 429, 5xx, timeouts, connection
    errors): the policy's quick retries (`max-retries`) repeat the same set."""
    import openai

    if isinstance(err, openai.APIStatusError):
        return err.status_code in (408, 409, 429) or err.status_code >= 500
    return isinstance(err, openai.APITimeoutError | openai.APIConnectionError)


def http_retry_after_s(err: BaseException) -> float | None:
    """The pause a 429 asks for (`retry-after-ms` / `retry-after`), if it names one."""
    headers = getattr(getattr(err, "response", None), "headers", None) or {}
    return retry_after_s(headers)


def is_mongo_outage(err: BaseException) -> bool:
    """No server reachable or the connection lost; not a slow answer (NetworkTimeout on an
    established connection, or pymongo.timeout() running out) and not a refused command."""
    from pymongo.errors import (
        ConnectionFailure,
        ExecutionTimeout,
        NetworkTimeout,
        ServerSelectionTimeoutError,
    )

    if isinstance(err, ServerSelectionTimeoutError):
        return True
    if isinstance(err, NetworkTimeout | ExecutionTimeout):
        return False
    return isinstance(err, ConnectionFailure)


def is_mongo_back_pressure(err: BaseException) -> bool:
    """An overloaded Atlas (search) shedding the command: wait, like a 429."""
    from pymongo.errors import OperationFailure

    if not isinstance(err, OperationFailure):
        return False
    return err.code in MONGO_OVERLOAD_CODES or err.has_error_label(MONGO_OVERLOAD_LABEL)


def _caused_by(err: BaseException, names: tuple[str, ...]) -> bool:
    seen: set[int] = set()
    current: BaseException | None = err
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if type(current).__name__ in names:
            return True
        current = current.__cause__ or current.__context__
    return False
