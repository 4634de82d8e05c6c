"""A relocatable virtualenv archive of flink-rag and its dependencies, for TaskManagers whose
Python has PyFlink and nothing else.

PyFlink's way: `python.archives` (`-pyarch dist/flink_rag_venv.tar.gz#venv`) unpacks the
archive into each Python worker's working directory and `python.executable`
(`-pyexec venv/bin/python`) runs the UDFs with it. The archive is made with venv-pack, which
rewrites the venv's absolute paths (scripts, activate) to relative ones. A venv holds no
interpreter of its own: `venv/bin/python` links to the base Python it was built with, so
the TaskManagers need that Python (same version, same path; `--python-prefix` names another
path) — a cluster image with Python and PyFlink has it.

Size: the runtime dependencies (PyFlink's Python side, Beam, pyarrow, pandas, openai,
pymongo, ...) without the local embedding model. `--with-local-models` adds
sentence-transformers and torch, whose PyPI build brings ~3 GB of CUDA libraries: only for
EMBED with provider `local`; a cluster embedding through an OpenAI-compatible endpoint
(provider `openai`) does not need it. The JVM jars inside the pyflink package are left out:
the Python workers never load them (the JVM side comes from the cluster's own Flink).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from flink_rag.packaging import REPO_ROOT, PackagingError

ARCHIVE_NAME = "flink_rag_venv.tar.gz"
TARGET_DIR = "venv"  # the folder the archive unpacks to in the worker's working directory
INSTALL_TIMEOUT_S = 1800.0
# Extra of pyproject.toml with what EMBED's provider `local` needs inside the workers.
LOCAL_MODELS_EXTRA = "embed-local"
# venv-pack filters (paths relative to the venv): the JVM side of the pyflink package.
EXCLUDED = (
    "lib/python*/site-packages/pyflink/lib/*",
    "lib/python*/site-packages/pyflink/opt/*",
    "lib/python*/site-packages/pyflink/plugins/*",
    "lib/python*/site-packages/pyflink/examples/*",
)


def client_args(archive: Path) -> list[str]:
    """The `sql-client.sh` / `flink run` options that ship `archive` and run UDFs with it."""
    return ["-pyarch", f"{archive}#{TARGET_DIR}", "-pyexec", f"{TARGET_DIR}/bin/python"]


def base_python() -> str:
    """The interpreter this Python's venv was made from (itself when not in a venv)."""
    return str(getattr(sys, "_base_executable", None) or sys.executable)


def build(
    wheel: Path,
    output: Path,
    *,
    python: str | None = None,
    python_prefix: str | None = None,
    local_models: bool = False,
    constraints: Path | None = REPO_ROOT / "constraints.txt",
    say: Callable[[str], None] = lambda _: None,
) -> Path:
    """Make a fresh venv with `python`, install `wheel` (pinned by `constraints`), pack it to
    `output` (tar.gz) and return `output`."""
    import venv_pack  # in the dev extra; the message below says so when it is missing

    work = output.parent / "venv-build"
    shutil.rmtree(work, ignore_errors=True)
    venv = work / TARGET_DIR
    interpreter = python or base_python()
    say(f"creating a venv with {interpreter}")
    _run([interpreter, "-m", "venv", str(venv)], "python -m venv")
    requirement = f"{wheel}[{LOCAL_MODELS_EXTRA}]" if local_models else str(wheel)
    cmd = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet"]
    cmd += ["--disable-pip-version-check"]
    if constraints is not None and constraints.is_file():
        cmd += ["-c", str(constraints)]
    say(f"installing {Path(requirement).name} and its dependencies")
    _run([*cmd, requirement], "pip install")
    say(f"packing {venv} into {output}")
    output.unlink(missing_ok=True)
    try:
        venv_pack.pack(
            prefix=str(venv),
            output=str(output),
            format="tar.gz",
            python_prefix=python_prefix,
            filters=[("exclude", pattern) for pattern in EXCLUDED],
            force=True,
        )
    except venv_pack.VenvPackException as err:
        raise PackagingError(f"venv-pack could not pack {venv}: {err}") from err
    shutil.rmtree(work, ignore_errors=True)
    output.chmod(0o644)  # venv-pack writes through a private temporary file
    return output


def _run(cmd: list[str], what: str) -> None:
    try:
        done = subprocess.run(
            cmd, capture_output=True, text=True, timeout=INSTALL_TIMEOUT_S, check=False
        )
    except subprocess.TimeoutExpired as err:
        raise PackagingError(f"{what} did not finish within {INSTALL_TIMEOUT_S:g} s") from err
    if done.returncode != 0:
        tail = "\n  ".join((done.stderr or done.stdout).strip().splitlines()[-10:])
        raise PackagingError(f"{what} failed (exit {done.returncode}):\n  {tail}")
