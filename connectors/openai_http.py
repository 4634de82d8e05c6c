"""The openai SDK client both model connectors share: key lookup, retries, metrics, errors.

Retries are the SDK's own (408/409/429/5xx/timeouts, capped jittered backoff that honours
`retry-after`/`retry-after-ms`). One addition, `wait_out_rate_limits`: the SDK counts retries,
not time, so a 429 that outlives them is waited out for a bounded time. The SDK has no retry
callback, so an httpx event hook watches every attempt: a request carrying
`x-stainless-retry-count > 0` is a retry, a 429 response is a rate limit. SDK exceptions
become ProviderError with a message that says what failed and what to do; the API key never
appears in it.
"""

from __future__ import annotations

import random
import re
import time
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import urlsplit

from pydantic import SecretStr
from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_delay

from .call_limits import RATE_LIMIT_BACKOFF_S
from .errors import ConfigError, ProviderError
from .metrics import Metrics
from .rate_control import RateController, retry_after_s

# Servers on this machine (llama.cpp, vLLM, Ollama) ignore the key but the SDK requires one.
LOCAL_PLACEHOLDER_KEY = "not-needed-for-local-servers"
_LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1", "0.0.0.0"})
_KEY_LIKE = re.compile(r"\b(sk|key)-[A-Za-z0-9_\-*]{6,}")
# The `user:password@` of a URL, wherever it shows up in an error text.
_USERINFO = re.compile(r"(?<=://)[^/\s@]+@")
_MAX_DETAIL = 300
_RATE_LIMIT_BACKOFF_S = RATE_LIMIT_BACKOFF_S

T = TypeVar("T")


def is_local_url(base_url: str | None) -> bool:
    host = urlsplit(base_url or "").hostname or ""
    return host in _LOCAL_HOSTS or host.startswith("127.")


def safe_url(base_url: str | None) -> str:
    """`base_url` fit for a row error or a log: no `user:password@`, no query (either may
    carry a credential), or "the OpenAI API" when unset."""
    if not base_url:
        return "the OpenAI API"
    parts = urlsplit(base_url)
    host = parts.hostname or ""
    netloc = f"[{host}]" if ":" in host else host
    try:
        port = parts.port
    except ValueError:  # a malformed port: say nothing more than the host
        port = None
    netloc += f":{port}" if port is not None else ""
    return f"{parts.scheme}://{netloc}{parts.path}" if parts.scheme else redact(base_url)


def resolve_api_key(
    api_key: SecretStr | str | None, api_key_env: str, base_url: str | None, section: str
) -> str:
    """The key to send; a local server gets a placeholder, a remote one must have a key."""
    if isinstance(api_key, SecretStr):
        api_key = api_key.get_secret_value()
    if api_key:
        return api_key
    if is_local_url(base_url):
        return LOCAL_PLACEHOLDER_KEY
    where = safe_url(base_url)
    raise ConfigError(
        f"no API key for {where}: set the environment variable {api_key_env} (or "
        f"{api_key_env}_FILE naming a file that holds it), or name another variable with "
        f"'flink-rag.{section}.api-key-env'"
    )


def create_client(
    *,
    base_url: str | None,
    api_key: str,
    timeout_s: float,
    max_retries: int,
    metrics: Metrics,
    prefix: str,
    rate: RateController | None = None,
) -> Any:
    """An `openai.OpenAI` counting retries and 429s as `<prefix>_retries`, `_rate_limited`.

    With `rate`, every attempt (the SDK's retries too) is paced by it and feeds it the
    response's rate-limit headers.
    """
    import openai

    def on_request(request: Any) -> None:
        try:
            retry = int(request.headers.get("x-stainless-retry-count", "0"))
        except ValueError:
            retry = 0
        if retry > 0:
            metrics.incr(f"{prefix}_retries")
        if rate is not None:
            rate.before_send()

    def on_response(response: Any) -> None:
        if response.status_code == 429:
            metrics.incr(f"{prefix}_rate_limited")
        if rate is not None:
            rate.after_response(response.status_code, response.headers)

    http_client = openai.DefaultHttpxClient(
        event_hooks={"request": [on_request], "response": [on_response]}
    )
    return openai.OpenAI(
        base_url=base_url,
        api_key=api_key,
        max_retries=max_retries,
        timeout=timeout_s,
        http_client=http_client,
    )


def redact(text: str, api_key: str | None = None) -> str:
    """`text` without the key or anything shaped like one, shortened for a row's error."""
    if api_key and api_key != LOCAL_PLACEHOLDER_KEY:
        text = text.replace(api_key, "***")
    text = _KEY_LIKE.sub("***", text)
    text = _USERINFO.sub("***@", text)
    return text if len(text) <= _MAX_DETAIL else text[:_MAX_DETAIL] + "..."


