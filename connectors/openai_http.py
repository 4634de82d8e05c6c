"""The openai SDK client both model connectors share: key lookup, call policy, metrics, errors.

Retries are the call policy's (call_policy.py), not the SDK's: the client is made with
`max_retries=0` so that every retry, wait and attempt spends the row's one deadline. An httpx
event hook watches every attempt: it paces it (rate_control.py), counts a 429 response as a
rate limit, and shortens the attempt's HTTP timeout to what is left of the row's deadline
after any wait for pacing. SDK exceptions become ProviderError with a message that says what
failed, how long it was tried, and what to do; the API key never appears in it.
"""

from __future__ import annotations

import re
from typing import Any, Protocol
from urllib.parse import urlsplit

from pydantic import SecretStr

from .call_policy import CallPolicy, attempts, note, remaining_s
from .connections import LOCAL_PLACEHOLDER_KEY
from .errors import ConfigError, ProviderError
from .metrics import Metrics
from .outage import http_retry_after_s, is_outage, is_rate_limit, is_transient
from .rate_control import RateController

_LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1", "0.0.0.0"})
_KEY_LIKE = re.compile(r"\b(sk|key)-[A-Za-z0-9_\-*]{6,}")
# The `user:password@` of a URL, wherever it shows up in an error text.
_USERINFO = re.compile(r"(?<=://)[^/\s@]+@")
_MAX_DETAIL = 300


class ModelSettings(Protocol):
    """What the policy reads of LlmSettings / EmbedSettings."""

    timeout_s: float
    outage_wait_s: float
    rate_limit_wait_s: float
    max_retries: int


def openai_policy(settings: ModelSettings, metrics: Metrics, prefix: str) -> CallPolicy:
    """The call policy of an OpenAI-compatible endpoint: 5xx and unreachable are outages, 429
    is back-pressure (its Retry-After is the pause), the SDK's retry set is the quick retries."""
    return CallPolicy(
        prefix=prefix,
        timeout_s=settings.timeout_s,
        outage_wait_s=settings.outage_wait_s,
        rate_limit_wait_s=settings.rate_limit_wait_s,
        max_retries=settings.max_retries,
        is_outage=is_outage,
        is_back_pressure=is_rate_limit,
        is_transient=is_transient,
        retry_after_s=http_retry_after_s,
        back_pressure_metric="rate_limit_waits",
        metrics=metrics,
    )


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
    api_key: SecretStr | str | None, connection: str, base_url: str | None, section: str
) -> str:
    """The key to send; a local server gets a placeholder, a remote one must have a key.

    Settings built from a job's options carry a key only for an endpoint of their connection
    (connections.bind_openai); this is the last check for settings made any other way."""
    if isinstance(api_key, SecretStr):
        api_key = api_key.get_secret_value()
    if api_key:
        return api_key
    if is_local_url(base_url):
        return LOCAL_PLACEHOLDER_KEY
    where = safe_url(base_url)
    raise ConfigError(
        f"no API key for {where} on connection {connection!r}: its operator sets "
        f"OPENAI_API_KEY (or OPENAI_API_KEY_FILE) for the default connection, or a connection "
        f"in the file named by FLINK_RAG_CONNECTIONS; SQL then names it in "
        f"'flink-rag.{section}.connection'"
    )


def open_client(
    settings: Any, metrics: Metrics, prefix: str, rate: RateController | None = None
) -> tuple[str, Any]:
    """The key a chat or embedding profile may send and its client: one construction for both.

    `settings` is an LLM or embedding section (api_key, connection, base_url, timeout_s)."""
    s = settings
    api_key = resolve_api_key(s.api_key, s.connection, s.base_url, prefix)
    return api_key, create_client(
        base_url=s.base_url,
        api_key=api_key,
        timeout_s=s.timeout_s,
        metrics=metrics,
        prefix=prefix,
        rate=rate,
    )


def create_client(
    *,
    base_url: str | None,
    api_key: str,
    timeout_s: float,
    metrics: Metrics,
    prefix: str,
    rate: RateController | None = None,
) -> Any:
    """An `openai.OpenAI` without retries of its own (the call policy retries, with the
    profile's `max-retries`) counting 429s as `<prefix>_rate_limited`.

    With `rate`, every attempt is paced by it and feeds it the response's rate-limit headers.
    """
    import openai

    def on_request(request: Any) -> None:
        if rate is not None:
            rate.before_send()
        left = remaining_s()
        if left is not None:
            # After any pacing wait: the attempt ends by the row's deadline, whatever the
            # timeout it was sent with.
            _shorten_timeout(request, max(0.001, left))

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
        max_retries=0,
        timeout=timeout_s,
        http_client=http_client,
    )


def _shorten_timeout(request: Any, left: float) -> None:
    timeouts = request.extensions.get("timeout")
    if isinstance(timeouts, dict):
        request.extensions["timeout"] = {
            phase: left if value is None else min(value, left) for phase, value in timeouts.items()
        }


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
    made = attempts(err)
    retries = max_retries if made is None else made - 1
    tries = f"after {retries} retries" if retries else "without a retry"
    if note(err):
        tries += f"; {note(err)}"
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
            advice = (
                f"the provider kept rate-limiting the row until its deadline; lower "
                f"'{opt}.concurrency'"
                + (f" or set '{opt}.requests-per-minute'" if section == "llm" else "")
                + f", or raise '{opt}.outage-wait' (with '{opt}.rate-limit-wait') to wait longer"
            )
        elif status in (401, 403):
            advice = (
                f"check the key of the connection '{opt}.connection' names, and its permissions "
                "(`flink-rag connections check` on the cluster shows where it comes from)"
            )
        elif status == 404:
            advice = f"check '{opt}.model' and '{opt}.base-url'"
        elif status >= 500:
            advice = (
                f"the provider kept failing until the row's deadline; try again later, or "
                f"raise '{opt}.outage-wait' to wait out longer outages"
            )
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
