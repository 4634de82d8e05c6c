"""Typed settings, built once from a job's `flink-rag.*` options and the environment.

Options reach the UDFs as Flink job parameters, one SQL statement per option:

    SET 'pipeline.global-job-parameters.flink-rag.llm.model' = 'gpt-4o-mini';

and arrive here with the `flink-rag.<section>.` prefix stripped. An option that is not set falls
back to its environment variable (listed per field), then to a named default. Every section is a
frozen pydantic model: an unknown key (a typo) or a bad value is a `ConfigError` naming the key
and the fix, raised when the job starts, never per row. Secrets (API keys, a MongoDB URI that
may hold a password) come only from the operator's connections (connections.py): SQL names a
connection (`flink-rag.llm.connection`), never a variable, a file or a URI; an option that
tries to carry a secret is refused, and a key goes only to an endpoint of its connection.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BeforeValidator, Field, SecretStr, ValidationInfo, field_validator

from .call_limits import (
    DEFAULT_BUDGET_WAIT_S,
    DEFAULT_EMBED_TIMEOUT_S,
    DEFAULT_LLM_TIMEOUT_S,
    DEFAULT_LOOKUP_TIMEOUT_S,
    DEFAULT_OUTAGE_WAIT_S,
    DEFAULT_RATE_LIMIT_WAIT_S,
)
from .connections import DEFAULT, Connection, Connections, bind_openai
from .errors import ConfigError
from .profiles import DEFAULT_PROFILE
from .sections import (
    ConnectionName,
    Names,
    NonNegativeInt,
    OnError,
    PositiveInt,
    Seconds,
    Section,
    _lower,
)
from .sections import check_keys as check_keys  # re-exported: udfs/config.py
from .sections import secret as secret  # re-exported
from .sections import section as section  # re-exported
from .token_budget import MICROS, BudgetLimits, Price

# Shifts every port of the local stack, so that two stacks (two checkouts) run side by side.
PORT_OFFSET_ENV = "FLINK_RAG_PORT_OFFSET"


def port_offset(env: Mapping[str, str] | None = None) -> int:
    """FLINK_RAG_PORT_OFFSET as an int; the local stack (flink_rag.local) reads it here too."""
    raw = (os.environ if env is None else env).get(PORT_OFFSET_ENV, "0").strip() or "0"
    try:
        return int(raw)
    except ValueError:
        raise ConfigError(
            f"{PORT_OFFSET_ENV}={raw!r} is not an integer; unset it or set e.g. 100"
        ) from None


# Defaults, named once. The local stack's ports move with FLINK_RAG_PORT_OFFSET.
LOCAL_HOST = "127.0.0.1"
LOCAL_MONGO_PORT = 27027 + port_offset()
LOCAL_LLM_PORT = 18000 + port_offset()
LOCAL_MONGODB_URI = f"mongodb://{LOCAL_HOST}:{LOCAL_MONGO_PORT}"
LOCAL_LLM_BASE_URL = f"http://{LOCAL_HOST}:{LOCAL_LLM_PORT}/v1"
LOCAL_LLM_MODEL = "smollm2"
LOCAL_EMBED_MODEL = "all-MiniLM-L6-v2"
OPENAI_EMBED_MODEL = "text-embedding-3-small"
DEFAULT_DATABASE = "flink_rag"

# OpenAI's documented embedding limits (per request / per input).
OPENAI_MAX_BATCH_INPUTS = 2048
OPENAI_MAX_BATCH_TOKENS = 300_000
OPENAI_MAX_INPUT_TOKENS = 8192

# The call policy's numbers live in call_limits (re-exported here for the option defaults).
# The answer cache is on unless cache-dir is one of these; bounded by cache-max-bytes.
CACHE_OFF = ("off", "none", "false", "0")
DEFAULT_CACHE_MAX_BYTES = 2**30


def default_cache_dir(env: Mapping[str, str]) -> str:
    """The machine's cache of model answers: every worker process on it shares the entries."""
    root = env.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(root, "flink-rag", "responses")


def _job_defaults(options: Mapping[str, str], env: Mapping[str, str]) -> dict[str, Any]:
    """Defaults of settings built from a job's options (the bare models keep them off): the
    answer cache on (a replay after a restart costs nothing; cache-dir=off turns it off) and
    outages waited out."""
    extra: dict[str, Any] = {}
    cache = options.get("cache-dir") or env.get("FLINK_RAG_CACHE_DIR")
    if cache is None:
        extra["cache-dir"] = default_cache_dir(env)
    elif cache.strip().lower() in CACHE_OFF:
        extra["cache-dir"] = None
    return extra