def provider_error(
    err: Exception,
    *,
    what: str,
    section: str,
    base_url: str | None,
    timeout_s: float,
    max_retries: int,
    api_key: str | None = None,
) -> ProviderError:
    """A ProviderError that says what failed, how often it was tried, and what to do."""
    import openai

    if isinstance(err, ProviderError):
        return err
    where = safe_url(base_url)
    tries = f"after {max_retries} retries" if max_retries else "with retries off"
    opt = f"flink-rag.{section}"
    if isinstance(err, openai.APITimeoutError):
        return ProviderError(
            f"{what} timed out ({timeout_s:g}s per attempt, {tries}) at {where}; "
            f"raise '{opt}.timeout' or lower '{opt}.concurrency'",
            retryable=True,
        )
    if isinstance(err, openai.APIConnectionError):
        return ProviderError(
            f"{what} could not reach {where} ({tries}); check '{opt}.base-url' and that the "
            "server is running",
            retryable=True,
        )
    if isinstance(err, openai.APIStatusError):
        status = err.status_code
        detail = redact(_detail(err), api_key)
        if status == 429:
            advice = f"lower '{opt}.concurrency' or raise '{opt}.max-retries'" + (
                f", or set '{opt}.requests-per-minute'" if section == "llm" else ""
            )
        elif status in (401, 403):
            advice = "check the API key (the env var named by api-key-env) and its permissions"
        elif status == 404:
            advice = f"check '{opt}.model' and '{opt}.base-url'"
        elif status >= 500:
            advice = "the provider failed; it was retried - try again later"
        else:
            advice = "the provider rejected the request as sent; fix the input or options"
        return ProviderError(
            f"{what} failed with HTTP {status} at {where} ({tries}): {detail}; {advice}",
            status=status,
            retryable=status in (408, 409, 429) or status >= 500,
        )
    if isinstance(err, openai.APIResponseValidationError | ValueError):
        return ProviderError(
            f"{what} got a response from {where} that is not valid OpenAI JSON "
            f"({type(err).__name__}: truncated, or not an OpenAI-compatible server); retry the "
            f"rows, and check that '{opt}.base-url' is an OpenAI-compatible /v1 URL",
            retryable=False,
        )
    return ProviderError(
        f"{what} failed at {where}: {type(err).__name__}: {redact(str(err), api_key)}",
        retryable=False,
    )


def _detail(err: Any) -> str:
    body = getattr(err, "body", None)
    if isinstance(body, dict):
        message = body.get("message") or (body.get("error") or {}).get("message")
        if message:
            return str(message)
    return str(getattr(err, "message", "") or err)


def _retry_after_s(err: Any) -> float | None:
    headers = getattr(getattr(err, "response", None), "headers", None) or {}
    return retry_after_s(headers)


def wait_out_rate_limits(call: Callable[[], T], wait_s: float, metrics: Metrics, prefix: str) -> T:
    """`call()`, repeated while it fails with a rate limit (429), for at most `wait_s` seconds.

    Why a loop around the SDK's retries: the SDK retries a fixed number of times, and with
    short Retry-After hints all calls in flight can use them up inside one rate-limit window.
    A rate limit is back-pressure, not a failure: the row should wait, not get an error. Other
    errors, and a rate limit past the budget, are raised as they are. The same tenacity policy
    shape as the outage loop (outage.py), with the server's Retry-After as the pause.
    """
    import openai

    def is_rate_limit(err: BaseException) -> bool:
        return isinstance(err, openai.APIStatusError) and err.status_code == 429

    def pause(state: RetryCallState) -> float:
        err = state.outcome.exception() if state.outcome is not None else None
        low, high = _RATE_LIMIT_BACKOFF_S
        delay = _retry_after_s(err) or min(high, low * 2**state.attempt_number)
        # jitter spreads the waiting calls over the next window instead of one burst
        return delay * random.uniform(1.0, 1.5)

    deadline = time.monotonic() + wait_s

    def sleep(seconds: float) -> None:  # never past the budget
        time.sleep(max(0.0, min(seconds, deadline - time.monotonic())))

    retrying = Retrying(
        retry=retry_if_exception(is_rate_limit),
        stop=stop_after_delay(wait_s),
        wait=pause,
        before_sleep=lambda state: metrics.incr(f"{prefix}_rate_limit_waits"),
        sleep=sleep,
        reraise=True,
    )
    return retrying(call)
