"""A small LLM_COMPLETE job run in its own process by test_secrets_stay_out.py, so that the
JVM and the Python workers inherit the marker key from this process's environment.

    python secrets_job.py BASE_URL
Prints the optimized plan and the output rows.
"""

from __future__ import annotations

import os
import sys

os.environ.setdefault("_python_worker_execution_mode", "process")

from flink_rag.jobs.minicluster import table_env
from flink_rag.udfs import configure, register


def main(base_url: str) -> None:
    t_env = table_env()
    configure(t_env, {"flink-rag.llm.base-url": base_url, "flink-rag.llm.model": "bench-chat"})
    register(t_env)
    t_env.execute_sql(
        "CREATE TEMPORARY VIEW prompts AS SELECT * FROM (VALUES ('p1'), ('p2'), ('p3')) AS t(p)"
    )
    query = "SELECT p, LLM_COMPLETE(p).text AS answer, LLM_COMPLETE(p).error AS err FROM prompts"
    print("PLAN", t_env.explain_sql(query))
    with t_env.execute_sql(query).collect() as rows:
        for row in rows:
            print("ROW", list(row))


if __name__ == "__main__":
    main(sys.argv[1])
