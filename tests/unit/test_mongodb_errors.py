"""What a lookup's failure becomes (mongodb_errors): Atlas overload waits and then says how to
shed load, a server timeout names the timeout option, a dimension mismatch is the row's input,
anything else is a refusal with its code; no credentials ever reach the message."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pymongo.errors import (
    AutoReconnect,
    ExecutionTimeout,
    NetworkTimeout,
    OperationFailure,
    ServerSelectionTimeoutError,
)

from flink_rag.connectors.errors import DimensionMismatchError, ProviderError
from flink_rag.connectors.metrics import NullMetrics
from flink_rag.connectors.mongodb_errors import describe_error, lookup_error, store_policy
from flink_rag.connectors.outage import MONGO_OVERLOAD_CODES, MONGO_OVERLOAD_LABEL
from flink_rag.connectors.settings import StoreSettings

pytestmark = pytest.mark.unit

SETTINGS = StoreSettings.from_options("flights", {"outage-wait": "30", "timeout": "5"}, {})
POLICY = store_policy(SETTINGS, NullMetrics())
# MaxTimeMSExpired: pymongo marks it as a timeout (err.timeout), the server ran out of time.
MAX_TIME_MS_EXPIRED = 50

codes = st.integers(min_value=-(2**31), max_value=2**31 - 1)
labels = st.lists(
    st.sampled_from(["RetryableError", "NoWritesPerformed", "TransientTransactionError"]),
    unique=True,
    max_size=2,
)
server_text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=400).filter(
    lambda t: "indexed with" not in t
)
# What may stand in a URI's userinfo unencoded (RFC 3986), so a password as an operator writes
# it; the marker keeps it from matching the words of a message by chance.
userinfo = st.text(
    alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~!$&'()*+,;=%",
    min_size=1,
    max_size=24,
)


def _failure(code: int, text: str, error_labels: list[str] | None = None) -> OperationFailure:
    details = {"ok": 0, "errmsg": text, "code": code, "errorLabels": error_labels or []}
    return OperationFailure(text, code, details)


@settings(max_examples=200, deadline=None)
@given(code=codes, text=server_text, error_labels=labels, labelled=st.booleans())
def test_the_policy_waits_exactly_for_what_the_row_error_calls_overload(
    code, text, error_labels, labelled
):
    """One rule in two places: the call policy waits for an error iff its row error, once the
    deadline is spent, is the overload error that says how to shed load."""
    err = _failure(code, text, error_labels + ([MONGO_OVERLOAD_LABEL] if labelled else []))
    result = lookup_error("flights", err)
    overloaded = POLICY.is_back_pressure(err)
    assert overloaded == (code in MONGO_OVERLOAD_CODES or labelled)
    assert isinstance(result, ProviderError | DimensionMismatchError)
    if overloaded and code != MAX_TIME_MS_EXPIRED:
        assert isinstance(result, ProviderError)
        assert result.retryable and result.status == code
        assert f"overloaded (code {code})" in str(result)
        assert "'flink-rag.store.flights.concurrency'" in str(result)
        assert "'flink-rag.store.flights.outage-wait'" in str(result)
    else:
        assert not str(result).startswith("store 'flights': MongoDB kept refusing")


@settings(max_examples=200, deadline=None)
@given(code=codes.filter(lambda c: c not in MONGO_OVERLOAD_CODES and c != MAX_TIME_MS_EXPIRED),
       text=server_text)  # fmt: skip
def test_any_other_refusal_is_final_for_the_row_and_keeps_its_code(code, text):
    err = _failure(code, text)
    result = lookup_error("flights", err)
    assert not POLICY.is_back_pressure(err) and not POLICY.is_outage(err)
    assert isinstance(result, ProviderError)
    assert result.status == code and not result.retryable
    assert str(result).startswith(f"store 'flights': MongoDB refused the lookup (code {code}): ")
    assert len(str(result)) < 400  # the server's text is cut, the row stays readable


@settings(max_examples=200, deadline=None)
@given(user=userinfo, password=userinfo, code=codes, before=server_text, after=server_text)
def test_credentials_in_the_server_text_never_reach_the_row(user, password, code, before, after):
    secret = f"S3cret{password}"
    text = f"{before[:100]} mongodb+srv://{user}:{secret}@cluster0.example.net/db {after[:100]}"
    for err in (_failure(code, text), _failure(code, text, [MONGO_OVERLOAD_LABEL])):
        assert secret not in str(lookup_error("flights", err))
        assert secret not in str(describe_error(SETTINGS, err))


@given(
    indexed=st.integers(1, 8192),
    queried=st.integers(1, 8192),
    code=codes.filter(lambda c: c not in MONGO_OVERLOAD_CODES and c != MAX_TIME_MS_EXPIRED),
)
def test_a_dimension_mismatch_is_the_rows_input_naming_both_sizes(indexed, queried, code):
    text = f"vector field is indexed with {indexed} dimensions but queried with {queried}"
    result = lookup_error("flights", _failure(code, text))
    assert isinstance(result, DimensionMismatchError)
    assert f"index has {indexed} dimensions but the query vector has {queried}" in str(result)


def test_a_server_side_timeout_names_the_timeout_option():
    result = lookup_error("flights", ExecutionTimeout("operation exceeded time limit", 50))
    assert isinstance(result, ProviderError) and result.retryable
    assert "timed out on the server" in str(result)
    assert "raise 'flink-rag.store.flights.timeout'" in str(result)


@pytest.mark.parametrize(
    ("err", "advice"),
    [
        (
            NetworkTimeout("timed out"),
            "the server is slow: raise 'flink-rag.store.flights.timeout'",
        ),
        (AutoReconnect("connection reset"), "check the server and network"),
        (ServerSelectionTimeoutError("no server"), "check the server and network"),
    ],
    ids=["slow", "reset", "unreachable"],
)
def test_a_failure_without_an_answer_says_whether_to_wait_longer_or_look_at_the_server(err, advice):
    err.call_policy_note = "7 attempt(s) in 31.0s of the row's 35s deadline"
    result = lookup_error("flights", err)
    assert isinstance(result, ProviderError) and result.retryable and result.status is None
    assert str(result) == (
        f"store 'flights': MongoDB lookup failed ({type(err).__name__}; "
        f"7 attempt(s) in 31.0s of the row's 35s deadline); {advice}"
    )


def test_the_overload_error_says_how_long_the_row_waited():
    err = _failure(489, "SearchRequestRejectedDueToOverload", [MONGO_OVERLOAD_LABEL])
    err.call_policy_note = "12 attempt(s) in 32.5s of the row's 35s deadline"  # type: ignore[attr-defined]
    assert "(code 489) until the row's deadline (12 attempt(s) in 32.5s" in str(
        lookup_error("flights", err)
    )


def test_open_errors_say_whether_it_is_the_network_or_the_roles():
    unreachable = describe_error(SETTINGS, ServerSelectionTimeoutError("no server"))
    assert unreachable.retryable and "check MONGODB_URI and the network" in str(unreachable)
    refused = describe_error(SETTINGS, _failure(13, "not authorized on flink_rag"))
    assert refused.status == 13 and not refused.retryable
    assert "check the user's roles" in str(refused) and "not authorized" in str(refused)