class EmbedSettings(Section):
    """How EMBED reaches its model."""

    section: ClassVar[str] = "embed"
    env_fallbacks: ClassVar[dict[str, tuple[str, ...]]] = {
        "provider": ("FLINK_RAG_EMBED_PROVIDER",),
        "model": ("FLINK_RAG_EMBED_MODEL",),
        "base-url": ("FLINK_RAG_EMBED_BASE_URL", "OPENAI_BASE_URL"),
        "cache-dir": ("FLINK_RAG_CACHE_DIR",),
        "local-threads": ("FLINK_RAG_EMBED_THREADS",),
    }

    provider: Annotated[Literal["local", "openai"], BeforeValidator(_lower)] = "local"
    model: str = LOCAL_EMBED_MODEL
    base_url: str | None = Field(None, alias="base-url")
    api_key: SecretStr | None = Field(None, exclude=True)
    # The operator's connection (connections.py) whose key and limits the calls use.
    connection: ConnectionName = DEFAULT
    dimensions: PositiveInt | None = None
    max_batch_inputs: PositiveInt = Field(OPENAI_MAX_BATCH_INPUTS, alias="max-batch-inputs")
    max_batch_tokens: PositiveInt = Field(OPENAI_MAX_BATCH_TOKENS, alias="max-batch-tokens")
    max_input_tokens: PositiveInt | None = Field(None, alias="max-input-tokens")
    on_overlong: Annotated[Literal["truncate", "error"], BeforeValidator(_lower)] = Field(
        "truncate", alias="on-overlong"
    )
    concurrency: PositiveInt = 4
    timeout_s: Seconds = Field(DEFAULT_EMBED_TIMEOUT_S, alias="timeout")
    max_retries: NonNegativeInt = Field(6, alias="max-retries")
    on_error: OnError = Field("null", alias="on-error")
    cache_dir: str | None = Field(None, alias="cache-dir")
    cache_max_bytes: PositiveInt = Field(DEFAULT_CACHE_MAX_BYTES, alias="cache-max-bytes")
    # Torch threads of the local model per worker process: workers share the machine's cores.
    local_threads: PositiveInt = Field(1, alias="local-threads")
    rate_limit_wait_s: Annotated[float, Field(ge=0)] = Field(
        DEFAULT_RATE_LIMIT_WAIT_S, alias="rate-limit-wait"
    )
    # provider openai: how long a batch keeps retrying while the endpoint is unreachable or
    # failing (5xx, timeouts) before its rows get errors (as llm.outage-wait).
    outage_wait_s: Annotated[float, Field(ge=0)] = Field(0.0, alias="outage-wait")

    @classmethod
    def option_keys(cls) -> tuple[str, ...]:
        return tuple(k for k in super().option_keys() if k != "api_key")

    @classmethod
    def from_options(
        cls,
        options: Mapping[str, str],
        env: Mapping[str, str] | None = None,
        *,
        resolve: bool = True,
        profile: str = DEFAULT_PROFILE,
    ) -> EmbedSettings:
        """With `resolve`, the connection is looked up in this process's environment and its
        key bound (a worker's job start); without, only the options are checked (a client,
        whose environment is not the cluster's). `profile` names the options' profile
        (profiles.py), for the messages."""
        env = os.environ if env is None else env
        prefix = profile_prefix("embed", profile)
        provider = _lower(options.get("provider") or env.get("FLINK_RAG_EMBED_PROVIDER") or "")
        extra: dict[str, Any] = _job_defaults(options, env)
        if provider == "openai" and not (options.get("model") or env.get("FLINK_RAG_EMBED_MODEL")):
            extra["model"] = OPENAI_EMBED_MODEL
        if not options.get("outage-wait"):
            extra["outage-wait"] = DEFAULT_OUTAGE_WAIT_S
        built: EmbedSettings = cls.build(prefix, options, env, extra)
        if provider == "openai" and resolve:
            conn = _connection(built.connection, "openai", prefix, env)
            wanted = built.base_url if options.get("base-url") or conn.from_environment else None
            base_url, key = bind_openai(conn, wanted, env, prefix)
            built = built.model_copy(
                update={
                    "base_url": base_url,
                    "api_key": SecretStr(key) if key else None,
                    "connection": conn.name,
                    "concurrency": _capped(built.concurrency, conn.concurrency),
                }
            )
        return built


