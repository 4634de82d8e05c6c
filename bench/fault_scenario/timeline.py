"""The faults a run can apply, and the run's two clocks beside the job: cancellation waves
spread over the schedule, and the faults one after the other. Both run on threads; whatever
either raises is kept in `errors` and reported after the run, never lost."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from flink_rag_bench.fault_scenario.actions import perform
from flink_rag_bench.fault_scenario.report import Fault

GAP_S = 10.0  # between two faults
FIRST_FAULT_S = 5.0  # after the job runs (and, on a session cluster, has a checkpoint)
INSTANT_SLOT_S = 20.0  # how long the schedule plans for a kill or a restart
JOIN_TIMEOUT_S = 60.0

# key -> (name, seconds applied; None: --fault-seconds, 0: instant)
FAULTS: dict[str, tuple[str, float | None]] = {
    "llm-cut": ("LLM endpoint cut", None),
    "tm-kill": ("TaskManager SIGKILL mid-burst", 0.0),
    "mongo-cut": ("MongoDB cut", None),
    "broker-restart": ("Kafka broker stop + start", 0.0),
    "llm-latency": ("LLM latency 300 ms + resets (10 %)", 20.0),
    "429-storm": ("429 storm (every 2nd request)", 20.0),
}
SESSION_ONLY = ("tm-kill",)


def schedule(keys: str, fault_seconds: float, session: bool) -> list[Fault]:
    """The faults named in `--faults`, in that order; a cut lasts `fault_seconds`."""
    faults = []
    for key in [k.strip() for k in keys.split(",") if k.strip()]:
        if key not in FAULTS:
            raise SystemExit(f"unknown fault {key!r}; choose from {', '.join(FAULTS)}")
        if key in SESSION_ONLY and not session:
            continue  # a mini-cluster has no TaskManager process to kill
        name, seconds = FAULTS[key]
        faults.append(Fault(key, name, fault_seconds if seconds is None else seconds))
    return faults


def span(faults: list[Fault]) -> float:
    """The planned length of the schedule, over which the waves are spread."""
    return FIRST_FAULT_S + sum((f.seconds or INSTANT_SLOT_S) + GAP_S for f in faults)


@dataclass
class Timeline:
    faults: list[Fault]
    waves: list[list[dict]]
    write_wave: Callable[[list[dict]], None]  # the cancellation events of one wave
    say: Callable[[str], None]
    # what perform() needs: the proxies, the load server, the session cluster (or None)
    llm: Any
    mongo: Any
    server: Any
    cluster: Any
    job_id: str
    t0: float = field(default_factory=time.monotonic)
    stop: threading.Event = field(default_factory=threading.Event)
    errors: list[BaseException] = field(default_factory=list)
    restores_at: list[int] = field(default_factory=list)  # restore count at each fault's start
    _threads: list[threading.Thread] = field(default_factory=list)

    def at(self, seconds: float) -> bool:
        """Sleep until `seconds` after t0; False if the run is stopping."""
        while time.monotonic() - self.t0 < seconds:
            if self.stop.wait(0.2):
                return False
        return True

    def _produce_waves(self) -> None:
        planned = span(self.faults)
        for n, wave in enumerate(self.waves):
            if not self.at(planned * n / len(self.waves)):
                return
            self.write_wave(wave)

    def _run_faults(self) -> None:
        next_at = FIRST_FAULT_S
        for f in self.faults:
            if not self.at(next_at):
                return
            f.start_s = time.monotonic() - self.t0
            if self.cluster is not None:
                self.restores_at.append(self.cluster.restarts(self.job_id))
            self.say(f"fault {f.key}")
            perform(f, self.llm, self.mongo, self.server, self.cluster, self.job_id, self.stop)
            self.say(f"fault {f.key} over {f.note}")
            next_at = time.monotonic() - self.t0 + GAP_S

    def _guarded(self, target: Callable[[], None]) -> Callable[[], None]:
        def body() -> None:
            try:
                target()
            except BaseException as err:  # reported after the run, never lost
                self.errors.append(err)

        return body

    def start(self) -> None:
        self._threads = [
            threading.Thread(target=self._guarded(t), daemon=True)
            for t in (self._produce_waves, self._run_faults)
        ]
        for t in self._threads:
            t.start()

    def running(self) -> bool:
        return any(t.is_alive() for t in self._threads)

    def finish(self) -> None:
        self.stop.set()
        for t in self._threads:
            t.join(timeout=JOIN_TIMEOUT_S)
