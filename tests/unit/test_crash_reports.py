"""How a crashed component or a CPU-incompatible llama.cpp build is reported."""

from __future__ import annotations

import subprocess
import sys

import pytest

from flink_rag.local import llm_check
from flink_rag.local.cpu import cpu_summary
from flink_rag.local.exits import ExitRecord, describe_exit, read_exit

pytestmark = pytest.mark.unit

XEON = """processor\t: 0
model name\t: Intel(R) Xeon(R) Processor
flags\t\t: fpu sse2 avx avx2 fma f16c avx512f avx512_bf16 amx_tile amx_int8 amx_bf16
"""


def _supervised(tmp_path, code: str) -> tuple[int, ExitRecord | None]:
    exit_file = tmp_path / "x.exit"
    cmd = [sys.executable, "-m", "flink_rag.local.supervise", str(exit_file), "--"]
    proc = subprocess.run([*cmd, sys.executable, "-c", code], timeout=60, check=False)
    return proc.returncode, read_exit(exit_file)


def test_supervise_records_a_signal_and_dies_by_it(tmp_path):
    rc, record = _supervised(tmp_path, "import os, signal; os.kill(os.getpid(), signal.SIGSEGV)")
    assert rc == -11
    assert record is not None and record.returncode == -11
    assert record.ended >= record.started
    assert describe_exit(record).startswith("killed by SIGSEGV ")
    assert describe_exit(record).endswith(" s after start")


def test_supervise_records_an_exit_code(tmp_path):
    rc, record = _supervised(tmp_path, "raise SystemExit(3)")
    assert rc == 3
    assert record is not None and record.how() == "exited with code 3"


def test_describe_exit_counts_from_readiness_when_known():
    record = ExitRecord(returncode=-4, started=100.0, ended=112.5)
    assert describe_exit(record, ready_at=112.1, probe="GET /v1/models") == (
        "killed by SIGILL 0.4 s after answering GET /v1/models"
    )
    assert describe_exit(record, ready_at=None) == "killed by SIGILL 12.5 s after start"


def test_cpu_summary_names_model_and_the_flags_a_native_build_may_use():
    text = cpu_summary(XEON)
    assert text.startswith("Intel(R) Xeon(R) Processor [")
    assert "amx_tile" in text and "avx512f" in text and "avx2" in text
    assert "lacks" not in text
    assert "lacks the baseline's avx2 fma f16c" in cpu_summary("model name: Old\nflags: sse2 avx")


def test_llm_check_turns_a_crash_into_one_line_with_signal_cpu_and_fix(
    monkeypatch, capsys, tmp_path
):
    # A child that dies as an AMX build does on a CPU without AMX.
    monkeypatch.setattr(
        llm_check, "_CHILD", "import os, signal; os.kill(os.getpid(), signal.SIGILL)"
    )
    monkeypatch.setattr(llm_check, "model_path", lambda: tmp_path / "model.gguf")
    rc = llm_check.main(["--wheel-dir", str(tmp_path / "wheels")])
    err = capsys.readouterr().err.strip()
    assert rc == 1
    assert "\n" not in err
    assert "llama-cpp-python SIGILL while loading and running SmolLM2" in err
    assert "CPU: " in err
    assert f"rm -rf {tmp_path / 'wheels'}; make setup" in err


def test_llm_check_reports_tokens_per_second_of_a_working_child(monkeypatch, capsys, tmp_path):
    result = '{"load_s": 0.5, "tokens": 4, "gen_s": 0.1, "tokens_per_s": 40.0}'
    fake = f"print('{result}')"
    monkeypatch.setattr(llm_check, "_CHILD", fake)
    monkeypatch.setattr(llm_check, "model_path", lambda: tmp_path / "model.gguf")
    assert llm_check.main(["--tokens", "4"]) == 0
    assert "4 token(s) at 40.0 tokens/s" in capsys.readouterr().out
