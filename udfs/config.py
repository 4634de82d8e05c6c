"""Job parameters -> typed settings, read in a UDF's open() from its FunctionContext.

Flink hands a Python UDF only the *global job parameters*. The one documented way to set a
`flink-rag.*` option is a SET of the prefixed key, one statement per option:

    SET 'pipeline.global-job-parameters.flink-rag.llm.model' = 'gpt-4o-mini';

Flink folds such keys into the `pipeline.global-job-parameters` map; the UDF sees
`flink-rag.llm.model`. Caution (Flink's rule, checked on 2.3.0): a SET of the map option itself
(`SET 'pipeline.global-job-parameters' = 'k:v,...'`) replaces every per-key SET, so the two
forms must not be mixed; `configure()` and the SQL runners refuse the mixture.

All `flink-rag.*` parameters of the job are validated together the first time a worker opens
a function: an unknown key (a typo) or a bad value fails the job at start, naming the key and
the closest valid one, and never a row.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from typing import Any, ClassVar

from ..connectors.errors import ConfigError
from ..connectors.profiles import DEFAULT_PROFILE, split_profiles, unknown_profile
from ..connectors.settings import EmbedSettings, LlmSettings, StoreSettings, check_keys, section

PREFIX = "flink-rag."
JOB_PARAMETERS = "pipeline.global-job-parameters"
# Optional list of profiles a VECTOR_LOOKUP worker opens (and checks) in open().
STORES_KEY = "flink-rag.stores"
TOP_LEVEL_KEYS = ("stores",)
SECTIONS = ("embed", "llm", "store", *TOP_LEVEL_KEYS)


def job_parameter_key(key: str) -> str:
    """`flink-rag.llm.model` -> `pipeline.global-job-parameters.flink-rag.llm.model`."""
    return f"{JOB_PARAMETERS}.{key}"


def job_parameters(context: Any) -> dict[str, str]:
    """The `flink-rag.*` job parameters a FunctionContext carries."""
    # PyFlink's FunctionContext keeps all job parameters in a dict but offers only exact-key
    # reads; the dict is needed to find keys that are set but unknown (typos).
    params = getattr(context, "_job_parameters", None)
    if not isinstance(params, Mapping):
        raise ConfigError(
            "this PyFlink version does not expose the job parameters to UDFs; use PyFlink 2.3"
        )
    return {str(k): str(v) for k, v in params.items() if str(k).startswith(PREFIX)}


def store_names(params: Mapping[str, str]) -> tuple[str, ...]:
    """Profiles named by `flink-rag.store.<name>.<key>` keys or listed in `flink-rag.stores`."""
    prefix = f"{PREFIX}store."
    named = {k[len(prefix) :].split(".", 1)[0] for k in params if k.startswith(prefix)}
    return tuple(sorted({n for n in named if n} | set(_listed(params))))


def model_profiles(
    params: Mapping[str, str], cls: type[EmbedSettings] | type[LlmSettings]
) -> dict[str, dict[str, str]]:
    """The options of each `flink-rag.<embed|llm>.<profile>.*` profile, `default` (the unnamed
    options) included: a name confusable with an option key is refused (profiles.py)."""
    prefix = f"{PREFIX}{cls.section}."
    return split_profiles(prefix, section(params, prefix), cls.option_keys())


def _listed(params: Mapping[str, str]) -> tuple[str, ...]:
    raw = params.get(STORES_KEY, "")
    return tuple(p.strip() for p in raw.replace(";", ",").split(",") if p.strip())


def validate(
    params: Mapping[str, str], env: Mapping[str, str] | None = None, *, resolve: bool = True
) -> None:
    """Check every `flink-rag.*` key and value; raise ConfigError with the first problem.

    With `resolve` (a worker at job start) the named connections are looked up in this
    process's environment and every key is bound to its endpoint; without (configure() and
    the SQL-script writer, whose environment is not the cluster's) only the options are."""
    for key in params:
        name = key[len(PREFIX) :].split(".", 1)[0]
        if key.startswith(PREFIX) and name not in SECTIONS:
            close = difflib.get_close_matches(name, SECTIONS, n=1, cutoff=0.5)
            hint = f"did you mean '{PREFIX}{close[0]}.…'?" if close else ""
            raise ConfigError(
                f"unknown option '{key}': flink-rag options start with "
                f"{', '.join(PREFIX + s for s in SECTIONS)}; {hint}".rstrip("; ")
            )
    top = {k[len(PREFIX) :]: v for k, v in params.items() if k.count(".") == 1}
    check_keys(PREFIX, {k: v for k, v in top.items() if k not in SECTIONS}, TOP_LEVEL_KEYS)
    for bare in ("embed", "llm", "store"):
        if f"{PREFIX}{bare}" in params:
            raise ConfigError(
                f"option '{PREFIX}{bare}' needs a key, e.g. '{PREFIX}{bare}.model' "
                f"(see sql/functions.sql for the {bare} keys)"
            )
    for cls in (EmbedSettings, LlmSettings):
        for profile, options in model_profiles(params, cls).items():
            cls.from_options(options, env, resolve=resolve, profile=profile)
    for name in store_names(params):
        options = section(params, f"flink-rag.store.{name}.")
        StoreSettings.from_options(name, options, env, resolve=resolve)


