"""The wheel installed alone works: no checkout on the path, no bench distribution.

The checkout's editable install hides a module the wheel leaves out (it did: every command
failed with `No module named 'flink_rag.faults'`). Here the wheel is built, installed with
`--no-deps` into a fresh venv whose only other entry on sys.path is the site-packages of the
dependencies (their `.pth` files, the editable finders among them, are not processed), and
its commands run from an empty directory with `-P` (no cwd on the path).
"""

from __future__ import annotations

import os
import site
import subprocess
import sys
import venv
from pathlib import Path

import pytest

from flink_rag import packaging

pytestmark = pytest.mark.flink

RUN_TIMEOUT_S = 120.0


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("wheel")
    wheel = packaging.build_wheel(root / "dist")
    env_dir = root / "venv"
    venv.EnvBuilder(with_pip=False, symlinks=True).create(env_dir)
    site_dir = next((env_dir / "lib").glob("python3*/site-packages"))
    # The dependencies, as a plain path entry: the checkout's editable finders stay inert.
    (site_dir / "deps.pth").write_text(f"{site.getsitepackages()[0]}\n")
    python = env_dir / "bin" / "python"
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet",
         "--no-deps", "--no-compile", "--no-index", str(wheel)],
        check=True, timeout=RUN_TIMEOUT_S,
    )  # fmt: skip
    work = root / "cwd"  # an empty working directory: nothing of the checkout is found here
    work.mkdir()
    return {"python": python, "bin": env_dir / "bin", "cwd": work, "site": site_dir}


def _run(installed: dict[str, Path], cmd: list[str]) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    return subprocess.run(
        cmd, cwd=installed["cwd"], env=env, capture_output=True, text=True,
        timeout=RUN_TIMEOUT_S, check=False,
    )  # fmt: skip


def run(installed: dict[str, Path], *args: str) -> subprocess.CompletedProcess:
    return _run(installed, [str(installed["python"]), "-P", *args])


def cli(installed: dict[str, Path], *args: str) -> subprocess.CompletedProcess:
    """The `flink-rag` script the wheel's entry point installed (its path entry is bin/)."""
    return _run(installed, [str(installed["bin"] / "flink-rag"), *args])


def test_the_package_comes_from_the_wheel_not_the_checkout(installed):
    done = run(installed, "-c", "import flink_rag, flink_rag.udfs; print(flink_rag.udfs.__file__)")
    assert done.returncode == 0, done.stderr
    assert Path(done.stdout.strip()).is_relative_to(installed["site"]), done.stdout
    bench = run(installed, "-c", "import flink_rag_bench")
    assert "No module named 'flink_rag_bench'" in bench.stderr


def test_help_lists_every_command_and_the_optional_ones_say_how_to_install(installed):
    done = cli(installed, "--help")
    assert done.returncode == 0, done.stderr
    commands = ("local", "index", "store", "package", "sql-script", "connections", "demo", "faults")
    for command in (*commands, "bench"):
        assert command in done.stdout
    faults = cli(installed, "faults")
    assert faults.returncode == 2
    assert "pip install ./bench" in faults.stderr


def test_connections_check_runs_from_the_wheel(installed):
    done = cli(installed, "connections", "check")
    assert done.returncode in (0, 1), done.stderr  # 1: this machine's own connections
    assert "default [openai]" in done.stdout and "default [mongodb]" in done.stdout


@pytest.mark.parametrize("pipeline", ["rebooking", "ingest-policies", "ingest-documents"])
def test_sql_script_renders_a_bundled_pipeline(installed, pipeline):
    done = cli(installed, "sql-script", pipeline, "--bootstrap", "kafka:29092")
    assert done.returncode == 0, done.stderr
    assert "CREATE TEMPORARY SYSTEM FUNCTION IF NOT EXISTS EMBED" in done.stdout
    assert "kafka:29092" in done.stdout and "${" not in done.stdout


def test_register_creates_the_functions_on_a_table_environment(installed):
    code = (
        "from pyflink.table import EnvironmentSettings, TableEnvironment\n"
        "from flink_rag.udfs import register\n"
        "t_env = TableEnvironment.create(EnvironmentSettings.in_batch_mode())\n"
        "register(t_env)\n"
        "print(sorted(f.lower() for f in t_env.list_user_defined_functions()))\n"
    )
    done = run(installed, "-c", code)
    assert done.returncode == 0, done.stderr[-2000:]
    names = done.stdout.strip().splitlines()[-1]
    for function in ("embed", "vector_lookup", "llm_complete", "chunk"):
        assert f"'{function}'" in names, names
