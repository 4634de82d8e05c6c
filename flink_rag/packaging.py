"""`flink-rag package`: the artifacts that carry flink-rag into a Flink cluster.

- the wheel (`dist/flink_rag-<version>-py3-none-any.whl`): pip-install it into the cluster's
  Python (docker/Dockerfile does), or ship it per job with `-pyfs`/`python.files`, where the
  TaskManagers' Python already has the third-party dependencies;
- with `--venv-archive`, a relocatable virtualenv holding the wheel and every dependency
  (`dist/flink_rag_venv.tar.gz`, see venv_archive.py), for TaskManagers whose Python has
  nothing but PyFlink: `-pyarch <archive>#venv -pyexec venv/bin/python`.

Both are built from a checkout (pyproject.toml beside the flink_rag/ folder).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
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
    from flink_rag import venv_archive

    try:
        wheel = build_wheel(args.dist)
        print(f"wrote {wheel}")
        if not args.venv_archive:
            print(
                "  install it into the cluster's Python (pip install "
                f"{wheel.name}), or ship it per job: sql-client.sh -pyfs {wheel} ..."
            )
            return 0
        archive = venv_archive.build(
            wheel,
            args.dist / venv_archive.ARCHIVE_NAME,
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
    print(f"  ship it per job: sql-client.sh {' '.join(venv_archive.client_args(archive))} ...")
    return 0
