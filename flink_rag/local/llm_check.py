"""Proves that the installed llama-cpp-python runs on this CPU, and measures it.

The model is loaded and asked for tokens in a child process: a build that uses instructions
this CPU lacks dies by a signal (SIGILL, or SIGSEGV at an AMX `ldtilecfg`), and the parent
turns that into one line naming the signal, the CPU and the rebuild command.

    python -m flink_rag.local.llm_check [--tokens N] [--wheel-dir DIR]
"""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
from pathlib import Path

from flink_rag.local.cpu import cpu_summary
from flink_rag.local.llm import N_THREADS, model_path

CHECK_TIMEOUT_S = 300.0
PROMPT = "The three busiest airports in Europe are"

# Runs in the child; prints one JSON line. n_predict tokens are generated with temperature 0.
_CHILD = """
import json, sys, time
from llama_cpp import Llama
path, tokens, threads = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
t0 = time.perf_counter()
llm = Llama(model_path=path, n_ctx=512, n_threads=threads, verbose=False)
t1 = time.perf_counter()
out = llm.create_completion(sys.argv[4], max_tokens=tokens, temperature=0.0)
t2 = time.perf_counter()
n = out["usage"]["completion_tokens"]
print(json.dumps({"load_s": t1 - t0, "tokens": n, "gen_s": t2 - t1,
                  "tokens_per_s": n / (t2 - t1) if t2 > t1 else 0.0}))
"""


def signal_name(returncode: int) -> str:
    """`SIGSEGV` for -11, `exit code 3` for 3."""
    if returncode < 0:
        try:
            return signal.Signals(-returncode).name
        except ValueError:
            return f"signal {-returncode}"
    return f"exit code {returncode}"


def run_check(tokens: int = 1, threads: int = N_THREADS) -> dict:
    """Load the local model in a child process and generate `tokens` tokens.

    Returns the child's measurements; raises RuntimeError with a one-line reason on a crash.
    """
    cmd = [sys.executable, "-c", _CHILD, str(model_path()), str(tokens), str(threads), PROMPT]
    try:
        proc = subprocess.run(
            cmd, capture_output=True, text=True, timeout=CHECK_TIMEOUT_S, check=False
        )
    except subprocess.TimeoutExpired as err:
        raise RuntimeError(
            f"loading the local model did not finish within {CHECK_TIMEOUT_S:.0f}s"
        ) from err
    if proc.returncode != 0:
        tail = " ".join((proc.stderr or "").strip().splitlines()[-1:])
        raise RuntimeError(
            f"llama-cpp-python {signal_name(proc.returncode)} while loading and running "
            f"SmolLM2 ({tail or 'no output'})"
        )
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m flink_rag.local.llm_check")
    parser.add_argument("--tokens", type=int, default=1)
    parser.add_argument("--threads", type=int, default=N_THREADS)
    parser.add_argument(
        "--wheel-dir", type=Path, default=None, help="wheelhouse folder of this build"
    )
    args = parser.parse_args(argv)
    try:
        result = run_check(args.tokens, args.threads)
    except RuntimeError as err:
        rebuild = (
            f"rm -rf {args.wheel_dir}; make setup" if args.wheel_dir else "rebuild with make setup"
        )
        print(
            f"setup: error: {err}; CPU: {cpu_summary()}; rebuild the wheel: {rebuild}",
            file=sys.stderr,
        )
        return 1
    print(
        f"setup: local LLM runs on this CPU (load {result['load_s']:.1f}s, "
        f"{result['tokens']} token(s) at {result['tokens_per_s']:.1f} tokens/s)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
