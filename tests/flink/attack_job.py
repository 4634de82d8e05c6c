"""Jobs whose SQL author tries to send the cluster's secrets somewhere else, run by
test_sql_cannot_send_secrets.py in a process whose environment holds the secrets.

    python attack_job.py ATTACKS_JSON
ATTACKS_JSON: [{"name", "how": "set"|"configure", "options": {...}}]. Every attack runs one
LLM_COMPLETE job; prints `OUTCOME <name> rows|error <text>` per attack.
"""

from __future__ import annotations

import json
import os
import sys

os.environ.setdefault("_python_worker_execution_mode", "process")

from flink_rag.jobs.minicluster import table_env
from flink_rag.udfs import configure, register
from flink_rag.udfs.config import job_parameter_key

QUERY = "SELECT p, LLM_COMPLETE(p).error FROM (VALUES ('p1'), ('p2')) AS t(p)"


def run(attack: dict) -> str:
    t_env = table_env()
    register(t_env)
    if attack["how"] == "configure":
        configure(t_env, attack["options"])
    else:  # what `SET 'pipeline.global-job-parameters.<key>' = '<value>'` does
        for key, value in attack["options"].items():
            t_env.get_config().set(job_parameter_key(key), value)
    with t_env.execute_sql(QUERY).collect() as rows:
        return "rows " + json.dumps([list(r) for r in rows])


def main(attacks: list[dict]) -> None:
    for attack in attacks:
        try:
            outcome = run(attack)
        except Exception as err:  # the job's failure: its root cause is the worker's message
            text = str(err)
            causes = [line for line in text.splitlines() if "ConfigError" in line]
            outcome = "error " + (causes[-1] if causes else text[-400:]).replace("\n", " ")
        print(f"OUTCOME {attack['name']} {outcome}", flush=True)


if __name__ == "__main__":
    main(json.loads(sys.argv[1]))
