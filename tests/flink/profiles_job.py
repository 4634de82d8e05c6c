"""One job on two LLM profiles and two embedding profiles, run by test_profiles_two_servers.py in a
process whose environment names the operator's connections file (the workers read it).

    python profiles_job.py OPTIONS_JSON
Prints one `ROW <json>` line per row: id, prompt, both completions, both vectors, and the
error of a call naming an undeclared profile.
"""

from __future__ import annotations

import json
import os
import sys

os.environ.setdefault("_python_worker_execution_mode", "process")

from pyflink.table import DataTypes

from flink_rag.jobs.minicluster import table_env
from flink_rag.udfs import configure, register

ROWS = 24
SCHEMA = '{"type":"object","properties":{"flight":{"type":"string"}},"required":["flight"]}'
QUERY = f"""
SELECT id, p,
    LLM_COMPLETE(p, 'Answer briefly.', 'triage').text,
    LLM_COMPLETE_JSON(p, 'Answer in JSON.', '{SCHEMA}', CAST(NULL AS STRING), 'escalation').text,
    EMBED(p, 'queries'),
    EMBED_RESULT(p, 'docs').embedding,
    LLM_COMPLETE(p, 'Answer briefly.', 'ghost').error
FROM prompts
"""


def main(options: dict[str, str]) -> None:
    t_env = table_env()
    configure(t_env, options)
    register(t_env)
    schema = DataTypes.ROW(
        [DataTypes.FIELD("id", DataTypes.INT()), DataTypes.FIELD("p", DataTypes.STRING())]
    )
    prompts = [(i, f"row {i}: rebook passenger P{i:04d}") for i in range(ROWS)]
    t_env.create_temporary_view("prompts", t_env.from_elements(prompts, schema))
    with t_env.execute_sql(QUERY).collect() as rows:
        for row in rows:
            values = [_plain(v) for v in row]
            print("ROW " + json.dumps(values), flush=True)


def _plain(value: object) -> object:
    """A vector (list or numpy array) as a list of floats, anything else as it is."""
    if value is None or isinstance(value, (str, int, float)):
        return value
    return [float(x) for x in value]  # type: ignore[attr-defined]


if __name__ == "__main__":
    main(json.loads(sys.argv[1]))
