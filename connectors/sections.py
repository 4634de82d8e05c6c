"""The parts every `flink-rag.<section>.*` group shares: the pydantic base that validates a
group's options with environment fallbacks, the refusal of secrets and unknown keys, and the
value types of the options. The groups themselves are in settings.py."""

from __future__ import annotations

import difflib
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from .errors import ConfigError

# Option names that would put a secret into SQL text.
_SECRET_OPTIONS = ("api-key", "apikey", "password", "uri", "mongodb-uri", "token", "secret")
# Options that chose where a secret comes from; the operator's connections do that now.
_GONE_OPTIONS = ("api-key-env",)


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
            ) from None
    return None


def _names(raw: Any) -> Any:
    """'a,b;c' -> ('a', 'b', 'c'); lists in a SET value are separated by ',' or ';'."""
    if isinstance(raw, str):
        return tuple(p.strip() for p in raw.replace(";", ",").split(",") if p.strip())
    return raw


def _lower(raw: Any) -> Any:
    return raw.strip().lower() if isinstance(raw, str) else raw


Names = Annotated[tuple[str, ...], BeforeValidator(_names)]
PositiveInt = Annotated[int, Field(ge=1)]
NonNegativeInt = Annotated[int, Field(ge=0)]
Seconds = Annotated[float, Field(gt=0)]
# A connection's name as SQL gives it: compared in lower case, the form the file must use.
ConnectionName = Annotated[
    str, BeforeValidator(_lower), Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$")
]
OnError = Annotated[Literal["null", "fail"], BeforeValidator(_lower)]


class Section(BaseModel):
    """One `flink-rag.<section>.*` group. Field aliases are the option keys."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    #: The `flink-rag.` section name, e.g. "llm" or "store".
    section: ClassVar[str] = ""
    #: Option key -> environment variables consulted (in order) when the option is unset.
    env_fallbacks: ClassVar[dict[str, tuple[str, ...]]] = {}

    @classmethod
    def option_keys(cls) -> tuple[str, ...]:
        """The option keys this section accepts (`flink-rag.<section>.<key>`)."""
        return tuple(f.alias or n for n, f in cls.model_fields.items() if n != "name")

    @classmethod
    def build(
        cls,
        prefix: str,
        options: Mapping[str, str],
        env: Mapping[str, str],
        extra: Mapping[str, Any] | None = None,
    ) -> Any:
        """Validate `options` (keys without `prefix`) with env fallbacks; one-line errors."""
        options = {k: v for k, v in options.items() if v is not None and v != ""}
        check_keys(prefix, options, cls.option_keys())
        data: dict[str, Any] = dict(options)
        source = {k: f"option '{prefix}{k}'" for k in options}
        for key, names in cls.env_fallbacks.items():
            if key not in data:
                for name in names:
                    if env.get(name):
                        data[key], source[key] = env[name], f"env var {name}"
                        break
        data.update(extra or {})
        try:
            return cls.model_validate(data)
        except ValidationError as err:
            first = err.errors()[0]
            key = str(first["loc"][0]) if first["loc"] else "?"
            where = source.get(key, f"option '{prefix}{key}'")
            raise ConfigError(
                f"{where} has an invalid value {data.get(key)!r}: {first['msg']}; "
                "fix the SET statement or the variable"
            ) from None


def check_keys(prefix: str, options: Mapping[str, str], valid: tuple[str, ...]) -> None:
    """Refuse secrets and unknown keys, naming the closest valid key."""
    for key in options:
        last = key.rsplit(".", 1)[-1].lower()
        if last in _SECRET_OPTIONS or last in _GONE_OPTIONS:
            what = (
                "would put a secret into SQL text"
                if last in _SECRET_OPTIONS
                else ("would let SQL choose where a key comes from, and is gone")
            )
            raise ConfigError(
                f"option '{prefix}{key}' {what}; secrets belong to connections that the "
                "cluster's operator defines in the environment of the Flink processes "
                "(OPENAI_API_KEY_FILE / MONGODB_URI_FILE for the "
                "default one, more in the file named by FLINK_RAG_CONNECTIONS): ask for one "
                f"and name it with '{prefix}connection'"
            )
        if key not in valid:
            close = difflib.get_close_matches(key, valid, n=1, cutoff=0.6)
            hint = (
                f"did you mean '{prefix}{close[0]}'?"
                if close
                else "valid keys: " + (", ".join(valid))
            )
            raise ConfigError(f"unknown option '{prefix}{key}'; {hint}")


def section(options: Mapping[str, str], prefix: str) -> dict[str, str]:
    """The options under `prefix` (e.g. 'flink-rag.llm.') with the prefix stripped."""
    return {k[len(prefix) :]: v for k, v in options.items() if k.startswith(prefix)}
