"""One job whose LLM profile has a token budget, run by test_budget_enforced.py in a process
whose environment names the operator's connections file (the workers read it).

    python budget_job.py OPTIONS_JSON ROWS
Prints one `ROW <json>` line per row: id, text, error, prompt_tokens, completion_tokens.
"""

from __future__ import annotations

import json
import os
import sys

os.environ.setdefault("_python_worker_execution_mode", "process")

from pyflink.table import DataTypes

from flink_rag.jobs.minicluster import table_env
from flink_rag.udfs import configure, register

QUERY = """
SELECT id, c.text, c.error, c.prompt_tokens, c.completion_tokens
FROM (SELECT id, LLM_COMPLETE(p, 'Answer briefly.', 'metered') AS c FROM prompts)
"""


def main(options: dict[str, str], rows: int) -> None:
    t_env = table_env()
    configure(t_env, options)
    register(t_env)
    schema = DataTypes.ROW(
        [DataTypes.FIELD("id", DataTypes.INT()), DataTypes.FIELD("p", DataTypes.STRING())]
    )
    prompts = [(i, f"row {i}: rebook passenger P{i:04d}") for i in range(rows)]
    t_env.create_temporary_view("prompts", t_env.from_elements(prompts, schema))
    with t_env.execute_sql(QUERY).collect() as result:
        for row in result:
            print("ROW " + json.dumps(list(row)), flush=True)


if __name__ == "__main__":
    main(json.loads(sys.argv[1]), int(sys.argv[2]))
