"""PNG chart: throughput vs concurrency for ours, native ML_PREDICT and the provider limit."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from flink_rag_bench.runner import Result

PANELS = (("embeddings", "EMBED"), ("completions", "LLM_COMPLETE"))


def _series(results: Sequence[Result], group: str, contender: str) -> tuple[list, list]:
    points = sorted(
        (r.concurrency, r.rows_per_s)
        for r in results
        if r.group == group and r.contender == contender and r.rows_per_s
    )
    return [c for c, _ in points], [v for _, v in points]


def write_chart(results: Sequence[Result], path: Path, title: str) -> Path | None:
    """Writes the chart; returns None (and writes nothing) if there is nothing to plot."""
    import matplotlib

    matplotlib.use("Agg")  # no display here or in CI
    import matplotlib.pyplot as plt
    from matplotlib.ticker import NullLocator

    panels = [(g, ours) for g, ours in PANELS if any(r.group == g for r in results)]
    if not panels:
        return None
    fig, axes = plt.subplots(1, len(panels), figsize=(6 * len(panels), 4.5), squeeze=False)
    for ax, (group, ours) in zip(axes[0], panels, strict=True):
        limits = sorted(
            {(r.concurrency, r.limit_per_s) for r in results if r.group == group and r.limit_per_s}
        )
        if limits:
            ax.plot(*zip(*limits, strict=True), "k^--", label="provider limit")
        for contender, style in ((ours, "o-"), ("ML_PREDICT", "s-")):
            xs, ys = _series(results, group, contender)
            if xs:
                name = f"ours ({ours})" if contender == ours else "native ML_PREDICT"
                ax.plot(xs, ys, style, label=name)
        ax.set_xscale("log", base=2)
        ticks = sorted({r.concurrency for r in results if r.group == group and r.concurrency})
        ax.set_xticks(ticks, [str(t) for t in ticks])
        ax.xaxis.set_minor_locator(NullLocator())
        ax.set_yscale("log")
        ax.set_xlabel("calls in flight (concurrency setting)")
        ax.set_ylabel("rows/s")
        ax.set_title(group)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()
    fig.suptitle(title)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