class JobConfig:
    """The settings of one job, validated once per worker process and shared by its UDFs."""

    _validated: ClassVar[set[frozenset[tuple[str, str]]]] = set()

    def __init__(self, params: Mapping[str, str]):
        self.params = dict(params)
        key = frozenset(self.params.items())
        if key not in JobConfig._validated:
            validate(self.params)
            JobConfig._validated.add(key)

    @classmethod
    def of(cls, context: Any) -> JobConfig:
        return cls(job_parameters(context))

    def embed(self, profile: str = DEFAULT_PROFILE) -> EmbedSettings:
        options = self._profile_options(EmbedSettings, profile)
        return EmbedSettings.from_options(options, profile=profile)

    def llm(self, profile: str = DEFAULT_PROFILE) -> LlmSettings:
        return LlmSettings.from_options(
            self._profile_options(LlmSettings, profile), profile=profile
        )

    def profiles(self, cls: type[EmbedSettings] | type[LlmSettings]) -> tuple[str, ...]:
        """The declared profiles of the embed or llm section, `default` included."""
        return tuple(sorted(model_profiles(self.params, cls)))

    def _profile_options(
        self, cls: type[EmbedSettings] | type[LlmSettings], profile: str
    ) -> dict[str, str]:
        profiles = model_profiles(self.params, cls)
        if profile not in profiles:
            raise ConfigError(unknown_profile(cls.section, cls.section, profile, profiles))
        return profiles[profile]

    def store(self, name: str) -> StoreSettings:
        return StoreSettings.from_options(name, section(self.params, f"flink-rag.store.{name}."))

    def listed_stores(self) -> tuple[str, ...]:
        return _listed(self.params)


# The functions UDFs call in open().
def embed_settings(context: Any, profile: str = DEFAULT_PROFILE) -> EmbedSettings:
    return JobConfig.of(context).embed(profile)


def llm_settings(context: Any, profile: str = DEFAULT_PROFILE) -> LlmSettings:
    return JobConfig.of(context).llm(profile)


def embed_profiles(context: Any) -> tuple[str, ...]:
    return JobConfig.of(context).profiles(EmbedSettings)


def llm_profiles(context: Any) -> tuple[str, ...]:
    return JobConfig.of(context).profiles(LlmSettings)


def store_settings(context: Any, name: str) -> StoreSettings:
    return JobConfig.of(context).store(name)


def listed_stores(context: Any) -> tuple[str, ...]:
    return JobConfig.of(context).listed_stores()


def configure(t_env: Any, options: Mapping[str, str]) -> None:
    """Set `flink-rag.*` options (full keys) as per-key job parameters, after validating them.

    The Python twin of `SET 'pipeline.global-job-parameters.flink-rag.<key>' = '<value>'`;
    calls add up, later values win.
    """
    from .quiet_logs import quiet_gateway_jvm

    quiet_gateway_jvm(t_env)  # a program may configure() and never register() (SQL DDL)
    conf = t_env.get_config()
    refuse_map_form(conf.get(JOB_PARAMETERS, None))
    for key in options:
        if not str(key).startswith(PREFIX):
            raise ConfigError(f"configure() takes flink-rag.* keys; got {key!r}")
    merged = {**configured(t_env), **{str(k): str(v) for k, v in options.items()}}
    validate(merged, resolve=False)
    for key, value in options.items():
        conf.set(job_parameter_key(str(key)), str(value))
    t_env._flink_rag_options = merged


def set_statements(options: Mapping[str, str]) -> list[str]:
    """`options` (full `flink-rag.*` keys) as the per-key SETs a SQL-client script starts with,
    after validating them: the SQL twin of configure()."""
    validate({str(k): str(v) for k, v in options.items()}, resolve=False)
    return [
        f"SET '{job_parameter_key(str(k))}' = '{str(v).replace(chr(39), chr(39) * 2)}'"
        for k, v in options.items()
    ]


# The sections whose FLINK_RAG_* environment fallbacks are one job parameter each (a store's
# options belong to a named profile, so its variables stay variables).
_ENV_SECTIONS = (EmbedSettings, LlmSettings)


def env_options(env: Mapping[str, str]) -> dict[str, str]:
    """The `flink-rag.*` options that the environment variables in `env` stand for, read from
    the settings' own fallbacks. A mini-cluster's workers see the variables themselves; a
    session cluster's workers do not, so a SQL-client script carries these instead."""
    found = {}
    for cls in _ENV_SECTIONS:
        for key, names in cls.env_fallbacks.items():
            # OPENAI_BASE_URL and the like stay the cluster's own environment's business.
            ours = [n for n in names if n.startswith("FLINK_RAG_")]
            value = next((env[n] for n in ours if env.get(n)), None)
            if value is not None:
                found[f"{PREFIX}{cls.section}.{key}"] = value
    return found


def configured(t_env: Any) -> dict[str, str]:
    """The `flink-rag.*` options configure() and SET statements put on this environment."""
    return dict(getattr(t_env, "_flink_rag_options", {}))


def refuse_map_form(value: object) -> None:
    """The map form of `pipeline.global-job-parameters` would replace every per-key SET."""
    if value:
        raise ConfigError(
            f"'{JOB_PARAMETERS}' is set as a whole ({str(value)[:40]!r}...), which replaces "
            "every per-key SET of a job parameter; set each key on its own instead: "
            f"SET '{JOB_PARAMETERS}.<key>' = '<value>'"
        )
