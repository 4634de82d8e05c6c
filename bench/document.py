"""BENCHMARKS.md: machine, settings, date, the results table, the targets and the notes."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from importlib import metadata

from flink_rag_bench.contenders import MAX_TOKENS
from flink_rag_bench.report import latency_table, markdown_table, targets, targets_markdown
from flink_rag_bench.runner import Result
from flink_rag_bench.scenarios import Profile

NOTES = """\
- **rows/s** counts rows answered correctly, over the provider window (first request to last
  answer, read from the load server); **start s** is job submission to the first provider call
  (JVM, planning, Python workers). **limit/s** is what the provider allows: calls in flight ÷
  latency (embeddings: full 2048-input batches), or the RPM limit if lower. **vs native** =
  rows/s ÷ native rows/s of the same case; **vs limit** = rows/s ÷ limit/s. **failed** = NULL
  result or error set (pipeline: dead-lettered passengers); **wrong** = an answer that belongs
  to another row's input (checked for every row).
- VECTOR_LOOKUP rows/s is read off the result stream (bundle size 1); the pipeline's rows/s is
  recommendations read from Kafka ÷ (last recommendation − first event written).
- Every job writes its rows to a CSV filesystem sink that is checked afterwards:
  `TableResult.collect()` fetches row by row through the Python gateway (a few hundred rows/s
  here) and would throttle every contender through back-pressure.
- **peak in-flight** is the most requests the load server saw at once.
- **load server alone** is the load server's own ceiling for embeddings, measured before
  EMBED in the same run: a separate load generator (`flink_rag_bench.load_ceiling`, stdlib
  HTTP in its own process) keeps as many 2048-input requests in flight as the case allows
  (256 dims, base64 like the openai SDK) and counts inputs/s; **rows** is inputs answered,
  **calls** requests. The **rig ceiling** of a case is the lower of limit/s and that
  capacity; EMBED rows say their share of it and the load average when they ended.
- **EMBED tuned** is EMBED with job options made for throughput (see Settings); plain
  EMBED runs with Flink's defaults (1000-row batches, parallelism 1).
