"""One channel for `flink-rag.*` options (udfs/config.py): the SQL-client script's SETs and
the environment's stand-ins come from it, validated like configure()."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from flink_rag.connectors.errors import ConfigError
from flink_rag.connectors.settings import EmbedSettings, LlmSettings
from flink_rag.sql.files import for_sql_client, parse_set
from flink_rag.udfs.config import env_options, set_statements

pytestmark = pytest.mark.unit


def test_env_options_follow_the_settings_fallbacks():
    env = {
        "FLINK_RAG_EMBED_PROVIDER": "openai",
        "FLINK_RAG_LLM_MODEL": "gpt-4o-mini",
        "FLINK_RAG_CACHE_DIR": "/tmp/c",
        "OPENAI_BASE_URL": "http://elsewhere/v1",  # the cluster's own business
        "FLINK_RAG_MONGODB_DATABASE": "db",  # a store profile's, not a job parameter
    }
    assert env_options(env) == {
        "flink-rag.embed.provider": "openai",
        "flink-rag.llm.model": "gpt-4o-mini",
        "flink-rag.embed.cache-dir": "/tmp/c",
        "flink-rag.llm.cache-dir": "/tmp/c",
    }


def test_every_flink_rag_variable_of_embed_and_llm_becomes_an_option():
    for cls in (EmbedSettings, LlmSettings):
        for key, names in cls.env_fallbacks.items():
            ours = [n for n in names if n.startswith("FLINK_RAG_")]
            got = env_options({ours[0]: "1"})
            assert got[f"flink-rag.{cls.section}.{key}"] == "1", (cls, key)


def test_empty_variables_are_unset():
    assert env_options({"FLINK_RAG_LLM_MODEL": ""}) == {}


def test_set_statements_validate_like_configure():
    with pytest.raises(ConfigError, match=r"flink-rag\.lm\.model.*did you mean 'flink-rag\.llm"):
        set_statements({"flink-rag.lm.model": "x"})
    with pytest.raises(ConfigError, match="api-key"):
        set_statements({"flink-rag.llm.api-key": "sk-secret"})


@given(st.text(alphabet=st.characters(exclude_categories=("Cs", "Cc")), max_size=40))
def test_a_value_comes_back_from_the_sql_client_script_unchanged(value):
    (statement,) = set_statements({"flink-rag.llm.model": value})
    assert parse_set(statement) == (
        "pipeline.global-job-parameters.flink-rag.llm.model",
        value,
    )


def test_the_sql_client_script_starts_with_the_channel_s_sets():
    script = for_sql_client(["SELECT 1"], {"flink-rag.llm.model": "it's"})
    assert script == (
        "SET 'pipeline.global-job-parameters.flink-rag.llm.model' = 'it''s';\nSELECT 1;\n"
    )
