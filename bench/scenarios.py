"""What each benchmark profile measures, and the theoretical limit of each measurement.

Pure data and arithmetic: no Flink, no network. A `Case` is one measurement (one job of one
contender); the runner turns it into a `Result`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

OPENAI_MAX_BATCH_INPUTS = 2048


@dataclass(frozen=True)
class Provider:
    """Load-server knobs of a case (the same server serves every contender)."""

    latency_ms: float = 50.0
    item_cost_ms: float = 0.0
    rpm: float | None = None
    tpm: float | None = None
    burst_seconds: float = 1.0  # a short run must not be dominated by the initial burst

    def knobs(self) -> dict[str, object]:
        return {
            "latency_ms": self.latency_ms,
            "item_cost_ms": self.item_cost_ms,
            "rpm": self.rpm,
            "tpm": self.tpm,
            "burst_seconds": self.burst_seconds,
            "faults": [],
        }


@dataclass(frozen=True)
class EmbedPlan:
    """Job options of the tuned EMBED row; `concurrency` stays the total calls in flight."""

    arrow_batch: int = 8192  # rows per pandas call: python.fn-execution.arrow.batch.size
    bundle: int = 100_000  # python.fn-execution.bundle.size: batches stream within a bundle
    parallelism: int = 2  # Python workers; each gets concurrency / parallelism calls

    def options(self, concurrency: int) -> dict[str, str]:
        return {
            "python.fn-execution.arrow.batch.size": str(self.arrow_batch),
            "python.fn-execution.bundle.size": str(self.bundle),
            "parallelism.default": str(self.parallelism),
            "flink-rag.embed.concurrency": str(max(1, concurrency // self.parallelism)),
        }

    def describe(self) -> str:
        return (
            f"arrow batch {self.arrow_batch} rows, bundle {self.bundle} rows, parallelism "
            f"{self.parallelism} (calls in flight split between the workers)"
        )


@dataclass(frozen=True)
class Case:
    # embeddings | completions | completions-rpm | completions-tpm | lookup | pipeline | paced
    # | cache
    group: str
    contender: str  # ours | native | ours-fixed (ours with adaptive-concurrency off)
    rows: int
    concurrency: int = 16
    provider: Provider = field(default_factory=Provider)
    docs: int = 0  # vector lookup: collection size
    filtered: bool = False  # vector lookup: with a selective filter
    seconds: float = 0.0  # load-server ceiling: how long the load generator runs
    plan: EmbedPlan | None = None  # ours-tuned: the job options of the tuned EMBED row

    @property
    def label(self) -> str:
        if self.group == "lookup":
            return f"lookup docs={self.docs}" + (" filtered" if self.filtered else "")
        p = self.provider
        text = f"{self.group} c={self.concurrency} latency={p.latency_ms:g}ms"
        return text + (f" rpm={p.rpm:g}" if p.rpm else "") + (f" tpm={p.tpm:g}" if p.tpm else "")


def call_limit(concurrency: int, provider: Provider, items_per_call: int = 1) -> float:
    """Items/s a provider allows: calls in flight ÷ call latency, or the rate limit if lower."""
    call_s = (provider.latency_ms + provider.item_cost_ms * items_per_call) / 1000.0
    limit = float("inf") if call_s <= 0 else concurrency * items_per_call / call_s
    if provider.rpm:
        limit = min(limit, provider.rpm / 60.0 * items_per_call)
    return limit


def embed_limit(concurrency: int, provider: Provider) -> float:
    """Batched embeddings: full provider batches, `concurrency` of them in flight."""
    return call_limit(concurrency, provider, OPENAI_MAX_BATCH_INPUTS)


def scaled_rows(rows: int, concurrency: int, main_concurrency: int, floor: int = 20) -> int:
    """Fewer rows at lower concurrency so every case runs about equally long."""
    return max(min(rows, floor), rows * concurrency // main_concurrency)


@dataclass(frozen=True)
class Profile:
    name: str
    embed_rows: dict[str, int]  # per contender: native needs far fewer rows for the same time
    chat_rows: dict[str, int]
    concurrencies: tuple[int, ...]
    embed_provider: Provider
    chat_provider: Provider
    rpm_provider: Provider
    rpm_rows: dict[str, int]  # per contender, also under the TPM limit
    lookup_docs: tuple[int, ...]
    lookups: int
    pipeline_events: int
    tpm_provider: Provider = field(default_factory=Provider)
    groups: frozenset[str] | None = None  # None: every group
    # Embeddings: the load server alone for this long before EMBED, and the job options of
    # the tuned EMBED row (the plain EMBED row runs with Flink's defaults).
    ceiling_seconds: float = 8.0
    embed_plan: EmbedPlan = field(default_factory=EmbedPlan)

    def cases(self) -> list[Case]:
        cases = self._all_cases()
        return [c for c in cases if self.groups is None or c.group in self.groups]

    def _all_cases(self) -> list[Case]:
        out: list[Case] = []
        for c in self.concurrencies:
            e = self.embed_provider
            out.append(Case("embeddings", "ceiling", 0, c, e, seconds=self.ceiling_seconds))
            for who in ("native", "ours"):
                out.append(Case("embeddings", who, self.embed_rows[who], c, e))
            rows = self.embed_rows.get("ours-tuned", self.embed_rows["ours"])
            out.append(Case("embeddings", "ours-tuned", rows, c, e, plan=self.embed_plan))
            for who in ("native", "ours"):
                rows = scaled_rows(self.chat_rows[who], c, self.concurrencies[-1])
                out.append(Case("completions", who, rows, c, self.chat_provider))
        main_c = self.concurrencies[-1]
        for group, provider in (
            ("completions-rpm", self.rpm_provider),
            ("completions-tpm", self.tpm_provider),
        ):
            for who in ("native", "ours", "ours-fixed"):
                rows = self.rpm_rows["native" if who == "native" else "ours"]
                out.append(Case(group, who, rows, main_c, provider))
        out.append(
            Case("cache", "ours", min(300, self.chat_rows["ours"]), main_c, self.chat_provider)
        )
        for docs in self.lookup_docs:
            # Scan mode reads every candidate document per lookup: fewer lookups on big stores.
            n = max(5, min(self.lookups, self.lookups * 1000 // docs))
            for filtered in (False, True):
                out.append(Case("lookup", "ours", n, 1, Provider(0), docs, filtered))
        if self.pipeline_events:
            out.append(Case("pipeline", "ours", self.pipeline_events, main_c, self.chat_provider))
            # Latency versus load: paced cancellations, one job, phases of 1/10/50 events/s.
            out.append(Case("paced", "ours", 0, 64, self.chat_provider))
        return out


PROFILES = {
    "smoke": Profile(
        name="smoke",
        embed_rows={"native": 20, "ours": 200},
        ceiling_seconds=2.0,
        embed_plan=EmbedPlan(arrow_batch=128, bundle=512, parallelism=1),
        chat_rows={"native": 20, "ours": 40},
        concurrencies=(4,),
        embed_provider=Provider(latency_ms=5, item_cost_ms=0.01),
        chat_provider=Provider(latency_ms=10),
        rpm_provider=Provider(latency_ms=10, rpm=1200, burst_seconds=0.1),
        rpm_rows={"native": 20, "ours": 20},
        tpm_provider=Provider(latency_ms=10, tpm=320_000, burst_seconds=0.1),
        lookup_docs=(200,),
        lookups=20,
        pipeline_events=0,
    ),
    "quick": Profile(
        name="quick",
        embed_rows={"native": 400, "ours": 4000, "ours-tuned": 40000},
        ceiling_seconds=5.0,
        chat_rows={"native": 300, "ours": 1000},
        concurrencies=(4, 16),
        embed_provider=Provider(latency_ms=50, item_cost_ms=0.2),
        chat_provider=Provider(latency_ms=100),
        rpm_provider=Provider(latency_ms=100, rpm=1800, burst_seconds=0.1),
        rpm_rows={"native": 300, "ours": 300},
        tpm_provider=Provider(latency_ms=100, tpm=480_000, burst_seconds=0.1),
        lookup_docs=(1000, 10000),
        lookups=100,
        pipeline_events=100,
    ),
    "full": Profile(
        name="full",
        embed_rows={"native": 1000, "ours": 20000, "ours-tuned": 80000},
        chat_rows={"native": 1000, "ours": 4000},
        concurrencies=(4, 16, 64),
        embed_provider=Provider(latency_ms=50, item_cost_ms=0.2),
        chat_provider=Provider(latency_ms=100),
        rpm_provider=Provider(latency_ms=100, rpm=1800, burst_seconds=0.1),
        rpm_rows={"native": 600, "ours": 900},
        tpm_provider=Provider(latency_ms=100, tpm=480_000, burst_seconds=0.1),
        lookup_docs=(1000, 10000, 100000),
        lookups=200,
        pipeline_events=500,
    ),
}
