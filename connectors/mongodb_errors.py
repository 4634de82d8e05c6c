"""What a row or an operator sees when MongoDB fails a store's call, and what the call waits for.

The call policy (call_policy.py) waits out what outage.py calls an outage (no server reachable)
or back-pressure (Atlas overload: 489 SearchRequestRejectedDueToOverload of search load
shedding, 462/463 of the ingress rate limiters, anything labelled SystemOverloadedError).
Whatever is left when it gives up becomes one FlinkRagError here, with the fix in its message.
Pure functions of the error: no client, no network, so every branch is unit-tested.

Nothing of the server's text reaches a message unredacted (safe_message): an error may quote
the URI, and its credentials never leave the worker; every error is raised `from None`.
"""

from __future__ import annotations

import re

from pymongo.errors import ConnectionFailure, OperationFailure, PyMongoError

from .call_policy import CallPolicy, note
from .errors import DimensionMismatchError, FlinkRagError, ProviderError
from .metrics import Metrics
from .mongodb_client import safe_message
from .outage import is_mongo_back_pressure, is_mongo_outage
from .settings import StoreSettings

_DIMENSIONS = re.compile(r"indexed with (\d+) dimensions but queried with (\d+)")


def store_policy(settings: StoreSettings, metrics: Metrics) -> CallPolicy:
    """A lookup's call policy: no reachable server is an outage, Atlas overload (489 and the
    load-shedding codes) is back-pressure counted as `lookup_back_pressure_waits`; both wait
    within the row's deadline (outage-wait + timeout). No quick retries: pymongo's retryable
    read runs inside each attempt."""
    return CallPolicy(
        prefix="lookup",
        timeout_s=settings.timeout_s,
        outage_wait_s=settings.outage_wait_s,
        rate_limit_wait_s=settings.outage_wait_s,
        is_outage=is_mongo_outage,
        is_back_pressure=is_mongo_back_pressure,
        back_pressure_metric="back_pressure_waits",
        metrics=metrics,
    )


def lookup_error(store: str, err: PyMongoError) -> FlinkRagError:
    """The row's error for a lookup the policy gave up on (its note says how long it tried)."""
    option = f"'flink-rag.store.{store}"
    if isinstance(err, OperationFailure):
        if err.timeout:  # maxTimeMS from pymongo.timeout ran out on the server
            return ProviderError(
                f"store {store!r}: the lookup timed out on the server ({note(err)}); "
                f"raise {option}.timeout'",
                retryable=True,
            )
        if is_mongo_back_pressure(err):
            return ProviderError(
                f"store {store!r}: MongoDB kept refusing the lookup as overloaded "
                f"(code {err.code}) until the row's deadline ({note(err)}); lower "
                f"{option}.concurrency' or the input rate, scale the search nodes, or raise "
                f"{option}.outage-wait' to wait longer",
                status=err.code,
                retryable=True,
            )
        message = safe_message(err)
        match = _DIMENSIONS.search(message)
        if match:
            return DimensionMismatchError(
                f"store {store!r}: the index has {match[1]} dimensions but the query vector has "
                f"{match[2]}; embed with the model the index was built for"
            )
        return ProviderError(
            f"store {store!r}: MongoDB refused the lookup (code {err.code}): {message}",
            status=err.code,
            retryable=False,
        )
    slow = getattr(err, "timeout", False) and not is_mongo_outage(err)
    advice = (
        f"the server is slow: raise {option}.timeout'" if slow else "check the server and network"
    )
    return ProviderError(
        f"store {store!r}: MongoDB lookup failed ({type(err).__name__}; {note(err)}); {advice}",
        retryable=True,
    )


def describe_error(s: StoreSettings, err: ConnectionFailure | OperationFailure) -> ProviderError:
    """The error of open() when the index cannot be described: no server, or a refusal."""
    if isinstance(err, OperationFailure):
        return ProviderError(
            f"MongoDB refused to describe the index of store {s.name!r} "
            f"({s.database}.{s.collection}, code {err.code}): {safe_message(err)}; "
            "check the user's roles and the credentials in MONGODB_URI",
            status=err.code,
        )
    return ProviderError(
        f"cannot reach MongoDB for store {s.name!r} ({s.database}.{s.collection}) "
        f"within {s.timeout_s:g} s: {type(err).__name__}; check MONGODB_URI and the network",
        retryable=True,
    )


def count_error(s: StoreSettings, err: PyMongoError) -> ProviderError:
    """The error of open() when scan mode cannot count the collection."""
    return ProviderError(
        f"cannot count the documents of store {s.name!r} ({type(err).__name__}); "
        "check MONGODB_URI and the network",
        retryable=True,
    )
