"""Typed settings, built once from a job's `flink-rag.*` options and the environment.

Options come from Flink SQL (`SET 'flink-rag.llm.model' = '...'`) with the `flink-rag.<section>.`
prefix stripped; anything unset falls back to an environment variable, then to a named default.
Secrets (API keys, a MongoDB URI with a password) are read only from the environment or from a
file named by `<VAR>_FILE`; an option that tries to carry one is refused.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from flink_rag.connectors.errors import ConfigError

# Defaults, named once.
# The local stack's ports move together with FLINK_RAG_PORT_OFFSET (two stacks side by side).
_PORT_OFFSET = int(os.environ.get("FLINK_RAG_PORT_OFFSET", "0").strip() or "0")
LOCAL_MONGODB_URI = f"mongodb://127.0.0.1:{27027 + _PORT_OFFSET}"
LOCAL_LLM_BASE_URL = f"http://127.0.0.1:{18000 + _PORT_OFFSET}/v1"
LOCAL_LLM_MODEL = "smollm2"
LOCAL_EMBED_MODEL = "all-MiniLM-L6-v2"
OPENAI_EMBED_MODEL = "text-embedding-3-small"
DEFAULT_DATABASE = "flink_rag"
DEFAULT_API_KEY_ENV = "OPENAI_API_KEY"

# OpenAI's documented embedding limits (per request / per input).
OPENAI_MAX_BATCH_INPUTS = 2048
OPENAI_MAX_BATCH_TOKENS = 300_000
OPENAI_MAX_INPUT_TOKENS = 8192

# The answer cache is on unless cache-dir is one of these; bounded by cache-max-bytes.
CACHE_OFF = ("off", "none", "false", "0")
DEFAULT_CACHE_MAX_BYTES = 2**30
DEFAULT_OUTAGE_WAIT_S = 120.0  # LLM and vector store: how long an outage is waited out


def default_cache_dir(env: Mapping[str, str]) -> str:
    """The machine's cache of model answers: every worker process on it shares the entries."""
    root = env.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(root, "flink-rag", "responses")


# How long a rate-limited (429) call keeps waiting for a slot before its row gets an error.
DEFAULT_RATE_LIMIT_WAIT_S = 300.0

# Option names that would put a secret into SQL text.
_SECRET_OPTIONS = ("api-key", "apikey", "password", "uri", "mongodb-uri", "token")

T = TypeVar("T")


def secret(env_name: str, env: Mapping[str, str] | None = None) -> str | None:
    """The value of env var `env_name`, or the contents of the file named by `<env_name>_FILE`."""
    env = os.environ if env is None else env
    value = env.get(env_name)
    if value:
        return value
    path = env.get(f"{env_name}_FILE")
    if path:
        try:
            return Path(path).read_text(encoding="utf-8").strip()
        except OSError as err:
            raise ConfigError(
                f"{env_name}_FILE points to a file that cannot be read ({err.strerror}); "
                f"fix the path or set {env_name} instead"
            ) from err
    return None


class _Options:
    """Reads one section's options with env fallbacks and type conversion."""

    def __init__(self, section: str, options: Mapping[str, str], env: Mapping[str, str]):
        self.section = section
        self.options = {k: v for k, v in options.items() if v is not None and v != ""}
        self.env = env
        for key in self.options:
            if key.rsplit(".", 1)[-1].lower() in _SECRET_OPTIONS:
                raise ConfigError(
                    f"option 'flink-rag.{section}.{key}' would put a secret into SQL text; "
                    "set it in the environment instead (e.g. OPENAI_API_KEY, MONGODB_URI, or "
                    f"name the variable with 'flink-rag.{section}.api-key-env')"
                )

    def get(
        self,
        key: str,
        default: T,
        convert: Callable[[str], T],
        env: tuple[str, ...] = (),
    ) -> T:
        raw = self.options.get(key)
        source = f"option 'flink-rag.{self.section}.{key}'"
        if raw is None:
            for name in env:
                if self.env.get(name):
                    raw, source = self.env[name], f"env var {name}"
                    break
        if raw is None:
            return default
        try:
            return convert(raw)
        except (TypeError, ValueError) as err:
            raise ConfigError(f"{source} has an invalid value {raw!r}: {err}") from err

    def text(self, key: str, default: str, *env: str) -> str:
        return self.get(key, default, str, env)

    def opt_text(self, key: str, *env: str) -> str | None:
        return self.get(key, None, str, env)

    def integer(self, key: str, default: int, *env: str, minimum: int = 0) -> int:
        value = self.get(key, default, int, env)
        if value < minimum:
            raise ConfigError(f"option 'flink-rag.{self.section}.{key}' must be >= {minimum}")
        return value

    def opt_integer(self, key: str, *env: str) -> int | None:
        return self.get(key, None, int, env)

    def number(self, key: str, default: float, *env: str) -> float:
        return self.get(key, default, float, env)

    def opt_number(self, key: str, *env: str) -> float | None:
        return self.get(key, None, float, env)

    def flag(self, key: str, default: bool, *env: str) -> bool:
        return self.get(key, default, _parse_bool, env)

    def choice(self, key: str, default: str, choices: tuple[str, ...], *env: str) -> str:
        value = self.text(key, default, *env).lower()
        if value not in choices:
            raise ConfigError(
                f"option 'flink-rag.{self.section}.{key}' is {value!r}; use one of {choices}"
            )
        return value

    def names(self, key: str, default: tuple[str, ...] = ()) -> tuple[str, ...]:
        return self.get(key, default, _parse_names)


