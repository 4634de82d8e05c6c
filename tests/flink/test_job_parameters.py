"""How per-key job-parameter SETs reach a Python UDF on a real mini-cluster, and the rule that
makes mixing them with the map form unsafe (pinned here because the docs state it)."""

from __future__ import annotations

import json

import pytest

from flink_rag.connectors.errors import ConfigError
from flink_rag.sql.files import split_statements
from flink_rag.sql.runner import execute_statements

pytestmark = pytest.mark.flink


def _seen_params(t_env) -> dict[str, str]:
    from pyflink.table import DataTypes
    from pyflink.table.udf import ScalarFunction, udf

    class Seen(ScalarFunction):
        def open(self, function_context):
            params = function_context._job_parameters
            self.seen = json.dumps({k: v for k, v in params.items() if "rag" in k})

        def eval(self, x):
            return self.seen

    t_env.create_temporary_function("seen", udf(Seen(), result_type=DataTypes.STRING()))
    with t_env.execute_sql("SELECT seen(1)").collect() as rows:
        text = next(iter(rows))[0]
    return dict(json.loads(text))


def test_per_key_sets_arrive_unquoted_one_key_each():
    from flink_rag.jobs.minicluster import table_env

    t_env = table_env()
    execute_statements(
        t_env,
        split_statements(
            "SET 'pipeline.global-job-parameters.flink-rag.llm.base-url' = 'http://h:1/v1';\n"
            "SET 'pipeline.global-job-parameters.flink-rag.store.f.filter-fields' = 'a,b;c';\n"
        ),
    )
    assert _seen_params(t_env) == {
        "flink-rag.llm.base-url": "http://h:1/v1",
        "flink-rag.store.f.filter-fields": "a,b;c",
    }


def test_the_map_form_replaces_per_key_sets_so_the_runner_refuses_the_mix():
    from flink_rag.jobs.minicluster import table_env

    t_env = table_env()
    conf = t_env.get_config()
    conf.set("pipeline.global-job-parameters.flink-rag.llm.seed", "1")
    conf.set("pipeline.global-job-parameters", "flink-rag.llm.model:m")
    # Flink's rule: the whole-map value wins, the per-key one is gone.
    assert _seen_params(t_env) == {"flink-rag.llm.model": "m"}
    with pytest.raises(ConfigError, match="replaces every per-key SET"):
        execute_statements(
            t_env, ["SET 'pipeline.global-job-parameters.flink-rag.llm.temperature' = '0'"]
        )
    with pytest.raises(ConfigError, match="never see"):
        execute_statements(t_env, ["SET 'flink-rag.llm.model' = 'x'"])
