"""Connections: an endpoint bound to its secret and limits by the operator, outside SQL.

A platform team lists its connections in a TOML file named by FLINK_RAG_CONNECTIONS in the
environment of the Flink processes (a mounted config map; the secrets themselves stay in
mounted secret files or variables):

    [connections.openai-prod]
    kind = "openai"                              # or "mongodb"
    endpoint = "https://api.openai.com/v1"       # an openai connection's base URL
    secret-file = "/run/secrets/openai_api_key"  # or secret-env = "OPENAI_PROD_KEY"
    rpm = 500                                    # optional caps; SQL can lower, never raise
    tpm = 200000                                 # token budgets, enforced per worker process:
    tokens-per-day = 20000000                    # also tokens-per-hour, tokens-per-job
    concurrency = 16

    [connections.atlas]
    kind = "mongodb"
    secret-file = "/run/secrets/mongodb_uri"     # the whole URI is the secret

SQL names a connection (`flink-rag.llm.connection = 'openai-prod'`) and never a variable, a
file or a URI. The environment itself is the connection named `default` (OPENAI_API_KEY(_FILE)
with OPENAI_BASE_URL and the FLINK_RAG_*_BASE_URL variables; MONGODB_URI(_FILE)), so the local
defaults need no file. A key goes only to an endpoint of its own connection (endpoint_key()).
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from .endpoint_urls import canonical_endpoint, is_loopback
from .errors import ConfigError

CONNECTIONS_ENV = "FLINK_RAG_CONNECTIONS"
DEFAULT = "default"
OPENAI_API_ENDPOINT = "https://api.openai.com/v1"
# Servers on this machine (llama.cpp, vLLM, Ollama) ignore the key but the SDK requires one.
LOCAL_PLACEHOLDER_KEY = "not-needed-for-local-servers"
# Names travel in SQL values and metric names: plain lower-case words only, no look-alikes.
NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,62}")
Kind = Literal["openai", "mongodb"]
PositiveInt = Annotated[int, Field(ge=1)]


class Connection(BaseModel):
    """One connection. `endpoints` has one entry for a file's connection; the default
    connection of the environment binds its key to every base URL the operator set there."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    name: str
    kind: Kind
    endpoint: str | None = None
    secret_file: str | None = Field(None, alias="secret-file")
    secret_env: str | None = Field(None, alias="secret-env")
    rpm: PositiveInt | None = None
    tpm: PositiveInt | None = None  # the enforced tokens-per-minute budget (token_budget.py)
    tokens_per_hour: PositiveInt | None = Field(None, alias="tokens-per-hour")
    tokens_per_day: PositiveInt | None = Field(None, alias="tokens-per-day")
    tokens_per_job: PositiveInt | None = Field(None, alias="tokens-per-job")
    concurrency: PositiveInt | None = None
    # Extra endpoints of the default connection (OPENAI_BASE_URL, FLINK_RAG_*_BASE_URL).
    also: tuple[str, ...] = Field((), exclude=True)
    # The environment's own default connection: its key may also sit in `<secret-env>_FILE`
    # (as it always could), and a profile's own base-URL defaults apply to it.
    from_environment: bool = Field(False, exclude=True)

    @field_validator("secret_env")
    @classmethod
    def _variable_name(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", value):
            raise ValueError("must be an environment variable name (letters, digits, _)")
        return value

    @field_validator("endpoint")
    @classmethod
    def _plain_endpoint(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None:
            return value
        if info.data.get("kind") == "mongodb":
            raise ValueError(
                "a mongodb connection has no endpoint field: its URI (with any password) is "
                "the secret, in secret-file or secret-env"
            )
        if canonical_endpoint(value) is None:
            raise ValueError(
                "must be a plain http(s) base URL (no user:password@, query or fragment), "
                "e.g. https://api.openai.com/v1; a key goes in secret-file"
            )
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Connection:
        if self.secret_file and self.secret_env:
            raise ValueError("set secret-file or secret-env, not both")
        if self.kind == "mongodb" and not (self.secret_file or self.secret_env):
            raise ValueError("a mongodb connection needs secret-file or secret-env (its URI)")
        return self

    @property
    def endpoints(self) -> tuple[str, ...]:
        """The canonical base URLs this connection's key may be sent to (openai)."""
        if self.kind != "openai":
            return ()
        urls = (self.endpoint or OPENAI_API_ENDPOINT, *self.also)
        found = (canonical_endpoint(u) for u in urls)
        return tuple(dict.fromkeys(c for c in found if c))

    @property
    def has_secret(self) -> bool:
        return bool(self.secret_file or self.secret_env)

    def secret_source(self) -> str:
        """Where the secret lives, for messages (never the value)."""
        if self.secret_file:
            return f"file {self.secret_file}"
        if self.secret_env:
            tail = f" (or {self.secret_env}_FILE)" if self.from_environment else ""
            return f"env var {self.secret_env}{tail}"
        return "no secret"

    def secret(self, env: Mapping[str, str]) -> str | None:
        """The secret's value, read now (a rotated file is read again by the next job)."""
        if self.secret_file:
            return _read(self.secret_file, f"connection {self.name!r}: secret-file")
        if self.secret_env:
            value = env.get(self.secret_env)
            if value:
                return value
            path = env.get(f"{self.secret_env}_FILE") if self.from_environment else None
            if path:
                return _read(path, f"{self.secret_env}_FILE")
        return None

    def endpoint_key(self, base_url: str | None, env: Mapping[str, str]) -> str | None:
        """The key to send to `base_url`: the connection's, if `base_url` is one of its
        endpoints; otherwise None. This is the one place a key meets a URL."""
        canonical = canonical_endpoint(base_url or OPENAI_API_ENDPOINT)
        if canonical is None or canonical not in self.endpoints:
            return None
        return self.secret(env)


def _read(path: str, what: str) -> str:
    try:
        value = Path(path).read_text(encoding="utf-8").strip()
    except OSError as err:
        raise ConfigError(
            f"{what} names a file that cannot be read ({err.strerror}); mount the secret there "
            "or fix the path"
        ) from None
    if not value:
        raise ConfigError(f"{what} names an empty file; put the secret in it")
    return value


def environment_connections(env: Mapping[str, str]) -> dict[str, Connection]:
    """The `default` connection of each kind, as the environment has always defined it."""
    base = env.get("OPENAI_BASE_URL") or OPENAI_API_ENDPOINT
    also = tuple(
        env[name]
        for name in ("FLINK_RAG_LLM_BASE_URL", "FLINK_RAG_EMBED_BASE_URL")
        if env.get(name)
    )
    openai = Connection.model_construct(
        name=DEFAULT,
        kind="openai",
        endpoint=base,
        secret_file=None,
        secret_env="OPENAI_API_KEY",
        rpm=None,
        tpm=None,
        concurrency=None,
        also=also,
        from_environment=True,
    )
    mongodb = Connection.model_construct(
        name=DEFAULT,
        kind="mongodb",
        endpoint=None,
        secret_file=None,
        secret_env="MONGODB_URI",
        rpm=None,
        tpm=None,
        concurrency=None,
        also=(),
        from_environment=True,
    )
    return {"openai": openai, "mongodb": mongodb}


def parse(text: str, source: str) -> dict[str, Connection]:
    """The connections of a TOML text; a ConfigError names `source` and the field, never a
    value (a careless file may hold a key where an endpoint belongs)."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{source} is not valid TOML ({err}); fix the file") from None
    unknown = sorted(set(data) - {"connections"})
    if unknown:
        raise ConfigError(
            f"{source}: unknown top-level key {unknown[0]!r}; connections go in "
            "[connections.<name>] tables"
        )
    tables = data.get("connections", {})
    if not isinstance(tables, dict):
        raise ConfigError(f"{source}: 'connections' must be a table of [connections.<name>]")
    found: dict[str, Connection] = {}
    for name, fields in tables.items():
        if not NAME.fullmatch(name):
            raise ConfigError(
                f"{source}: connection name {_shown(name)} must be 1-63 lower-case letters, "
                "digits, '-' or '_', starting with a letter or digit"
            )
        if not isinstance(fields, dict):
            raise ConfigError(f"{source}: connections.{name} must be a table")
        if "name" in fields or "also" in fields:
            raise ConfigError(f"{source}: connections.{name} has a reserved field; remove it")
        try:
            found[name] = Connection.model_validate({**fields, "name": name})
        except ValidationError as err:
            first = err.errors()[0]
            field = "".join(f".{p}" for p in first["loc"])
            message = first["msg"].removeprefix("Value error, ")
            raise ConfigError(f"{source}: connections.{name}{field}: {message}") from None
    return found


def _shown(name: str) -> str:
    """A hostile name, shown safely: printable, short."""
    return repr(name[:40] + ("..." if len(name) > 40 else ""))


class Connections:
    """Every connection a worker process knows: the environment's defaults, then the file's
    (a file connection named `default` replaces the environment's of its kind)."""

    def __init__(self, defined: Mapping[str, Connection], env: Mapping[str, str], source: str):
        self._defined = dict(defined)
        self._defaults = environment_connections(env)
        self.source = source

    @classmethod
    def load(cls, env: Mapping[str, str] | None = None) -> Connections:
        env = os.environ if env is None else env
        path = env.get(CONNECTIONS_ENV, "").strip()
        if not path:
            return cls({}, env, "the environment")
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as err:
            raise ConfigError(
                f"{CONNECTIONS_ENV}={path} cannot be read ({err.strerror}); mount the "
                "connections file there or unset the variable"
            ) from None
        return cls(parse(text, path), env, path)

    def all(self) -> list[Connection]:
        """Every connection, the defaults first (a file's `default` replaces its kind's)."""
        defaults = [
            self._defined.get(DEFAULT, c) if self._defined.get(DEFAULT, c).kind == k else c
            for k, c in self._defaults.items()
        ]
        return defaults + [c for n, c in sorted(self._defined.items()) if n != DEFAULT]

    def get(self, name: str, kind: Kind, option: str) -> Connection:
        """The connection SQL named in `option`, of the kind the function needs."""
        wanted = name.strip().lower()
        if wanted == DEFAULT:
            mine = self._defined.get(DEFAULT)
            return mine if mine is not None and mine.kind == kind else self._defaults[kind]
        found = self._defined.get(wanted)
        if found is None:
            names = sorted({DEFAULT, *self._defined})
            raise ConfigError(
                f"option '{option}' names connection {_shown(name)}, which {self.source} does "
                f"not define (known: {', '.join(names)}); ask the cluster's operator to add it "
                f"to the file named by {CONNECTIONS_ENV}"
            )
        if found.kind != kind:
            raise ConfigError(
                f"option '{option}' names connection {wanted!r}, which is of kind "
                f"{found.kind!r}; this function needs one of kind {kind!r}"
            )
        return found


def bind_openai(
    conn: Connection, base_url: str | None, env: Mapping[str, str], prefix: str
) -> tuple[str | None, str | None]:
    """(base URL, key) of a model profile on `conn`. `base_url` is the profile's own choice
    (a SQL option, or for the environment's connection a FLINK_RAG_*_BASE_URL variable or the
    built-in default); None means the connection's endpoint.

    A key is returned only for an endpoint of the connection. Another URL gets no key: on
    this machine (a local or test server) it is called without one; elsewhere it is refused
    at job start while the connection has a key.
    """
    if base_url is None and not conn.from_environment:
        base_url = conn.endpoint
    # None stays None for the environment's connection: the SDK then uses OPENAI_BASE_URL or
    # OpenAI's API, which is that connection's endpoint.
    canonical = canonical_endpoint(base_url or conn.endpoint or OPENAI_API_ENDPOINT)
    if canonical is not None and canonical in conn.endpoints:
        key = conn.secret(env)
        if key is None and conn.has_secret and not conn.from_environment:
            raise ConfigError(
                f"connection {conn.name!r} keeps its key in {conn.secret_source()}, which is "
                "not set in the Flink processes; ask the operator to mount it "
                "(`flink-rag connections check` shows what resolves)"
            )
        if key is None and not conn.has_secret:
            # A keyless connection the operator defined (an internal server without auth):
            # the SDK insists on some key, and this one is no secret.
            key = LOCAL_PLACEHOLDER_KEY
        return base_url, key
    if is_loopback(base_url) or conn.secret(env) is None:
        # No key goes anywhere: a server on this machine, or a connection without a key
        # (resolve_api_key still refuses a remote URL without one, as before).
        return base_url, None
    shown = canonical or "a URL that is not a plain http(s) base URL"
    raise ConfigError(
        f"'{prefix}base-url' is {shown}, not an endpoint of connection {conn.name!r} "
        f"({', '.join(conn.endpoints)}), whose key goes only to its own endpoints; unset "
        f"'{prefix}base-url' to use the connection's endpoint, or ask the cluster's operator "
        f"for a connection to that endpoint and name it in '{prefix}connection'"
    )