def _parse_bool(raw: str) -> bool:
    lowered = raw.strip().lower()
    if lowered in ("true", "1", "yes", "on"):
        return True
    if lowered in ("false", "0", "no", "off"):
        return False
    raise ValueError("expected true or false")


def _parse_names(raw: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in raw.replace(";", ",").split(",") if part.strip())


@dataclass(frozen=True)
class EmbedSettings:
    """How EMBED reaches its model. `api_key` is excluded from repr."""

    provider: str = "local"
    model: str = LOCAL_EMBED_MODEL
    base_url: str | None = None
    api_key: str | None = field(default=None, repr=False)
    api_key_env: str = DEFAULT_API_KEY_ENV
    dimensions: int | None = None
    max_batch_inputs: int = OPENAI_MAX_BATCH_INPUTS
    max_batch_tokens: int = OPENAI_MAX_BATCH_TOKENS
    max_input_tokens: int | None = None
    on_overlong: str = "truncate"
    concurrency: int = 4
    timeout_s: float = 30.0
    max_retries: int = 6
    on_error: str = "null"
    cache_dir: str | None = None
    cache_max_bytes: int = DEFAULT_CACHE_MAX_BYTES
    # Torch threads of the local model per worker process: workers share the machine's cores.
    local_threads: int = 1
    rate_limit_wait_s: float = DEFAULT_RATE_LIMIT_WAIT_S

    @classmethod
    def from_options(
        cls, options: Mapping[str, str], env: Mapping[str, str] | None = None
    ) -> EmbedSettings:
        env = os.environ if env is None else env
        o = _Options("embed", options, env)
        provider = o.choice("provider", "local", ("local", "openai"), "FLINK_RAG_EMBED_PROVIDER")
        default_model = LOCAL_EMBED_MODEL if provider == "local" else OPENAI_EMBED_MODEL
        key_env = o.text("api-key-env", DEFAULT_API_KEY_ENV)
        return cls(
            provider=provider,
            model=o.text("model", default_model, "FLINK_RAG_EMBED_MODEL"),
            base_url=o.opt_text("base-url", "FLINK_RAG_EMBED_BASE_URL", "OPENAI_BASE_URL"),
            api_key=secret(key_env, env) if provider == "openai" else None,
            api_key_env=key_env,
            dimensions=o.opt_integer("dimensions"),
            max_batch_inputs=o.integer("max-batch-inputs", OPENAI_MAX_BATCH_INPUTS, minimum=1),
            max_batch_tokens=o.integer("max-batch-tokens", OPENAI_MAX_BATCH_TOKENS, minimum=1),
            max_input_tokens=o.opt_integer("max-input-tokens"),
            on_overlong=o.choice("on-overlong", "truncate", ("truncate", "error")),
            concurrency=o.integer("concurrency", 4, minimum=1),
            timeout_s=o.number("timeout", 30.0),
            max_retries=o.integer("max-retries", 6),
            on_error=o.choice("on-error", "null", ("null", "fail")),
            cache_dir=_cache_dir(o, env),
            cache_max_bytes=o.integer("cache-max-bytes", DEFAULT_CACHE_MAX_BYTES, minimum=1),
            local_threads=o.integer("local-threads", 1, "FLINK_RAG_EMBED_THREADS", minimum=1),
            rate_limit_wait_s=o.number("rate-limit-wait", DEFAULT_RATE_LIMIT_WAIT_S),
        )