class LlmSettings(Section):
    """How LLM_COMPLETE reaches its model."""

    section: ClassVar[str] = "llm"
    env_fallbacks: ClassVar[dict[str, tuple[str, ...]]] = {
        "base-url": ("FLINK_RAG_LLM_BASE_URL",),
        "model": ("FLINK_RAG_LLM_MODEL",),
        "cache-dir": ("FLINK_RAG_CACHE_DIR",),
    }

    base_url: str = Field(LOCAL_LLM_BASE_URL, alias="base-url")
    model: str = LOCAL_LLM_MODEL
    api_key: SecretStr | None = Field(None, exclude=True)
    # The operator's connection (connections.py) whose key and limits the calls use.
    connection: ConnectionName = DEFAULT
    temperature: Annotated[float, Field(ge=0, le=2)] | None = None
    max_tokens: PositiveInt | None = Field(256, alias="max-tokens")
    seed: int | None = None
    timeout_s: Seconds = Field(DEFAULT_LLM_TIMEOUT_S, alias="timeout")
    max_retries: NonNegativeInt = Field(6, alias="max-retries")
    concurrency: PositiveInt = 64
    on_error: OnError = Field("null", alias="on-error")
    cache_dir: str | None = Field(None, alias="cache-dir")
    cache_max_bytes: PositiveInt = Field(DEFAULT_CACHE_MAX_BYTES, alias="cache-max-bytes")
    # How long a row keeps retrying while the endpoint is unreachable or failing (5xx,
    # connect timeouts) before it gets an error: an outage delays answers instead of failing
    # them. Plus one timeout, it is the row's deadline for every wait (call_policy.py).
    outage_wait_s: Annotated[float, Field(ge=0)] = Field(0.0, alias="outage-wait")
    requests_per_minute: PositiveInt | None = Field(None, alias="requests-per-minute")
    # Calls in flight adapt to the provider's rate-limit headers and 429s, between
    # min-concurrency and concurrency (see connectors/rate_control.py).
    adaptive_concurrency: bool = Field(True, alias="adaptive-concurrency")
    min_concurrency: PositiveInt = Field(1, alias="min-concurrency")
    rate_limit_wait_s: Annotated[float, Field(ge=0)] = Field(
        DEFAULT_RATE_LIMIT_WAIT_S, alias="rate-limit-wait"
    )
    # How a JSON schema goes on the wire: json_schema (OpenAI), json_object+schema (llama.cpp),
    # or auto: json_schema first, json_object if the server rejects it (see structured_output).
    structured_output: Annotated[
        Literal["auto", "json_schema", "json_object"], BeforeValidator(_lower)
    ] = Field("auto", alias="structured-output")
    # Enforced token budgets of this profile (connectors/token_budget.py), capped by its
    # connection's (tpm, tokens-per-hour/-day/-job), which its ledger enforces as well.
    tokens_per_minute: PositiveInt | None = Field(None, alias="tokens-per-minute")
    tokens_per_hour: PositiveInt | None = Field(None, alias="tokens-per-hour")
    tokens_per_day: PositiveInt | None = Field(None, alias="tokens-per-day")
    tokens_per_job: PositiveInt | None = Field(None, alias="tokens-per-job")
    # How long a row waits for a spent budget to come back (capped by its deadline), and
    # what happens after: a row error starting `budget_exhausted`, or the job fails.
    budget_wait_s: Annotated[float, Field(ge=0)] = Field(DEFAULT_BUDGET_WAIT_S, alias="budget-wait")
    on_budget: Annotated[Literal["error", "fail"], BeforeValidator(_lower)] = Field(
        "error", alias="on-budget"
    )
    # Spend budgets (currency), with the user's price of this profile's model per 1000 tokens.
    price_per_1k_prompt: Annotated[float, Field(ge=0)] | None = Field(
        None, alias="price-per-1k-prompt"
    )
    price_per_1k_completion: Annotated[float, Field(ge=0)] | None = Field(
        None, alias="price-per-1k-completion"
    )
    spend_per_hour: Annotated[float, Field(gt=0)] | None = Field(None, alias="spend-per-hour")
    spend_per_day: Annotated[float, Field(gt=0)] | None = Field(None, alias="spend-per-day")
    spend_per_job: Annotated[float, Field(gt=0)] | None = Field(None, alias="spend-per-job")
    # The connection's budget (set when resolved; never an option).
    connection_budget: BudgetLimits = Field(BudgetLimits(), exclude=True)

    @classmethod
    def option_keys(cls) -> tuple[str, ...]:
        hidden = ("api_key", "connection_budget")
        return tuple(k for k in super().option_keys() if k not in hidden)

    @property
    def budget(self) -> BudgetLimits:
        """This profile's own token budget (already capped by its connection's when resolved)."""
        return BudgetLimits(
            self.tokens_per_minute, self.tokens_per_hour, self.tokens_per_day, self.tokens_per_job
        )

    @property
    def price(self) -> Price | None:
        if self.price_per_1k_prompt is None or self.price_per_1k_completion is None:
            return None
        return Price(self.price_per_1k_prompt, self.price_per_1k_completion)

    @property
    def spend(self) -> BudgetLimits:
        """The spend budget in MICROS of the currency (per_minute is never set)."""

        def micros(value: float | None) -> int | None:
            return None if value is None else round(value * MICROS)

        return BudgetLimits(
            None,
            micros(self.spend_per_hour),
            micros(self.spend_per_day),
            micros(self.spend_per_job),
        )

    @classmethod
    def from_options(
        cls,
        options: Mapping[str, str],
        env: Mapping[str, str] | None = None,
        *,
        resolve: bool = True,
        profile: str = DEFAULT_PROFILE,
    ) -> LlmSettings:
        """`resolve` and `profile` as in EmbedSettings.from_options."""
        env = os.environ if env is None else env
        prefix = profile_prefix("llm", profile)
        extra = _job_defaults(options, env)
        if not options.get("outage-wait"):
            extra["outage-wait"] = DEFAULT_OUTAGE_WAIT_S
        built: LlmSettings = cls.build(prefix, options, env, extra)
        # Checked without the connection too: the driver validates options at job start.
        if built.spend.any and built.price is None:
            raise ConfigError(
                f"'{prefix}spend-per-*' needs the model's prices: set "
                f"'{prefix}price-per-1k-prompt' and '{prefix}price-per-1k-completion'"
            )
        if not resolve:
            return built
        conn = _connection(built.connection, "openai", prefix, env)
        operator = BudgetLimits(
            conn.tpm, conn.tokens_per_hour, conn.tokens_per_day, conn.tokens_per_job
        )
        budget = built.budget.capped(operator)
        if (budget.any or built.spend.any) and built.max_tokens is None:
            raise ConfigError(
                f"a token budget applies to '{prefix}' (connection {conn.name!r}) but "
                f"'{prefix}max-tokens' is unset, so no call's cost is bounded before it is sent; "
                f"set '{prefix}max-tokens'"
            )
        # A SQL option, or on the environment's connection its FLINK_RAG_LLM_BASE_URL or the
        # local server; otherwise the connection's endpoint.
        wanted = built.base_url if options.get("base-url") or conn.from_environment else None
        base_url, key = bind_openai(conn, wanted, env, prefix)
        return built.model_copy(
            update={
                "base_url": base_url or built.base_url,
                "api_key": SecretStr(key) if key else None,
                "connection": conn.name,
                "concurrency": _capped(built.concurrency, conn.concurrency),
                "requests_per_minute": _capped(built.requests_per_minute, conn.rpm),
                "tokens_per_minute": budget.per_minute,
                "tokens_per_hour": budget.per_hour,
                "tokens_per_day": budget.per_day,
                "tokens_per_job": budget.per_job,
                "connection_budget": operator,
            }
        )


