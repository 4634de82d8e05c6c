"""The rebooking job on a session cluster (2 TaskManagers x 2 slots, parallelism 2) through
a TaskManager SIGKILL and a Kafka broker restart, run by the `flink-rag faults` scenario at
a small size: every passenger is answered once as a table reader of the topics sees them,
nothing is lost, no LLM call is repeated (the answer cache absorbs the replay), and the job
is RUNNING again (Flink REST) after each fault, restored from a checkpoint after the kill."""

from __future__ import annotations

import argparse

import pytest

from flink_rag_bench.fault_scenario import scenario
from flink_rag_bench.fault_scenario.report import AFTER_LLM, NOT_A_PASSENGER

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]

PASSENGERS = 40
# LLM calls in flight per worker. A call in flight in the killed TaskManager can be answered by
# the server (and counted there) without its answer reaching the answer cache, and is asked
# again after the restore: no client can avoid that, so it is bounded, not forbidden.
IN_FLIGHT = 4


@pytest.fixture(scope="module")
def report(tmp_path_factory, module_diagnostics):
    logs = tmp_path_factory.mktemp("faults-cluster-logs")
    module_diagnostics.add_log_dir(logs)
    parser = argparse.ArgumentParser()
    scenario.add_arguments(parser)
    args = parser.parse_args(
        [
            "--passengers", str(PASSENGERS),
            "--faults", "tm-kill,broker-restart",
            "--waves", "4",
            "--concurrency", str(IN_FLIGHT),
            "--timeout", "600",
            "--report", str(tmp_path_factory.mktemp("faults") / "FAULTS.md"),
            "--logs", str(logs),
        ]
    )  # fmt: skip
    report = scenario.run_scenario(args, note=module_diagnostics.add)
    print(report.markdown())  # the figures, for the test log
    return report


def test_every_passenger_is_answered_once_as_a_table_reader_sees_it(report):
    assert report.passengers >= PASSENGERS
    passengers = [n for r, n in report.dead_letters.items() if r not in NOT_A_PASSENGER]
    assert report.recommendations + sum(passengers) == report.passengers
    assert report.lost == 0
    # A key written again (the replay after the restore) carries the same answer.
    assert report.duplicated_keys == 0
    # Every record read is a final answer, a rewrite of one, or a withdrawn dead letter and
    # its tombstone.
    final = report.passengers + sum(report.dead_letters[r] for r in NOT_A_PASSENGER)
    assert report.records == final + report.rewritten_keys + 2 * report.tombstones


def test_the_replay_costs_no_llm_call(report):
    # The replayed rows cost nothing (the answer cache); only calls in flight at the kill may
    # be asked again.
    assert 0 <= report.extra_llm_calls <= IN_FLIGHT
    # One call per passenger that reached the model: recommended, or rejected after it.
    assert report.llm_calls - report.extra_llm_calls == report.recommendations + sum(
        report.dead_letters[r] for r in AFTER_LLM
    )


def test_the_job_restores_after_the_kill_and_runs_through_the_broker_restart(report):
    kill, broker = report.faults
    assert (kill.key, broker.key) == ("tm-kill", "broker-restart")
    assert kill.restarts is not None and kill.restarts >= 1
    assert kill.job_state == "RUNNING"
    assert broker.job_state == "RUNNING"
    assert report.restarts >= kill.restarts
    # Answers came after each fault (the waves are spread over the whole schedule).
    assert kill.recovered_s is not None and broker.recovered_s is not None