- **What held EMBED back** (py-spy, GIL samples at 100 Hz on the Python worker and the load
  server, `python -m flink_rag_bench.profile_embed`, c=16, 20000 rows; summaries in
  docs/profile/): (1) *the plan*: `SELECT e IS NULL, e[1] FROM (SELECT EMBED(text) AS e ...)`
  was planned as two EMBED calls per row (640 requests for 20000 rows instead of 320); EMBED
  is now non-deterministic, so the planner never copies it (2.7k -> 4.6k rows/s in that
  profile pair). (2) *client CPU in the openai SDK*: decoding took 30% of the worker's GIL
  samples (an object per vector, base64 to Python floats, then back to float32 for Arrow);
  vectors are now read from the raw base64 body into float32 arrays (15% left, mostly the
  SDK's request transform and JSON). (3) *one batch in flight per worker*: a batch's calls
  wait out the latency, then the load server computes their vectors one after another
  (25-35 us of CPU per input, ~70% of it in the seeded vector), and the worker's own Arrow,
  token and gRPC steps overlap none of it. Bigger batches streamed within a bundle and a
  second worker (same calls in flight in total) overlap them: 13.9k rows/s in the tuned
  profile. The load server held its GIL for 1.2-2.1 s of CPU in those runs, the worker(s)
  for 2.9-10 s including ~1.6 s of imports per worker: on this shared 2-core machine the
  CPU of client, JVM and server together is what is left.
- Native ML_PREDICT (flink-model-openai 2.3.0) keeps at most **5 requests in flight per host**
  whatever `max-concurrent-operations` says: its OpenAI client uses OkHttp's default
  dispatcher (`maxRequestsPerHost = 5`). It sends one HTTP request per row for embeddings.
  Its `api-key` has to be written into the SQL text; only a dummy key for the load server is
  used here. It retries 429s and 5xx (`retry-num` default 100) and lost no row under the RPM
  limit, but under the TPM limit its job can fail with `RateLimitException` once its
  client's retries run out (the row's `status`), and a single unparseable response body fails
  the whole job
  (`OpenAIInvalidDataException`, seen with the load server's `badjson` fault).
- Under a rate limit the load server answers like OpenAI: `x-ratelimit-{limit,remaining,reset}-
  {requests,tokens}` on every answer, `retry-after`/`retry-after-ms` on a 429. **LLM_COMPLETE**
  (`adaptive-concurrency` on, the default) paces its calls from those headers and halves its
  calls in flight on a 429 (AIMD); **LLM_COMPLETE fixed** is the same job with
  `flink-rag.llm.adaptive-concurrency=false`: `concurrency` calls in flight and the SDK's
  retries only. Under a TPM limit, **limit/s** is TPM/60 ÷ the tokens the server charged per
  call (prompt + max_tokens), so it holds for both contenders; **429s** per **calls** (the
  successes) is the number the targets bound.
- Python UDFs run in real worker processes (`_python_worker_execution_mode=process`),
  parallelism 1, JVM heap 512 MB, default bundle size (1000 rows).
- Peak RSS is the whole process tree of the benchmark (driver, JVM, Python workers) without
  the load server; all jobs of a run share one JVM, so it grows along the table.
- The machine is shared: the load average at start is part of the result. Ratios measured in
  the same run are more telling than absolute rows/s.
"""


LATENCY_NOTE = """\
One rebooking job (sql/rebooking.sql: EMBED, VECTOR_LOOKUP_JSON in scan mode, LLM_COMPLETE_JSON
against the load server, Kafka in and out) fed cancellations at a steady rate, one affected
passenger each, phase after phase; latency is from handing the event to the Kafka producer to
reading its recommendation. There is no native anchor: ML_PREDICT cannot run this pipeline
(no MongoDB lookup, no JSON schema). PyFlink hands a Python operator's rows to Flink when its
bundle ends (`python.fn-execution.bundle.time`, 1 s here), once per Python operator in the
chain: that, not the model, sets the floor."""


# Why a target is missed, from profiling these paths (shown only for missed targets).
WHY_MISSED = {
    "EMBED vs native": (
        "EMBED makes a few hundred times fewer calls than native; what remains is one bundle "
        "in flight per Python worker and the load server's own CPU (see **EMBED vs rig "
        "ceiling**), shared with the JVM on the same cores."
    ),
    "EMBED vs rig ceiling": (
        "a pandas UDF has one batch in flight per worker: the batch's calls wait out the "
        "provider latency, the load server then computes their vectors one after another, "
        "and the worker's own steps (Arrow, tokens, the next batch from the JVM) overlap "
        "none of it, so the server is busy only part of the time. More rows per batch and "
        "a second worker (same calls in flight in total) overlap those steps; see "
        "docs/profile/."
    ),
    "LLM_COMPLETE vs in-flight/latency": (
        "met at 4 and 16 calls in flight; at 64 (640 calls/s) CPU is the limit on this "
        "shared 2-core machine: each call costs the Python worker about a millisecond in the "
        "openai SDK and the load server answers in Python too. Calls also overlap within a "
        "bundle only, so the pool drains at the end of each bundle (an async-function variant "
        "was slower still: 42% against 60%, and PyFlink 2.3 releases its results at bundle end "
        "too)."
    ),
    "per-row latency at low load": (
        "PyFlink hands a Python operator's rows to Flink only when its bundle ends, and the "
        "rebooking chain has several Python operators: at the default bundle time (1 s) each "
        "adds up to a second. A 100 ms bundle time brings the 1 event/s case near the model's "
        "latency but ends bundles so often that 10 and 50 events/s back up (each end drains "
        "the calls in flight). Per-row emission would need the Python worker to flush each "
        "answer: PyFlink 2.3 flushes a worker's output at 10 MB or at bundle end, and Beam's "
        "time-based flush of the data channel is off."
    ),
    "LLM_COMPLETE under an RPM limit": (
        "LLM_COMPLETE paces its calls to the provider's refill rate, so a stall of the "
        "worker or of the load server (same 2 shared cores) longer than the 0.1 s bucket "
        "loses tokens that a client retrying all the time (ML_PREDICT, LLM_COMPLETE fixed) "
        "picks up, so the share falls with the machine's load average (in the header). "
        "Rows that fail did so after the SDK's retries and "
        "`flink-rag.llm.rate-limit-wait` seconds of waiting out 429s."
    ),
    "LLM_COMPLETE under a TPM limit": (
        "LLM_COMPLETE paces its calls to the provider's refill rate, so a stall of the "
        "worker or of the load server (same 2 shared cores) longer than the 0.1 s bucket "
        "loses tokens that a client retrying all the time (ML_PREDICT, LLM_COMPLETE fixed) "
        "picks up, so the share falls with the machine's load average (in the header). "
        "Rows that fail did so after the SDK's retries and "
        "`flink-rag.llm.rate-limit-wait` seconds of waiting out 429s."
    ),
}


def _cmd(args: list[str]) -> str:
    try:
        out = subprocess.run(args, capture_output=True, text=True, timeout=30, check=False)
    except OSError:
        return "?"
    return (out.stdout + out.stderr).strip().splitlines()[0] if (out.stdout + out.stderr) else "?"


def machine() -> dict[str, str]:
    cpu = "?"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            cpu = next(ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name"))
    except (OSError, StopIteration):
        pass
    mem_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return {
        "cpu": f"{cpu}, {os.cpu_count()} cores",
        "memory": f"{mem_gib:.0f} GiB",
        "os": f"{platform.system()} {platform.release()}",
        "python": sys.version.split()[0],
        "apache-flink": metadata.version("apache-flink"),
        "java": _cmd(["java", "-version"]),
        "load average at start": " ".join(f"{x:.1f}" for x in os.getloadavg()),
    }


def settings(profile: Profile) -> list[str]:
    e, c, r, t = (
        profile.embed_provider,
        profile.chat_provider,
        profile.rpm_provider,
        profile.tpm_provider,
    )
    return [
        f"profile `{profile.name}`; concurrency settings {list(profile.concurrencies)}",
        f"embeddings: latency {e.latency_ms:g} ms + {e.item_cost_ms:g} ms per input; "
        f"rows {profile.embed_rows}; load server alone for {profile.ceiling_seconds:g} s; "
        f"EMBED tuned: {profile.embed_plan.describe()}",
        f"completions: latency {c.latency_ms:g} ms; rows {profile.chat_rows} "
        "(at the highest concurrency; fewer at lower ones)",
        f"completions under a rate limit: latency {r.latency_ms:g} ms, RPM {r.rpm:g} "
        f"(bucket of {r.burst_seconds:g} s); rows {profile.rpm_rows}",
        f"completions under a token limit: latency {t.latency_ms:g} ms, TPM {t.tpm or 0:g} "
        f"(bucket of {t.burst_seconds:g} s; a call is charged its prompt + max_tokens "
        f"{MAX_TOKENS} at admission, as OpenAI estimates it); rows {profile.rpm_rows}",
        f"vector lookup: {list(profile.lookup_docs)} documents (64 dims, scan mode), up to "
        f"{profile.lookups} lookups, fewer on bigger stores",
        f"pipeline: {profile.pipeline_events} affected passengers, cancellations written at once",
        "paced: one rebooking job, cancellations at 1, 10 and 50 events/s (15, 100, 250 events)",
    ]


GENERATED_SECTIONS = (
    "## Settings",
    "## Results",
    "## Targets",
    "## Latency versus load (rebooking pipeline)",
    "## Throughput vs concurrency",
    "## How to read this",
)


def kept_sections(old: str) -> str:
    """The `## ` sections of an earlier BENCHMARKS.md that `render` does not write (e.g. the
    vector-search runs), in their order, so a regeneration keeps them."""
    kept: list[str] = []
    keep = False
    for line in old.splitlines():
        if line.startswith("## "):
            keep = line.strip() not in GENERATED_SECTIONS
        if keep:
            kept.append(line)
    return ("\n" + "\n".join(kept).rstrip() + "\n") if kept else ""


def render(
    results: Sequence[Result],
    profile: Profile,
    machine_info: dict[str, str],
    command: str,
    chart: str | None,
    started: datetime | None = None,
) -> str:
    date = (started or datetime.now(UTC)).strftime("%Y-%m-%d %H:%M UTC")
    parts = [
        "# Benchmarks",
        "",
        "Generated by `flink-rag bench`; do not edit by hand. Every contender of a run talks",
        "to the same deterministic OpenAI-compatible load server (`flink_rag_bench.load_server`)",
        "on loopback, so the numbers compare the clients, not the network.",
        "",
        f"- date: {date}",
        f"- command: `{command}`",
        *[f"- {k}: {v}" for k, v in machine_info.items()],
        "",
        "## Settings",
        "",
        *[f"- {line}" for line in settings(profile)],
        "",
        "## Results",
        "",
        markdown_table(results),
        "",
        *[f"- {r.case} / {r.contender}: {r.extra}" for r in results if r.extra],
        "",
        "## Targets",
        "",
        targets_markdown(results),
        "",
        *[
            f"- **{t.name}** missed: {WHY_MISSED[t.name]}"
            for t in targets(results)
            if t.met is False and t.name in WHY_MISSED
        ],
        "",
    ]
    latency = latency_table(results)
    if latency:
        parts += ["## Latency versus load (rebooking pipeline)", "", LATENCY_NOTE, "", latency, ""]
    if chart:
        parts += ["## Throughput vs concurrency", "", f"![throughput vs concurrency]({chart})", ""]
    parts += ["## How to read this", "", NOTES]
    return "\n".join(parts)