# A rank-fusion weight: MongoDB takes any non-negative number.
Weight = Annotated[float, Field(ge=0, allow_inf_nan=False)]


class StoreSettings(Section):
    """One named vector store profile (`flink-rag.store.<name>.*`)."""

    section: ClassVar[str] = "store"
    env_fallbacks: ClassVar[dict[str, tuple[str, ...]]] = {
        "database": ("FLINK_RAG_MONGODB_DATABASE",),
    }

    name: str
    uri: SecretStr = Field(SecretStr(LOCAL_MONGODB_URI), exclude=True)
    # The operator's mongodb connection (connections.py): its URI is the secret.
    connection: ConnectionName = DEFAULT
    database: str = DEFAULT_DATABASE
    collection: str = ""
    index: str = ""
    path: str = "embedding"
    mode: Annotated[Literal["auto", "atlas", "scan"], BeforeValidator(_lower)] = "auto"
    similarity: Annotated[Literal["cosine", "euclidean", "dotproduct"], BeforeValidator(_lower)] = (
        "cosine"
    )
    filter_fields: Names = Field((), alias="filter-fields")
    fields: Names = ()
    content_field: str = Field("content", alias="content-field")
    num_candidates: Annotated[int, Field(ge=1, le=10_000)] | None = Field(
        None, alias="num-candidates"
    )
    min_score: float | None = Field(None, alias="min-score")
    exact: bool = False
    dimensions: PositiveInt | None = None
    timeout_s: Seconds = Field(DEFAULT_LOOKUP_TIMEOUT_S, alias="timeout")
    # scan mode: how long cached document vectors are trusted
    scan_cache_ttl_s: Annotated[float, Field(ge=0)] = Field(60.0, alias="scan-cache-ttl")
    # lookups of one batch in flight at once (VectorStore.search_many, VECTOR_LOOKUP_JSON)
    concurrency: PositiveInt = 8
    # How long a lookup keeps retrying while MongoDB is unreachable or Atlas is overloaded
    # (489) before the row gets an error; plus one timeout, the row's deadline.
    outage_wait_s: Annotated[float, Field(ge=0)] = Field(0.0, alias="outage-wait")
    # Hybrid lookups (a query text besides the vector): the Atlas Search index and the paths it
    # searches (default: content-field), each input's weight in the rank fusion, and how many
    # hits each input ranks before fusion (default 4 x k).
    text_index: str | None = Field(None, alias="text-index")
    text_paths: Names = Field((), alias="text-paths")
    vector_weight: Weight = Field(1.0, alias="vector-weight")
    text_weight: Weight = Field(1.0, alias="text-weight")
    hybrid_candidates: Annotated[int, Field(ge=1, le=1000)] | None = Field(
        None, alias="hybrid-candidates"
    )

    @field_validator("text_weight")
    @classmethod
    def _some_weight(cls, value: float, info: ValidationInfo) -> float:
        if value == 0 and info.data.get("vector_weight") == 0:
            raise ValueError("vector-weight and text-weight cannot both be 0")
        return value

    @classmethod
    def option_keys(cls) -> tuple[str, ...]:
        return tuple(k for k in super().option_keys() if k != "uri")

    @classmethod
    def from_options(
        cls,
        name: str,
        options: Mapping[str, str],
        env: Mapping[str, str] | None = None,
        *,
        resolve: bool = True,
    ) -> StoreSettings:
        """`resolve` as in EmbedSettings.from_options; the URI comes from the connection."""
        env = os.environ if env is None else env
        prefix = f"flink-rag.store.{name}."
        extra: dict[str, Any] = {
            "name": name,
            "collection": options.get("collection") or name,
            "index": options.get("index") or f"{name}_vector_index",
        }
        if not options.get("outage-wait"):
            extra["outage-wait"] = DEFAULT_OUTAGE_WAIT_S
        built: StoreSettings = cls.build(prefix, options, env, extra)
        if not resolve:
            return built
        conn = _connection(built.connection, "mongodb", prefix, env)
        uri = conn.secret(env)
        if uri is None and not conn.from_environment:
            raise ConfigError(
                f"connection {conn.name!r} keeps its URI in {conn.secret_source()}, which is "
                "not set in the Flink processes; ask the operator to mount it "
                "(`flink-rag connections check` shows what resolves)"
            )
        return built.model_copy(
            update={
                "uri": SecretStr(uri or LOCAL_MONGODB_URI),
                "connection": conn.name,
                "concurrency": _capped(built.concurrency, conn.concurrency),
            }
        )


def profile_prefix(section: str, profile: str) -> str:
    """'flink-rag.llm.' for the default profile, 'flink-rag.llm.<profile>.' for a named one."""
    if profile == DEFAULT_PROFILE:
        return f"flink-rag.{section}."
    return f"flink-rag.{section}.{profile}."


def _connection(name: str, kind: Any, prefix: str, env: Mapping[str, str]) -> Connection:
    return Connections.load(env).get(name, kind, f"{prefix}connection")


def _capped(value: int | None, cap: int | None) -> int | None:
    """An option SQL set, capped by the connection's limit: SQL can lower it, never raise it."""
    if cap is None:
        return value
    return cap if value is None else min(value, cap)
