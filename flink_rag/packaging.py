"""`flink-rag package`: the artifacts that carry flink-rag into a Flink cluster.

- the wheel (`dist/flink_rag-<version>-py3-none-any.whl`): pip-install it into the cluster's
  Python (docker/Dockerfile does), or ship it per job with `-pyfs`/`python.files`, where the
  TaskManagers' Python already has the third-party dependencies;
- with `--venv-archive`, a relocatable virtualenv holding the wheel and every dependency
  (`dist/flink_rag_venv.tar.gz`, see below), for TaskManagers whose Python has
  nothing but PyFlink: `-pyarch <archive>#venv -pyexec venv/bin/python`.

Both are built from a checkout (pyproject.toml beside the flink_rag/ folder).

The venv archive: flink-rag and its dependencies as a relocatable virtualenv, for TaskManagers
whose Python has PyFlink and nothing else.

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

import argparse
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from flink_rag import __version__
from flink_rag.connectors.errors import FlinkRagError

REPO_ROOT = Path(__file__).resolve().parent.parent
DIST = REPO_ROOT / "dist"
BUILD_TIMEOUT_S = 300.0


class PackagingError(FlinkRagError):
    """An artifact could not be built; the message says what to install or fix."""


def wheel_name(version: str = __version__) -> str:
    return f"flink_rag-{version}-py3-none-any.whl"


def build_wheel(out_dir: Path = DIST, root: Path = REPO_ROOT) -> Path:
    """`pip wheel` of the checkout at `root` (no dependencies) into `out_dir`; its path.

    No build isolation: the build backend (setuptools, wheel) is the one installed next to
    this code, so a build needs no index; `make setup` installs both."""
    if not (root / "pyproject.toml").is_file():
        raise PackagingError(
            f"no pyproject.toml in {root}: `flink-rag package` builds from a checkout of "
            "flink-rag; run it there"
        )
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / wheel_name()
    target.unlink(missing_ok=True)  # pip keeps an existing wheel of the same name
    cmd = [
        sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
        "--quiet", "--wheel-dir", str(out_dir), str(root),
    ]  # fmt: skip
    try:
        done = subprocess.run(
            cmd, capture_output=True, text=True, timeout=BUILD_TIMEOUT_S, check=False
        )
    except subprocess.TimeoutExpired as err:
        raise PackagingError(f"pip wheel did not finish within {BUILD_TIMEOUT_S:g} s") from err
    if done.returncode != 0 or not target.is_file():
        tail = "\n  ".join((done.stderr or done.stdout).strip().splitlines()[-10:])
        raise PackagingError(
            f"pip wheel failed (exit {done.returncode}); it needs setuptools>=77 and wheel in "
            f"this Python (`make setup` installs them):\n  {tail}"
        )
    return target


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


def build_venv_archive(
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
    _step([interpreter, "-m", "venv", str(venv)], "python -m venv")
    requirement = f"{wheel}[{LOCAL_MODELS_EXTRA}]" if local_models else str(wheel)
    cmd = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet"]
    cmd += ["--disable-pip-version-check"]
    if constraints is not None and constraints.is_file():
        cmd += ["-c", str(constraints)]
    say(f"installing {Path(requirement).name} and its dependencies")
    _step([*cmd, requirement], "pip install")
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


def _step(cmd: list[str], what: str) -> None:
    try:
        done = subprocess.run(
            cmd, capture_output=True, text=True, timeout=INSTALL_TIMEOUT_S, check=False
        )
    except subprocess.TimeoutExpired as err:
        raise PackagingError(f"{what} did not finish within {INSTALL_TIMEOUT_S:g} s") from err
    if done.returncode != 0:
        tail = "\n  ".join((done.stderr or done.stdout).strip().splitlines()[-10:])
        raise PackagingError(f"{what} failed (exit {done.returncode}):\n  {tail}")


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "package",
        help="build the wheel (and with --venv-archive a venv archive) to ship to a cluster",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--dist", type=Path, default=DIST, help="output folder (default dist/)")
    parser.add_argument(
        "--venv-archive",
        action="store_true",
        help="also build dist/flink_rag_venv.tar.gz: the wheel and all its dependencies",
    )
    parser.add_argument(
        "--with-local-models",
        action="store_true",
        help="put the [embed-local] extra (sentence-transformers, torch: GBs) into the "
        "archive, for EMBED with provider local; without it use provider openai",
    )
    parser.add_argument(
        "--python",
        default=None,
        help="interpreter for the archive's venv; the TaskManagers need the same one at the "
        "same path (default: the base interpreter of this Python)",
    )
    parser.add_argument(
        "--python-prefix",
        default=None,
        help="where that interpreter's prefix is on the TaskManagers, if elsewhere "
        "(venv-pack --python-prefix)",
    )
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    try:
        wheel = build_wheel(args.dist)
        print(f"wrote {wheel}")
        if not args.venv_archive:
            print(
                "  install it into the cluster's Python (pip install "
                f"{wheel.name}), or ship it per job: sql-client.sh -pyfs {wheel} ..."
            )
            return 0
        archive = build_venv_archive(
            wheel,
            args.dist / ARCHIVE_NAME,
            python=args.python,
            python_prefix=args.python_prefix,
            local_models=args.with_local_models,
            say=print,
        )
    except FlinkRagError as err:
        print(f"flink-rag package: {err}", file=sys.stderr)
        return 1
    size_mb = archive.stat().st_size / 1e6
    print(f"wrote {archive} ({size_mb:.0f} MB)")
    print(f"  ship it per job: sql-client.sh {' '.join(client_args(archive))} ...")
    return 0