@dataclass(frozen=True)
class LlmSettings:
    """How LLM_COMPLETE reaches its model. `api_key` is excluded from repr."""

    base_url: str = LOCAL_LLM_BASE_URL
    model: str = LOCAL_LLM_MODEL
    api_key: str | None = field(default=None, repr=False)
    api_key_env: str = DEFAULT_API_KEY_ENV
    temperature: float | None = None
    max_tokens: int | None = 256
    seed: int | None = None
    timeout_s: float = 60.0
    max_retries: int = 6
    concurrency: int = 64
    on_error: str = "null"
    cache_dir: str | None = None
    cache_max_bytes: int = DEFAULT_CACHE_MAX_BYTES
    # How long a row keeps retrying while the endpoint is unreachable or failing (5xx,
    # timeouts) before it gets an error: an outage delays answers instead of failing them.
    outage_wait_s: float = 0.0
    requests_per_minute: int | None = None
    rate_limit_wait_s: float = DEFAULT_RATE_LIMIT_WAIT_S
    # How a JSON schema goes on the wire: json_schema (OpenAI), json_object+schema (llama.cpp),
    # or auto: json_schema first, json_object if the server rejects it (see structured_output).
    structured_output: str = "auto"

    @classmethod
    def from_options(
        cls, options: Mapping[str, str], env: Mapping[str, str] | None = None
    ) -> LlmSettings:
        env = os.environ if env is None else env
        o = _Options("llm", options, env)
        key_env = o.text("api-key-env", DEFAULT_API_KEY_ENV)
        return cls(
            base_url=o.text("base-url", LOCAL_LLM_BASE_URL, "FLINK_RAG_LLM_BASE_URL"),
            model=o.text("model", LOCAL_LLM_MODEL, "FLINK_RAG_LLM_MODEL"),
            api_key=secret(key_env, env),
            api_key_env=key_env,
            temperature=o.opt_number("temperature"),
            max_tokens=o.get("max-tokens", 256, int),
            seed=o.opt_integer("seed"),
            timeout_s=o.number("timeout", 60.0),
            max_retries=o.integer("max-retries", 6),
            concurrency=o.integer("concurrency", 64, minimum=1),
            on_error=o.choice("on-error", "null", ("null", "fail")),
            cache_dir=_cache_dir(o, env),
            cache_max_bytes=o.integer("cache-max-bytes", DEFAULT_CACHE_MAX_BYTES, minimum=1),
            outage_wait_s=o.number("outage-wait", DEFAULT_OUTAGE_WAIT_S),
            requests_per_minute=o.opt_integer("requests-per-minute"),
            rate_limit_wait_s=o.number("rate-limit-wait", DEFAULT_RATE_LIMIT_WAIT_S),
            structured_output=o.choice(
                "structured-output", "auto", ("auto", "json_schema", "json_object")
            ),
        )


@dataclass(frozen=True)
class StoreSettings:
    """One named vector store profile (`flink-rag.store.<name>.*`). `uri` is excluded from repr."""

    name: str
    uri: str = field(default=LOCAL_MONGODB_URI, repr=False)
    database: str = DEFAULT_DATABASE
    collection: str = ""
    index: str = ""
    path: str = "embedding"
    mode: str = "auto"
    similarity: str = "cosine"
    filter_fields: tuple[str, ...] = ()
    fields: tuple[str, ...] = ()
    content_field: str = "content"
    num_candidates: int | None = None
    min_score: float | None = None
    exact: bool = False
    dimensions: int | None = None
    timeout_s: float = 10.0
    scan_cache_ttl_s: float = 60.0  # scan mode: how long cached document vectors are trusted
    # How long a lookup keeps retrying while MongoDB is unreachable before the row gets an error.
    outage_wait_s: float = 0.0

    @classmethod
    def from_options(
        cls, name: str, options: Mapping[str, str], env: Mapping[str, str] | None = None
    ) -> StoreSettings:
        env = os.environ if env is None else env
        o = _Options(f"store.{name}", options, env)
        return cls(
            name=name,
            uri=secret("MONGODB_URI", env) or LOCAL_MONGODB_URI,
            database=o.text("database", DEFAULT_DATABASE, "FLINK_RAG_MONGODB_DATABASE"),
            collection=o.text("collection", name),
            index=o.text("index", f"{name}_vector_index"),
            path=o.text("path", "embedding"),
            mode=o.choice("mode", "auto", ("auto", "atlas", "scan")),
            similarity=o.choice("similarity", "cosine", ("cosine", "euclidean", "dotproduct")),
            filter_fields=o.names("filter-fields"),
            fields=o.names("fields"),
            content_field=o.text("content-field", "content"),
            num_candidates=o.opt_integer("num-candidates"),
            min_score=o.opt_number("min-score"),
            exact=o.flag("exact", False),
            dimensions=o.opt_integer("dimensions"),
            timeout_s=o.number("timeout", 10.0),
            scan_cache_ttl_s=o.number("scan-cache-ttl", 60.0),
            outage_wait_s=o.number("outage-wait", DEFAULT_OUTAGE_WAIT_S),
        )


def _cache_dir(o: _Options, env: Mapping[str, str]) -> str | None:
    """Settings built from a job's options cache answers by default (a replay after a restart
    costs nothing); cache-dir=off turns it off. The bare dataclasses keep it off."""
    value = o.opt_text("cache-dir", "FLINK_RAG_CACHE_DIR")
    if value is None:
        return default_cache_dir(env)
    return None if value.strip().lower() in CACHE_OFF else value


def section(options: Mapping[str, str], prefix: str) -> dict[str, str]:
    """The options under `prefix` (e.g. 'flink-rag.llm.') with the prefix stripped."""
    return {k[len(prefix) :]: v for k, v in options.items() if k.startswith(prefix)}
