"""Job parameters -> typed settings, read in a UDF's open() from its FunctionContext.

Flink hands a Python UDF only the *global job parameters* (`pipeline.global-job-parameters`);
a plain `SET 'flink-rag.llm.model' = '...'` stays in the table config and never reaches the
worker. `configure(t_env, {...})` and `job_parameters_option({...})` write the map option with
the quoting Flink needs (values like URLs contain ':').

`FunctionContext.get_job_parameter` needs an exact key, so each section's keys are listed
here; store profiles are read lazily by the name a VECTOR_LOOKUP call passes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flink_rag.connectors.settings import EmbedSettings, LlmSettings, StoreSettings

PREFIX = "flink-rag."
JOB_PARAMETERS = "pipeline.global-job-parameters"

EMBED_KEYS = (
    "provider", "model", "base-url", "api-key-env", "dimensions", "max-batch-inputs",
    "max-batch-tokens", "max-input-tokens", "on-overlong", "concurrency", "timeout",
    "max-retries", "on-error", "cache-dir", "cache-max-bytes", "local-threads", "rate-limit-wait",
    # refused by settings with a pointer to the env var, so they must be read to be refused
    "api-key",
)  # fmt: skip
LLM_KEYS = (
    "base-url", "model", "api-key-env", "temperature", "max-tokens", "seed", "timeout",
    "max-retries", "concurrency", "on-error", "cache-dir", "requests-per-minute",
    "structured-output", "rate-limit-wait", "cache-max-bytes", "outage-wait", "api-key",
)  # fmt: skip
STORE_KEYS = (
    "database", "collection", "index", "path", "mode", "similarity", "filter-fields", "fields",
    "content-field", "num-candidates", "min-score", "exact", "dimensions", "timeout",
    "scan-cache-ttl", "outage-wait", "uri", "password",
)  # fmt: skip
# Optional list of profiles a VECTOR_LOOKUP worker opens (and checks) in open().
STORES_KEY = "flink-rag.stores"


def read_section(context: Any, section: str, keys: tuple[str, ...]) -> dict[str, str]:
    """The `flink-rag.<section>.<key>` job parameters that are set, prefix stripped."""
    found: dict[str, str] = {}
    for key in keys:
        value = context.get_job_parameter(f"{PREFIX}{section}.{key}", None)
        if value is not None and value != "":
            found[key] = value
    return found


def embed_settings(context: Any) -> EmbedSettings:
    return EmbedSettings.from_options(read_section(context, "embed", EMBED_KEYS))


def llm_settings(context: Any) -> LlmSettings:
    return LlmSettings.from_options(read_section(context, "llm", LLM_KEYS))


def store_settings(context: Any, name: str) -> StoreSettings:
    return StoreSettings.from_options(name, read_section(context, f"store.{name}", STORE_KEYS))


def listed_stores(context: Any) -> tuple[str, ...]:
    raw = context.get_job_parameter(STORES_KEY, None) or ""
    return tuple(p.strip() for p in raw.replace(";", ",").split(",") if p.strip())


def job_parameters_option(values: Mapping[str, str]) -> str:
    """Flink's map-option text for `pipeline.global-job-parameters`.

    Flink splits entries on ',' and each entry on ':'; a token may be quoted only as a whole,
    with the quote doubled inside. So every entry is `'"key":"value"'`.
    """

    def quote(text: str, q: str) -> str:
        return q + text.replace(q, q + q) + q

    entries = (quote(quote(k, '"') + ":" + quote(v, '"'), "'") for k, v in values.items())
    return ",".join(entries)


def configure(t_env: Any, options: Mapping[str, str]) -> None:
    """Add `flink-rag.*` options (full keys) to the job parameters the UDFs read.

    Merges with what earlier calls set on this TableEnvironment; later values win.
    """
    merged: dict[str, str] = dict(getattr(t_env, "_flink_rag_options", {}))
    merged.update({str(k): str(v) for k, v in options.items()})
    t_env._flink_rag_options = merged
    t_env.get_config().set(JOB_PARAMETERS, job_parameters_option(merged))
