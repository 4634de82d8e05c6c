"""Model profiles: `flink-rag.llm.<profile>.*` and `flink-rag.embed.<profile>.*` beside the
unnamed `flink-rag.llm.*` / `flink-rag.embed.*`, which are the profile named `default`.

The rule that keeps a profile name apart from an option key is the shape of the key: option
keys have no dot, so `flink-rag.llm.<one word>` is always an option of the default profile (a
typo there is reported against the option keys: `modle` -> "did you mean model") and
`flink-rag.llm.<profile>.<key>` is always a profile's option. A profile is declared by setting
at least one of its options. Its name is refused when it could be read as an option key: an
option key itself, or close to one (`modle.model` is a typo, not a profile), or `default`.

A profile does not inherit the unnamed options: like a store profile, it is its own options,
then the environment's fallbacks, then the defaults, so that reading one profile's keys tells
the whole of what it calls.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Container, Iterable, Mapping, Sequence
from typing import TypeVar

from .errors import ConfigError

T = TypeVar("T")

DEFAULT_PROFILE = "default"
# The name a SQL call passes and a metric group carries: no dots (they split keys), no case.
_PROFILE_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
# How close to an option key a name may come before it reads as a typo of that key.
_CONFUSABLE = 0.8


def split_profiles(
    prefix: str, options: Mapping[str, str], option_keys: Iterable[str]
) -> dict[str, dict[str, str]]:
    """`options` (keys without `prefix`, e.g. 'flink-rag.llm.') -> options per profile.

    {'model': 'a', 'strong.model': 'b'} -> {'default': {'model': 'a'}, 'strong': {'model':
    'b'}}. The default profile is always present (its options may be empty). Raises
    ConfigError for a name that could be read as an option key or is not a profile name."""
    keys = tuple(option_keys)
    profiles: dict[str, dict[str, str]] = {DEFAULT_PROFILE: {}}
    for key, value in options.items():
        if "." not in key:
            profiles[DEFAULT_PROFILE][key] = value
            continue
        name, rest = key.split(".", 1)
        check_profile_name(prefix, name, keys, example=f"{prefix}{key}")
        profiles.setdefault(name, {})[rest] = value
    for key in profiles[DEFAULT_PROFILE]:
        if key in profiles and key != DEFAULT_PROFILE:
            raise ConfigError(
                f"option '{prefix}{key}' names profile {key!r} without a key; set its options "
                f"one by one, e.g. '{prefix}{key}.model'"
            )
    return profiles


def check_profile_name(prefix: str, name: str, option_keys: tuple[str, ...], example: str) -> None:
    """Refuse a profile name that is empty, malformed, `default`, or confusable with a key."""
    if name == DEFAULT_PROFILE:
        raise ConfigError(
            f"option '{example}': the default profile is the unnamed one; set "
            f"'{prefix}<key>' instead of '{prefix}{DEFAULT_PROFILE}.<key>'"
        )
    if not _PROFILE_NAME.match(name):
        raise ConfigError(
            f"option '{example[:200]}': profile name {name[:64]!r} must be 1-63 lower-case "
            "letters, digits, '-' or '_', starting with a letter or digit"
        )
    close = difflib.get_close_matches(name, option_keys, n=1, cutoff=_CONFUSABLE)
    if close:
        raise ConfigError(
            f"option '{example}' reads as profile {name!r}, which looks like option key "
            f"{close[0]!r}: did you mean '{prefix}{close[0]}'? Otherwise name the profile "
            "something unlike an option key"
        )


def profile_of(value: object) -> str:
    """A call's profile argument -> profile name: NULL or blank is the default profile."""
    if value is None or (isinstance(value, float) and value != value):
        return DEFAULT_PROFILE
    text = str(value).strip().lower()
    return text or DEFAULT_PROFILE


def unknown_profile(function: str, section: str, name: str, declared: Iterable[str]) -> str:
    """The row error for a call naming a profile the job does not declare."""
    known = ", ".join(sorted(declared))
    return (
        f"{function}: profile {name[:64]!r} is not declared (this job has: {known}); set "
        f"'flink-rag.{section}.{name[:64]}.<key>' options or fix the profile argument"
    )


def dispatch(
    names: Sequence[str],
    declared: Container[str],
    answer: Callable[[str, list[int]], Sequence[T]],
    refuse: Callable[[str], T],
) -> list[T]:
    """Each row answered by its own profile, results in input order.

    `answer(profile, rows)` answers the rows (indexes) that name one declared profile, in one
    call so that a profile's rows still overlap and share a request plan; `refuse(name)` is
    the result of a row naming an undeclared one. A profile argument is usually a literal, so
    a batch is usually one group."""
    groups: dict[str, list[int]] = {}
    for i, name in enumerate(names):
        groups.setdefault(name, []).append(i)
    results: list[T | None] = [None] * len(names)
    for name, rows in groups.items():
        answered = answer(name, rows) if name in declared else [refuse(name)] * len(rows)
        if len(answered) != len(rows):
            raise RuntimeError(f"profile {name!r} answered {len(answered)} of {len(rows)} rows")
        for i, result in zip(rows, answered, strict=True):
            results[i] = result
    return results  # type: ignore[return-value]  # every index was filled above
