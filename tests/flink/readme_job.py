"""The README's PyFlink path, written as a user writes it: no project runner, no log settings,
the key in the environment of this process. Run by test_secrets_stay_out.py in its own process.

    python readme_job.py
Prints the output rows.
"""

from pyflink.table import EnvironmentSettings, TableEnvironment

from flink_rag.udfs import configure, register

t_env = TableEnvironment.create(EnvironmentSettings.in_streaming_mode())
register(t_env)
configure(t_env, {"flink-rag.llm.model": "bench-chat"})
t_env.execute_sql(
    "CREATE TEMPORARY VIEW prompts AS SELECT * FROM (VALUES ('p1'), ('p2'), ('p3')) AS t(p)"
)
query = "SELECT p, LLM_COMPLETE(p).text AS answer, LLM_COMPLETE(p).error AS err FROM prompts"
with t_env.execute_sql(query).collect() as rows:
    for row in rows:
        print("ROW", list(row), flush=True)
