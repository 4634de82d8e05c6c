"""The benchmark's rate-limit cases and targets, as pure functions of results (no runs)."""

from __future__ import annotations

import pytest

from flink_rag_bench.document import kept_sections
from flink_rag_bench.report import targets
from flink_rag_bench.runner import Result, limit_for
from flink_rag_bench.scenarios import PROFILES, Case, Provider

pytestmark = pytest.mark.unit


def result(group: str, contender: str, rate: float, limit: float, calls: int, r429: int, failed=0):
    return Result(
        group, f"{group} case", contender, calls, rate, limit, failed, 0, calls, r429, 5, 1.0,
        10.0, 100.0,
    )  # fmt: skip


def target(results: list[Result], name: str):
    return next(t for t in targets(results) if t.name == name)


def test_every_profile_measures_both_limits_with_the_anchor_and_the_fixed_client() -> None:
    for profile in PROFILES.values():
        got = {(c.group, c.contender) for c in profile.cases()}
        for group in ("completions-rpm", "completions-tpm"):
            assert {(group, w) for w in ("native", "ours", "ours-fixed")} <= got
        tpm = [c for c in profile.cases() if c.group == "completions-tpm"]
        assert all(c.provider.tpm and not c.provider.rpm for c in tpm)
        assert all("tpm=" in c.label for c in tpm)


def test_a_tpm_limit_in_rows_per_second_comes_from_what_the_server_charged() -> None:
    case = Case("completions-tpm", "ours", 10, 64, Provider(latency_ms=100, tpm=48_000))
    stats = {"ok_requests": 100, "charged_tokens": 100 * 200}  # 200 tokens per call
    assert limit_for(case, stats) == pytest.approx(800 / 200)  # 48k/min = 800 tokens/s
    assert limit_for(case) == pytest.approx(640.0)  # not yet measured: calls in flight/latency


def test_limit_target_needs_share_429s_per_success_and_no_failed_row() -> None:
    ok = result("completions-rpm", "LLM_COMPLETE", 29.0, 30.0, 900, 40)
    native = result("completions-rpm", "ML_PREDICT", 29.9, 30.0, 600, 15000)
    t = target([native, ok], "LLM_COMPLETE under an RPM limit")
    assert t.met is True
    assert "96.7% of the limit, 0.04 429/success, failed=0" in t.measured
    assert "ML_PREDICT: 99.7%, 25.00 429/success" in t.measured

    slow = result("completions-rpm", "LLM_COMPLETE", 28.0, 30.0, 900, 40)
    assert target([slow], "LLM_COMPLETE under an RPM limit").met is False
    hammering = result("completions-rpm", "LLM_COMPLETE", 30.0, 30.0, 900, 901)
    assert target([hammering], "LLM_COMPLETE under an RPM limit").met is False
    lossy = result("completions-rpm", "LLM_COMPLETE", 30.0, 30.0, 900, 0, failed=1)
    assert target([lossy], "LLM_COMPLETE under an RPM limit").met is False
    assert target([ok], "LLM_COMPLETE under a TPM limit").met is None  # not measured


def test_regeneration_keeps_sections_the_generator_does_not_write() -> None:
    old = (
        "# Benchmarks\n\nintro\n\n## Results\n\n| old |\n\n## Vector lookup: by hand\n\n"
        "| kept |\n\n## Targets\n\nold targets\n\n## Another run\n\nalso kept\n"
    )
    assert kept_sections(old) == (
        "\n## Vector lookup: by hand\n\n| kept |\n\n## Another run\n\nalso kept\n"
    )
    assert kept_sections("# Benchmarks\n\n## Results\n\nx\n") == ""
    # every section render writes is replaced, not kept a second time
    assert kept_sections("## Latency versus load (rebooking pipeline)\n\n| old |\n") == ""
