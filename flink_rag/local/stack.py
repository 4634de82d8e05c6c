"""`up`, `status` and `down` for the whole local stack.

`up` is idempotent: running components are left alone, the rest are checked (prerequisites,
ports), started, and waited for. If anything fails, everything this `up` started is stopped
again and one line says which component failed, why, and where its log is.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass

from flink_rag.local import process
from flink_rag.local.component import Component
from flink_rag.local.config import DEFAULT_TIMEOUT_S, LocalConfig
from flink_rag.local.errors import (
    LocalStackError,
    PortInUseError,
    PrerequisiteError,
    StartupError,
)
from flink_rag.local.flink_cluster import FlinkCluster
from flink_rag.local.kafka import Kafka
from flink_rag.local.llm import LlmServer
from flink_rag.local.mongo import MongoStandIn
from flink_rag.local.state import StateDir

COMPONENTS: dict[str, type[Component]] = {
    "kafka": Kafka,
    "mongo": MongoStandIn,
    "llm": LlmServer,
    "flink": FlinkCluster,
}
DEFAULT_NAMES = ("kafka", "mongo", "llm")  # Flink starts on demand


@dataclass(frozen=True)
class ComponentStatus:
    name: str
    state: str  # "up", "external", "not running", "failing"
    ok: bool
    detail: str

    def line(self) -> str:
        return f"{self.name:<6} {self.state:<11} {self.detail}"


class Stack:
    """The local components under one state directory."""

    def __init__(self, config: LocalConfig | None = None):
        self.config = config or LocalConfig()
        self.state = StateDir(self.config.home)
        self.components = {n: cls(self.config, self.state) for n, cls in COMPONENTS.items()}

    def select(self, names: Iterable[str] | None) -> list[Component]:
        wanted = list(names) if names is not None else list(DEFAULT_NAMES)
        unknown = [n for n in wanted if n not in self.components]
        if unknown:
            raise LocalStackError(
                f"unknown component(s) {', '.join(unknown)}; choose from {', '.join(COMPONENTS)}"
            )
        # Keep the start order (Kafka first) whatever order was asked for.
        return [c for n, c in self.components.items() if n in wanted]

    # -- up --------------------------------------------------------------------------------
    def up(
        self,
        names: Iterable[str] | None = None,
        timeout: float = DEFAULT_TIMEOUT_S,
        owner: str = "cli",
    ) -> list[str]:
        """Start what is not running and wait until everything answers; return status lines."""
        selected = self.select(names)
        with self.state.locked():
            self.state.ensure()
            started: list[Component] = []
            try:
                for comp in selected:
                    if comp.external() or comp.pids():
                        continue
                    # Listed before starting: a start that fails halfway is cleaned up too.
                    started.append(comp)
                    self._start(comp, owner)
                deadline = time.monotonic() + timeout
                for comp in selected:
                    self._wait_ready(comp, deadline, timeout)
            except BaseException:
                # Also on Ctrl-C: never leave a half-started stack behind.
                for comp in reversed(started):
                    comp.stop()
                raise
        return [s.line() for s in self.status(c.name for c in selected)[0]]

    def _start(self, comp: Component, owner: str) -> None:
        try:
            comp.check_prereqs()
            comp.check_ports()
            comp.prepare()
            comp.start(owner)
        except (PrerequisiteError, PortInUseError) as err:
            raise type(err)(f"{comp.name}: {err}") from err
        except LocalStackError as err:
            raise type(err)(f"{comp.name}: {err}{_see(comp)}") from err
        except OSError as err:
            raise StartupError(f"{comp.name}: cannot start ({err}){_see(comp)}") from err

    def _wait_ready(self, comp: Component, deadline: float, timeout: float) -> None:
        external = comp.external()
        try:
            process.wait_until(
                # A busy server may answer slowly; a starting one refuses at once.
                lambda: comp.probe(max(1.0, min(comp.status_timeout, deadline - time.monotonic()))),
                timeout=max(0.0, deadline - time.monotonic()),
                still_running=None if external else comp.running,
            )
            if not external:
                comp.mark_ready()
        except ChildProcessError as err:
            how = comp.exit_report()
            if how:
                raise StartupError(f"{comp.name}: {how}, during startup{_see(comp)}") from None
            cause = process.log_cause(comp.failure_log())
            raise StartupError(
                f"{comp.name}: exited during startup ({cause or 'no log output'}){_see(comp)}"
            ) from err
        except TimeoutError as err:
            if external:
                raise StartupError(
                    f"{comp.name}: the endpoint in {comp.external_env} did not answer within "
                    f"{timeout:.0f}s ({err}); check the variable and the network"
                ) from err
            raise StartupError(
                f"{comp.name}: not ready after {timeout:.0f}s ({err}){_see(comp)}"
            ) from err

    # -- status ----------------------------------------------------------------------------
    def status(self, names: Iterable[str] | None = None) -> tuple[list[ComponentStatus], bool]:
        """One status per component; ok is True only when every started component answers
        and Kafka, MongoDB and the LLM server are running (here or outside)."""
        selected = self.select(names if names is not None else COMPONENTS)
        results = [self._status(c) for c in selected]
        return results, all(r.ok for r in results)

    def _status(self, comp: Component) -> ComponentStatus:
        external = comp.external()
        pids = [] if external else comp.pids()
        if not external and not pids:
            # The default components make the stack usable; Flink is optional.
            required = comp.name in DEFAULT_NAMES
            how = comp.exit_report()
            if how:
                # It was started and died on its own (a stop clears this record).
                return ComponentStatus(comp.name, "exited", False, f"{how}{_see(comp)}")
            return ComponentStatus(comp.name, "not running", not required, comp.describe())
        try:
            answer = comp.probe(comp.status_timeout)
        except Exception as err:
            detail = f"{comp.describe()}: no answer ({process.one_line(str(err), 120)})"
            if not external:
                detail += _see(comp)
            return ComponentStatus(comp.name, "failing", False, detail)
        where = "external" if external else "up"
        owner = "" if external else f", pid {' '.join(map(str, pids))}"
        return ComponentStatus(comp.name, where, True, f"{comp.describe()}: {answer}{owner}")

    # -- down ------------------------------------------------------------------------------
    def down(
        self, names: Iterable[str] | None = None, owners: Iterable[str] | None = None
    ) -> list[str]:
        """Stop what this stack started (optionally only what `owners` started)."""
        with self.state.locked():
            return self.down_locked(names, owners)

    def down_locked(
        self, names: Iterable[str] | None = None, owners: Iterable[str] | None = None
    ) -> list[str]:
        """`down` for a caller that already holds the state lock."""
        selected = self.select(names if names is not None else COMPONENTS)
        wanted_owners = set(owners) if owners is not None else None
        lines = []
        for comp in reversed(selected):
            # No check of comp.external() here: an endpoint override set after `up` (the demo
            # points the UDFs at the local LLM through FLINK_RAG_LLM_BASE_URL) must not keep
            # this stack from stopping what it started; stop() acts on our pid files only.
            if wanted_owners is not None and comp.owner() not in wanted_owners:
                continue
            if comp.stop():
                lines.append(f"{comp.name:<6} stopped")
        return lines


def _see(comp: Component) -> str:
    return f"; see {comp.failure_log()}"
