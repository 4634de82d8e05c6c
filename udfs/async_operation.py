"""Two adjustments to PyFlink's async scalar function operation, made in the Python worker.

PyFlink 2.3 runs an `AsyncScalarFunction` in `AsyncScalarFunctionOperation`: `process_element`
queues the row and schedules its coroutine on an event loop thread; an emitter thread sends
finished rows on, in input order. Two things in it need help, and neither can be reached from
the function itself, so this module wraps the operation's methods (the wrappers call the
originals; nothing of PyFlink is copied):

1. FLINK-39532: the Cython row decoder (`FlattenRowCoderImpl`) hands out ONE reused list per
   input row, and `process_element` gives that list to the coroutine before it has run. By the
   time the coroutine reads its arguments, the list holds a later row: answers come back
   computed on another row's prompt. The upstream fix (apache/flink PR #28036) snapshots the
   row before scheduling; `_snapshot_row` does the same in front of the original method. It is
   on only for the PyFlink releases known to carry the bug (`SNAPSHOT_UP_TO`), so a fixed
   PyFlink runs unchanged; tests/flink/test_udf_llm_rows.py checks every answer against its own
   prompt with 200+ calls in flight and fails on a PyFlink that still has the bug.
2. Metrics: PyFlink's Python metrics land in Beam's per-thread container of the bundle thread;
   updates from the event loop or a pool thread are dropped. The coroutine never runs on the
   bundle thread, so `finish` (the operation's end-of-bundle step, on the bundle thread) is
   wrapped to call each function's `on_bundle_end()` after the original (which also lets a
   function fail the job from the bundle thread).

The worker imports this module while it unpickles a function of `flink_rag.udfs.llm_complete`,
which is before the operation binds `process_element`; `install()` is idempotent.
"""

from __future__ import annotations

import functools
import logging
import re
from typing import Any

log = logging.getLogger(__name__)

# The last PyFlink release whose AsyncScalarFunctionOperation hands the reused row to the
# event loop (FLINK-39532). Raise it if a newer release still fails the per-row test.
SNAPSHOT_UP_TO = (2, 3, 0)
_MARK = "_flink_rag_wrapped"


def pyflink_version() -> tuple[int, ...]:
    from pyflink.version import __version__

    return tuple(int(n) for n in re.findall(r"\d+", __version__)[:3])


def needs_row_snapshot(version: tuple[int, ...] | None = None) -> bool:
    """True for the PyFlink releases with FLINK-39532."""
    return (version or pyflink_version()) <= SNAPSHOT_UP_TO


def install() -> None:
    """Wrap the operation's methods once per process (a no-op without async support)."""
    try:
        from pyflink.fn_execution.table.async_function import operations
    except ImportError:  # a PyFlink without async scalar functions
        return
    cls = operations.AsyncScalarFunctionOperation
    if getattr(cls, _MARK, False):
        return
    if needs_row_snapshot():
        cls.process_element = _snapshot_row(cls.process_element)
        log.info("FLINK-39532 workaround on: async rows are copied before they are scheduled")
    cls.finish = _flush_after(cls.finish)
    setattr(cls, _MARK, True)


def _snapshot_row(process_element: Any) -> Any:
    @functools.wraps(process_element)
    def wrapper(self: Any, value: Any) -> Any:
        # A flat row arrives as the decoder's reused list: give the coroutine its own copy.
        return process_element(self, list(value) if isinstance(value, list) else value)

    return wrapper


def _flush_after(finish: Any) -> Any:
    @functools.wraps(finish)
    def wrapper(self: Any) -> Any:
        try:
            return finish(self)
        finally:
            for function in getattr(self, "user_defined_funcs", ()):
                hook = getattr(function, "on_bundle_end", None)
                if hook is not None:
                    hook()

    return wrapper
