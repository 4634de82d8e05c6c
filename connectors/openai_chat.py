"""Chat completions from any OpenAI-compatible endpoint, one row at a time or many overlapping.

`complete_many` runs calls in a bounded thread pool (`concurrency`) so one slow answer never
stalls the rest; results come back in input order and each is computed from its own request
only (no shared mutable state between calls). The call policy (call_policy.py) retries and
waits out outages and rate limits within one deadline per row (outage-wait + timeout), the
waits for a call slot and the RPM limiter included; after that a row gets an error text, or
the job fails with on-error=fail.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import threading
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from .call_limits import RPM_SLOT_MAX_WAIT_S
from .call_policy import CallPolicy, remaining_s
from .citations import CitationPlan, plan_citations, provenance_json
from .embedding import input_problem, is_empty
from .errors import InputError, ProviderError
from .metrics import Metrics, NullMetrics
from .openai_http import open_client, openai_policy, provider_error, redact
from .rate_control import RateController, estimated_tokens
from .response_cache import ResponseCache, cache_key, open_cache
from .settings import LlmSettings
from .structured_output import (
    JSON_OBJECT,
    JSON_SCHEMA,
    answer_problem,
    parse_schema,
    response_format,
)
from .token_budget import BudgetExhausted, Price, Reservation, TokenBudget, reserve, shared
from .tokens import budget_counter, utf8_bytes

log = logging.getLogger(__name__)

# Statuses with which a server refuses a `json_schema` response_format it does not know
# (llama-cpp-python 0.3.x: 500 with a pydantic validation error naming response_format).
_FORMAT_REJECTED = frozenset({400, 422, 500})
# What asks a server whether it takes `json_schema` at all: any server that has it accepts this.
_TRIVIAL_SCHEMA: dict[str, Any] = {"type": "object"}
# What LLM_COMPLETE_JSON sends when temperature / seed are not configured: its answers decide
# what a job writes, and a replay after a failover must give the same answer wherever it runs
# (the cache gives it when shared; these make a fresh call as repeatable as the provider
# allows). A configured value always wins; plain LLM_COMPLETE keeps the provider's defaults.
JSON_DEFAULT_TEMPERATURE = 0.0
JSON_DEFAULT_SEED = 42
RATE_LIMIT_MAX_WAIT_S = RPM_SLOT_MAX_WAIT_S


@dataclass(frozen=True)
class ChatRequest:
    """One row's request; `schema` (a dict or JSON text) asks for structured output;
    `context` (VECTOR_LOOKUP_JSON's output) names the passages the prompt may be built from,
    for citations and provenance (connectors/citations.py)."""

    prompt: Any
    system: str | None = None
    schema: Mapping[str, Any] | str | None = None
    context: str | None = None


@dataclass(frozen=True)
class Completion:
    """One row's answer. With an error, `text` is None - or the raw answer if it was invalid.

    `finish_reason` is the provider's (`stop`, `length`...): `length` means the text was cut at
    max-tokens. Plain LLM_COMPLETE keeps such a text without an error (a cut summary may still
    be useful) but says so here; the JSON functions make it an error."""

    text: str | None
    error: str | None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    latency_ms: int | None = None
    finish_reason: str | None = None
    provenance: str | None = None  # JSON: passage ids and scores, model, prompt hash


_NULL = Completion(None, None)


class ChatClient:
    """One SDK client and one thread pool per worker, both created in `open()`."""

    provider = "openai-chat"

    def __init__(
        self,
        settings: LlmSettings,
        metrics: Metrics | None = None,
        cache: ResponseCache | None = None,
        client: Any = None,
        profile: str = "default",
    ):
        """`client` may be any `openai.OpenAI`-compatible client (e.g. `AzureOpenAI`);
        `profile` names the model profile in budget errors and ledgers."""
        self.settings = settings
        self.profile = profile
        self._budgets: list[TokenBudget] = []
        self._count: Callable[[str], int] = utf8_bytes
        self._price: Price | None = None
        self.metrics = metrics or NullMetrics()
        self._cache = cache
        self._client: Any = client
        self._pool: ThreadPoolExecutor | None = None
        self._api_key: str | None = None
        self._limiter: Any = None
        self._rate: RateController | None = None
        self._policy: CallPolicy | None = None
        # With "auto", None until the first structured call has probed the server.
        self._style: str | None = None
        self._style_lock = threading.Lock()
        self._probing = False
        self._verdict = threading.Event()
        self._open_lock = threading.Lock()

    def __getstate__(self) -> dict[str, Any]:
        """Picklable before or after open(); the worker opens its own client and pool."""
        state = {**self.__dict__, "_client": None, "_pool": None, "_limiter": None, "_rate": None}
        state["_policy"] = None
        state.update(_cache=None, _api_key=None, _budgets=[], _count=utf8_bytes)
        del state["_style_lock"], state["_open_lock"], state["_verdict"]
        state["_probing"] = False
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._verdict = threading.Event()
        self._style_lock = threading.Lock()
        self._open_lock = threading.Lock()

    def open(self) -> None:
        with self._open_lock:
            self._open()

    def _open(self) -> None:
        if self._pool is not None:
            return
        s = self.settings
        if self._client is None:
            if s.adaptive_concurrency:
                # Fed through the event hooks of the client made here (an injected client has
                # none, so it runs without): headers and 429s of every attempt.
                self._rate = RateController(
                    s.concurrency, s.min_concurrency, s.rate_limit_wait_s, self.metrics, "llm"
                )
            self._api_key, self._client = open_client(s, self.metrics, "llm", self._rate)
        self._policy = openai_policy(s, self.metrics, "llm")
        self._budgets = self._ledgers()
        self._pool = ThreadPoolExecutor(max_workers=s.concurrency, thread_name_prefix="llm")
        if self._cache is None:
            self._cache = open_cache(s.cache_dir, s.cache_max_bytes)
        if s.requests_per_minute:
            # pyrate-limiter: a thread-safe blocking limiter (aiolimiter is asyncio-only). The
            # limit is per worker process: divide the account's RPM by the parallelism.
            from pyrate_limiter import Duration, Limiter, Rate

            # Two rates: the minute's budget, spread over its seconds so it never leaves in
            # one burst that the provider would answer with 429s.
            per_second = -(-s.requests_per_minute // 60)
            self._limiter = Limiter(
                [Rate(per_second, Duration.SECOND), Rate(s.requests_per_minute, Duration.MINUTE)]
            )

    def _ledgers(self) -> list[TokenBudget]:
        """The budgets a call reserves on: its connection's, shared by every profile on it in
        this process, and the profile's own when SQL set a lower one."""
        s = self.settings
        found: list[TokenBudget] = []
        if s.connection_budget.any:
            name = f"connection {s.connection!r}"
            found.append(shared(("connection", s.connection), name, s.connection_budget))
        if s.budget.any and s.budget != s.connection_budget:
            key = ("profile", self.profile, s.connection)
            found.append(shared(key, f"profile {self.profile!r}", s.budget))
        self._price = s.price
        if s.spend.any and self._price is not None:
            key = ("spend", self.profile, s.connection)
            found.append(shared(key, f"profile {self.profile!r}", s.spend, self._price))
        if found:
            self._count = budget_counter(s.model)
        return found

    def budget_remaining(self, span: str) -> int | None:
        """Tokens left now in `span` on this client's tightest budget (None: no limit)."""
        tokens = (b for b in self._budgets if b.price is None)  # not the spend ledger
        left = [r for b in tokens if (r := b.remaining(span)) is not None]
        return min(left) if left else None

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        if self._client is not None:
            self._client.close()
            self._client = None

    def __enter__(self) -> ChatClient:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def complete(
        self, prompt: Any, system: str | None = None, schema: Mapping[str, Any] | str | None = None
    ) -> Completion:
        """One answer; never raises for the row's own problem (only with on-error=fail)."""
        self.open()
        return self._complete(ChatRequest(prompt, system, schema))

    def complete_many(self, requests: Sequence[ChatRequest | str | None]) -> list[Completion]:
        """Answers in input order, computed `concurrency` at a time."""
        self.open()
        assert self._pool is not None
        items = [r if isinstance(r, ChatRequest) else ChatRequest(r) for r in requests]
        if len(items) <= 1:
            return [self._complete(r) for r in items]
        return list(self._pool.map(self._complete, items))

    # -- one row -------------------------------------------------------------------------

    def _complete(self, request: ChatRequest) -> Completion:
        """One row, never raising for it: a bug costs the row (with an error), not the job."""
        try:
            return self._complete_row(request)
        except ProviderError:
            raise  # on-error=fail: the job is meant to stop
        except Exception as err:
            self.metrics.incr("llm_errors")
            # The type and the frames only: the message of an unexpected error may hold the
            # row's data, which must stay out of the logs (log.exception would print it).
            log.error(
                "LLM_COMPLETE failed unexpectedly on one row (%s) at:\n%s",
                type(err).__name__,
                "".join(traceback.format_tb(err.__traceback__)),
            )
            return Completion(
                None, f"completion failed unexpectedly ({type(err).__name__}); report this"
            )

    def _complete_row(self, request: ChatRequest) -> Completion:
        if is_empty(request.prompt):
            return _NULL
        self.metrics.incr("llm_rows")
        problem = input_problem(request.prompt, "LLM_COMPLETE prompt")
        if problem is None and request.system is not None:
            problem = input_problem(request.system, "LLM_COMPLETE system prompt")
        schema: dict[str, Any] | None = None
        if problem is None and request.schema is not None and not is_empty(request.schema):
            try:
                schema = parse_schema(request.schema)
            except InputError as err:
                problem = str(err)
        cites: CitationPlan | None = None
        if problem is None:
            try:
                schema, cites = plan_citations(request.prompt, schema, request.context)
            except InputError as err:
                problem = str(err)
        if problem is not None:
            self.metrics.incr("llm_errors")
            return Completion(None, problem)
        completion = self._complete_checked(request, schema, cites)
        if cites is None:
            return completion
        provenance = provenance_json(cites.passages, self.settings.model, request.prompt)
        return dataclasses.replace(completion, provenance=provenance)

    def _complete_checked(
        self, request: ChatRequest, schema: dict[str, Any] | None, cites: CitationPlan | None
    ) -> Completion:
        """The answer from the cache or a call, with the citation check before caching."""
        key = self._cache_key(request, schema)
        cached = self._cache.get(key) if self._cache is not None else None
        if isinstance(cached, dict) and isinstance(cached.get("text"), str):
            self.metrics.incr("llm_cache_hits")
            return Completion(
                cached["text"], None, cached.get("pt"), cached.get("ct"), 0, cached.get("fr")
            )
        if self._cache is not None:
            self.metrics.incr("llm_cache_misses")

        completion = self._call(request, schema)
        # The schema's enum already refuses an unknown id; this names the fault plainly, and
        # takes over from the schema check's generic message.
        cite_problem = cites.problem(completion.text) if cites is not None else None
        if cite_problem is not None:
            if completion.error is None:
                self.metrics.incr("llm_invalid_output")
            completion = dataclasses.replace(completion, error=cite_problem)
        if completion.error:
            self.metrics.incr("llm_errors")
        elif self._cache is not None:  # errors are never cached
            value = {
                "text": completion.text,
                "pt": completion.prompt_tokens,
                "ct": completion.completion_tokens,
                "fr": completion.finish_reason,
            }
            self._cache.set(key, value)
        return completion

    def _call(self, request: ChatRequest, schema: dict[str, Any] | None) -> Completion:
        s = self.settings
        messages: list[dict[str, str]] = []
        if request.system:
            messages.append({"role": "system", "content": request.system})
        messages.append({"role": "user", "content": request.prompt})
        body: dict[str, Any] = {"model": s.model, "messages": messages}
        temperature, seed = self._sampling(schema)
        if temperature is not None:
            body["temperature"] = temperature
        if s.max_tokens is not None:
            body["max_tokens"] = s.max_tokens
        if seed is not None:
            body["seed"] = seed

        started = time.perf_counter()
        policy = self._policy or openai_policy(s, self.metrics, "llm")
        try:
            # One deadline for the row across retries, waits and the attempt itself.
            response = policy.run(lambda timeout: self._paced_create(body, schema, timeout))
        except BudgetExhausted as err:
            self.metrics.observe("llm_latency_ms", _ms_since(started))
            self.metrics.incr("llm_budget_refused")
            if s.on_budget == "fail":
                raise ProviderError(str(err)) from None
            return Completion(None, str(err), latency_ms=_ms_since(started))
        except InputError as err:  # the row's own request was refused: its error, never the job's
            latency = _ms_since(started)
            self.metrics.observe("llm_latency_ms", latency)
            return Completion(None, str(err), latency_ms=latency)
        except Exception as err:
            latency = _ms_since(started)
            self.metrics.observe("llm_latency_ms", latency)
            failure = provider_error(
                err,
                what=f"chat completion with {s.model!r}",
                section="llm",
                base_url=s.base_url,
                timeout_s=s.timeout_s,
                max_retries=s.max_retries,
                api_key=self._api_key,
            )
            if s.on_error == "fail":
                # from None: the SDK error's text is not redacted; `failure` says it all.
                raise failure from None
            return Completion(None, str(failure), latency_ms=latency)
        latency = _ms_since(started)
        self.metrics.observe("llm_latency_ms", latency)

        usage = getattr(response, "usage", None)
        prompt_tokens = getattr(usage, "prompt_tokens", None)
        completion_tokens = getattr(usage, "completion_tokens", None)
        self.metrics.incr("llm_prompt_tokens", prompt_tokens or 0)
        self.metrics.incr("llm_completion_tokens", completion_tokens or 0)
        choice = response.choices[0] if response.choices else None
        text = choice.message.content if choice is not None else None
        finish_reason = getattr(choice, "finish_reason", None)
        finish_reason = finish_reason if isinstance(finish_reason, str) else None
        error = None
        if finish_reason == "length":
            self.metrics.incr("llm_truncated")
        if schema is not None:
            error = answer_problem(text, schema)
            if finish_reason == "length":
                # Even a cut answer that parses is not the answer asked for (a shortened
                # string, a missing optional field): a row error, never a silent value.
                cut = f"the answer was cut at {s.max_tokens} tokens; raise flink-rag.llm.max-tokens"
                error = f"{error} ({cut})" if error else cut
            if error:
                self.metrics.incr("llm_invalid_output")
        elif text is None:
            error = "the model gave no answer text"
        return Completion(text, error, prompt_tokens, completion_tokens, latency, finish_reason)

    def _paced_create(
        self, body: dict[str, Any], schema: dict[str, Any] | None, timeout: float
    ) -> Any:
        """`_create` holding one of the calls in flight the provider's rate limits allow, and
        its estimate on the token budgets."""
        if self._rate is None:
            return self._budgeted_create(body, schema, timeout)
        tokens = estimated_tokens(body["messages"], body.get("max_tokens"))
        with self._rate.slot(tokens):
            return self._budgeted_create(body, schema, timeout)

    def _budgeted_create(
        self, body: dict[str, Any], schema: dict[str, Any] | None, timeout: float
    ) -> Any:
        """One attempt with its most possible cost reserved first and the usage settled after.
        An attempt that failed may still have cost tokens, so it keeps its estimate, unless
        it certainly cost nothing (`_may_have_cost`). With structured-output=auto the first
        attempt may also ask one 1-token probe (`_server_has_json_schema`), not reserved."""
        if not self._budgets:
            return self._create(body, schema, timeout)
        held = self._reserve(body)
        try:
            answer = self._create(body, schema, timeout)
        except Exception as err:
            if _may_have_cost(err):
                held.keep()
            else:
                held.settle(0)
            raise
        usage = getattr(answer, "usage", None)
        prompt, completion = (
            getattr(usage, k, None) for k in ("prompt_tokens", "completion_tokens")
        )
        if isinstance(prompt, int) and isinstance(completion, int):
            held.settle(prompt, completion)
        else:  # a provider that reports no usage: the estimate is what it may have cost
            prompt, completion = math.ceil(held.prompt), math.ceil(held.completion)
            held.keep()
        self.metrics.incr("llm_budget_spent_tokens", prompt + completion)
        if self._price is not None:
            self.metrics.incr(
                "llm_budget_spent_micros", round(self._price.micros(prompt, completion))
            )
        return answer

    def _reserve(self, body: dict[str, Any]) -> Reservation:
        s = self.settings
        # The most the call can cost: its messages counted offline (budget_counter), the chat
        # template's few tokens per message, and the whole max-tokens (settings.py requires it).
        prompt = sum(4 + self._count(str(m.get("content") or "")) for m in body["messages"])
        completion = int(body.get("max_tokens") or 0)
        left = remaining_s()
        wait = s.budget_wait_s if left is None else max(0.0, min(s.budget_wait_s, left))
        try:
            return reserve(self._budgets, prompt + 3, wait, completion=completion)
        except BudgetExhausted as err:
            prefix = "flink-rag.llm." + ("" if self.profile == "default" else f"{self.profile}.")
            what = (
                "spend-per-day' (-hour, -job)"
                if "of spend" in str(err)
                else (
                    "tokens-per-minute' (-hour, -day, -job; the connection's tpm and tokens-per-* "
                    "are the operator's ceiling)"
                )
            )
            raise BudgetExhausted(
                f"{err}; raise '{prefix}{what} or '{prefix}budget-wait', or send fewer rows"
            ) from None

    def _create(self, body: dict[str, Any], schema: dict[str, Any] | None, timeout: float) -> Any:
        """One SDK attempt (no SDK retries); negotiates the structured output style."""
        if self._limiter is not None:
            left = remaining_s()
            wait = RATE_LIMIT_MAX_WAIT_S if left is None else min(RATE_LIMIT_MAX_WAIT_S, left)
            if wait <= 0 or not self._limiter.try_acquire("llm", timeout=wait):
                raise ProviderError(
                    f"no slot under flink-rag.llm.requests-per-minute="
                    f"{self.settings.requests_per_minute} within {wait:g}s (the row's "
                    "deadline or the slot wait ran out); raise the limit or lower the input rate"
                )
        body = {**body, "timeout": timeout}
        if schema is None:
            self.metrics.incr("llm_requests")
            return self._client.chat.completions.create(**body)
        style = self._style or self.settings.structured_output
        if style == "auto":
            probed = self._negotiate_style(body, schema)
            if probed is not None:
                return probed
            style = self._style or JSON_SCHEMA
        self.metrics.incr("llm_requests")
        return self._client.chat.completions.create(
            **body, response_format=response_format(schema, style)
        )

    def _negotiate_style(self, body: dict[str, Any], schema: dict[str, Any]) -> Any:
        """With structured-output=auto and no verdict yet: one row at a time probes, the answer
        to its probe (or None). No lock is held across the network call: the lock only elects
        the prober; the other rows wait for its verdict at most one call's timeout and then go
        ahead with json_schema (after a failover no call succeeds for a while, and rows must
        not queue behind probes that each wait out a timeout)."""
        with self._style_lock:
            if self._style is not None:
                return None
            elect = not self._probing
            if elect:
                self._probing = True
                self._verdict.clear()
        if not elect:
            left = remaining_s()
            self._verdict.wait(
                max(0.0, body["timeout"] if left is None else min(body["timeout"], left))
            )
            return None
        try:
            return self._probe_json_schema(body, schema)
        finally:
            with self._style_lock:
                self._probing = False
            self._verdict.set()

    def _probe_json_schema(self, body: dict[str, Any], schema: dict[str, Any]) -> Any:
        """Try `json_schema` once without retries; settle the style from the answer.

        llama-cpp-python rejects `json_schema` with a validation error (HTTP 500 in 0.3.x, which
        the SDK would otherwise retry for a minute); it needs `json_object` + `schema`. But a
        provider that has json_schema also rejects a schema it cannot compile (400 naming
        response_format): that is this row's problem, and must not switch the whole worker to
        json_object, where ordinary rows then fail. So a rejection is confirmed with a trivial
        schema before the style changes; if that one passes, only this row gets an error. Any
        other failure leaves the style open and the row is sent again under the call policy.
        """
        import openai

        self.metrics.incr("llm_requests")
        try:
            answer = self._client.with_options(max_retries=0).chat.completions.create(
                **body, response_format=response_format(schema, JSON_SCHEMA)
            )
        except openai.APIStatusError as err:
            if not _rejects_format(err):
                return None
            verdict = self._server_has_json_schema()
            if verdict is None:
                return None
            self._style = JSON_SCHEMA if verdict else JSON_OBJECT
            if verdict:
                raise InputError(
                    "the provider rejected this row's json_schema "
                    f"(HTTP {err.status_code}: {redact(str(err), self._api_key)}); simplify the "
                    "schema to what the provider's structured output supports"
                ) from None
            return None
        except openai.APIError:
            return None
        self._style = JSON_SCHEMA
        return answer

    def _server_has_json_schema(self) -> bool | None:
        """Whether the server takes `json_schema` at all (None: it could not be told), asked
        with the smallest request that carries one."""
        import openai

        body: dict[str, Any] = {
            "model": self.settings.model,
            "messages": [{"role": "user", "content": "{}"}],
            "max_tokens": 1,
            "timeout": max(0.001, min(self.settings.timeout_s, remaining_s() or 1e9)),  # row's
        }
        self.metrics.incr("llm_requests")
        try:
            self._client.with_options(max_retries=0).chat.completions.create(
                **body, response_format=response_format(_TRIVIAL_SCHEMA, JSON_SCHEMA)
            )
        except openai.APIStatusError as err:
            return False if _rejects_format(err) else None
        except openai.APIError:
            return None
        return True

    def _sampling(self, schema: dict[str, Any] | None) -> tuple[float | None, int | None]:
        """(temperature, seed) to send: the configured ones, else JSON's fixed defaults."""
        s = self.settings
        if schema is None:
            return s.temperature, s.seed
        temperature = JSON_DEFAULT_TEMPERATURE if s.temperature is None else s.temperature
        return temperature, JSON_DEFAULT_SEED if s.seed is None else s.seed

    def _cache_key(self, request: ChatRequest, schema: dict[str, Any] | None) -> str:
        s = self.settings
        temperature, seed = self._sampling(schema)
        params = {
            "base_url": s.base_url,
            "temperature": temperature,
            "max_tokens": s.max_tokens,
            "seed": seed,
            "schema": schema,
        }
        value = {"system": request.system, "prompt": request.prompt}
        return cache_key(self.provider, s.model, params, value)


def _may_have_cost(err: BaseException) -> bool:
    """Whether a failed attempt may have cost tokens: a timeout or a server error may come
    after the model ran; a refusal (4xx, 429), a connection never made, or a slot not given
    by the client's own limiter cost nothing."""
    import openai

    if isinstance(err, openai.APIStatusError):
        return err.status_code >= 500 or err.status_code == 408
    if isinstance(err, openai.APITimeoutError):
        return True
    if isinstance(err, openai.APIConnectionError):
        return False
    return isinstance(err, openai.APIError)  # e.g. an answer that did not parse


def _rejects_format(err: Any) -> bool:
    """Whether an HTTP error is the server refusing the `response_format` as sent."""
    return err.status_code in _FORMAT_REJECTED and "response_format" in str(err)


def _ms_since(started: float) -> int:
    return int((time.perf_counter() - started) * 1000)
