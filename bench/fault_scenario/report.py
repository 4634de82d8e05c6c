"""The fault scenario's figures and their markdown report."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from flink_rag.airline.checks import GROUNDED_RULES

# Dead-letter reasons that come after the LLM call (each such passenger cost one call): the
# grounded rules are checked on the answer.
AFTER_LLM = {"llm_error", "no_recommendation", *(code for code, _, _ in GROUNDED_RULES)}
# Dead letters that are not a passenger (a bad event or CRM record).
NOT_A_PASSENGER = ("bad_json", "bad_crm_record")


@dataclass
class Fault:
    key: str  # the name on the command line (`--faults`)
    name: str
    seconds: float  # how long it is applied (0: an instant fault, e.g. a kill)
    start_s: float | None = None  # when it was applied, from the job's start
    ended_wall: float | None = None  # time.time() when it was lifted (a kill: when it hit)
    recovered_s: float | None = None  # from ended_wall to the next record written
    note: str = ""  # what the fault itself measured (job running again, broker back)
    job_state: str | None = None  # the job's state (Flink REST) once the fault is over
    restarts: int | None = None  # restores from a checkpoint this fault caused
    window_restores: int | None = None  # restores from its start to the next fault's start


@dataclass
class Report:
    passengers: int
    events: int
    fault_seconds: float
    faults: list[Fault]
    cluster: str = "mini-cluster, parallelism 1"
    command: str = ""
    recommendations: int = 0
    dead_letters: Counter = field(default_factory=Counter)
    lost: int = 0
    records: int = 0  # raw records on both topics, as a plain consumer reads them
    tombstones: int = 0  # of which deletes (a dead letter withdrawn, e.g. a late customer)
    rewritten_keys: int = 0  # keys a plain consumer sees more than once for one event
    duplicated_keys: int = 0  # keys rewritten with a different value: a table reader's dupes
    llm_calls: int = 0
    extra_llm_calls: int = 0
    restarts: int = 0
    wall_s: float = 0.0

    def ok(self) -> bool:
        return self.lost == 0 and self.duplicated_keys == 0 and self.extra_llm_calls == 0

    def markdown(self, title: str = "# Fault scenario: rebooking job") -> str:
        when = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
        lines = [
            title,
            "",
            f"Run {when} with `{self.command}` on 2 cores ({self.cluster}; LLM = "
            "deterministic load server behind toxiproxy, vector store = MongoDB stand-in "
            "behind toxiproxy).",
            "",
            "| figure | value |",
            "|---|---|",
            f"| disruption events | {self.events} |",
            f"| affected passengers | {self.passengers} |",
            f"| recommendations | {self.recommendations} |",
            f"| dead letters | {sum(self.dead_letters.values())} |",
            f"| lost passengers | {self.lost} |",
            f"| records on the two topics (plain consumer) | {self.records} |",
            f"| of which tombstones (a withdrawn dead letter) | {self.tombstones} |",
            f"| keys written again for the same event, same value | {self.rewritten_keys} |",
            f"| duplicated keys as a table reader sees them | {self.duplicated_keys} |",
            f"| LLM calls | {self.llm_calls} |",
            f"| extra LLM calls | {self.extra_llm_calls} |",
            f"| restores from a checkpoint (job or region restarts) | {self.restarts} |",
            f"| wall time | {self.wall_s:.0f} s |",
            "",
            "Dead letters by reason: "
            + (", ".join(f"`{r}` {n}" for r, n in sorted(self.dead_letters.items())) or "none"),
            "",
            "| fault | starts at | lasts | next output after it | restores | measured |",
            "|---|---|---|---|---|---|",
        ]
        for f in self.faults:
            start = "-" if f.start_s is None else f"{f.start_s:.0f} s"
            rec = "-" if f.recovered_s is None else f"{f.recovered_s:.1f} s"
            lasts = "instant" if f.seconds == 0 else f"{f.seconds:g} s"
            restores = "-" if f.window_restores is None else str(f.window_restores)
            lines.append(f"| {f.name} | {start} | {lasts} | {rec} | {restores} | {f.note or '-'} |")
        lines += [
            "",
            '`-`: no output was pending when the fault ended. "Next output after it" runs '
            "from a cut's end (from the kill, from the broker's return) to the next record on "
            'either topic; "restores" counts restores from a checkpoint from the fault\'s '
            "start to the next fault's (the last: to the end of the run). A table reader "
            "folds the upsert topic into one value per key: a key written again with the "
            "same value is no duplicate to it; a plain consumer "
            "sees the record twice. Extra LLM calls are requests the server answered "
            "(HTTP 200) beyond one per answered passenger: an answer lost to a reset, or one "
            "in flight in a killed TaskManager before it reached the answer cache.",
            "",
        ]
        return "\n".join(lines)


def recoveries(faults: list[Fault], written_s: list[float]) -> None:
    """Per fault, the time from its end to the first record written after it (Kafka
    timestamps: records written before a kill but read later do not count)."""
    stamps = sorted(written_s)
    for f in faults:
        if f.ended_wall is None:
            continue
        later = next((t for t in stamps if t > f.ended_wall), None)
        f.recovered_s = None if later is None else later - f.ended_wall


def fill(report: Report, out: Any, stats: dict, wall_s: float) -> Report:
    """The counts of the report from what the reader folded and the load server saw."""
    report.recommendations = len(out.recommendations)
    report.dead_letters = Counter(d["reason"] for d in out.dead_letters.values())
    answered = report.recommendations + sum(report.dead_letters[r] for r in AFTER_LLM)
    passengers_out = report.recommendations + sum(
        n for r, n in report.dead_letters.items() if r not in NOT_A_PASSENGER
    )
    report.lost = max(0, report.passengers - passengers_out)
    report.records = out.records
    report.tombstones = len(out.tombstones)
    report.rewritten_keys = len(out.keys_written_twice)
    report.duplicated_keys = len(out.keys_changed)
    chat = stats["requests"].get("/v1/chat/completions", {})
    report.llm_calls = int(chat.get("200", 0))
    report.extra_llm_calls = report.llm_calls - answered
    report.wall_s = wall_s
    return report
