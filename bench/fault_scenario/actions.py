"""What each fault of the scenario does, and how it is lifted again."""

from __future__ import annotations

import threading
import time
from typing import Any

from flink_rag_bench.fault_scenario.cluster import SessionCluster, restart_broker
from flink_rag_bench.fault_scenario.report import Fault

CHECKPOINT_WAIT_S = 300.0  # a kill waits for a checkpoint to restore from
RECOVERY_WAIT_S = 600.0
RESTART_SETTLE_S = 5.0


def _toggle(fault: Fault, llm: Any, mongo: Any, server: Any, on: bool) -> None:
    if fault.key == "llm-cut":
        llm.disable() if on else llm.enable()
    elif fault.key == "mongo-cut":
        mongo.disable() if on else mongo.enable()
    elif fault.key == "llm-latency":
        if on:
            llm.toxic("latency", latency=300, jitter=100)
            llm.toxic("reset_peer", toxicity=0.1, timeout=0)
        else:
            llm.untoxic("latency_downstream")
            llm.untoxic("reset_peer_downstream")
    elif fault.key == "429-storm":
        server.configure(faults=["429:every=2"] if on else [])


def lift(fault: Fault, llm: Any, mongo: Any, server: Any) -> None:
    """Undo a toxic fault (idempotent; the kill and the restart have nothing to undo)."""
    _toggle(fault, llm, mongo, server, False)


def kill_and_recover(fault: Fault, cluster: SessionCluster, job_id: str) -> None:
    """SIGKILL a TaskManager of the job once a checkpoint exists; wait until the job has
    restarted and every task runs again."""
    cluster.wait_until(
        "a completed checkpoint",
        lambda: cluster.completed_checkpoints(job_id) >= 1,
        CHECKPOINT_WAIT_S,
    )
    before = cluster.restarts(job_id)
    victim = cluster.kill_taskmanager(job_id)
    fault.ended_wall = time.time()
    back = cluster.wait_until(
        "the job RUNNING again after the kill",
        lambda: cluster.restarts(job_id) > before and cluster.all_running(job_id),
        RECOVERY_WAIT_S,
    )
    fault.restarts = cluster.restarts(job_id) - before
    fault.job_state = cluster.job_state(job_id)
    fault.note = (
        f"{victim.removeprefix('flink-')} killed; job RUNNING again {back:.1f} s later "
        f"after {fault.restarts} restore(s) from a checkpoint"
    )


def perform(
    fault: Fault,
    llm: Any,
    mongo: Any,
    server: Any,
    cluster: SessionCluster | None,
    job_id: str,
    stop: threading.Event,
) -> None:
    """Apply `fault`, keep it for its length, lift it; sets `ended_wall` and `note`."""
    if fault.key == "tm-kill" and cluster is not None:
        kill_and_recover(fault, cluster, job_id)
    elif fault.key == "broker-restart":
        before = cluster.restarts(job_id) if cluster is not None else 0
        back = restart_broker()
        fault.ended_wall = time.time()
        fault.note = f"broker stopped and answering again after {back:.1f} s"
        if cluster is not None:
            # Give a failure the broker caused time to show before reading the state.
            stop.wait(RESTART_SETTLE_S)
            fault.restarts = cluster.restarts(job_id) - before
            fault.job_state = cluster.job_state(job_id)
            fault.note += f"; job {fault.job_state}, {fault.restarts} restore(s)"
    else:
        _toggle(fault, llm, mongo, server, True)
        stop.wait(fault.seconds)
        _toggle(fault, llm, mongo, server, False)
        fault.ended_wall = time.time()
