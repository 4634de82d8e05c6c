"""`flink-rag package` builds a standard wheel: the runtime packages and SQL files, metadata
from pyproject.toml, and no benchmark code; `flink-rag bench` without the benchmark
distribution (nor `flink-rag faults`, which lives there) says how to install it."""

from __future__ import annotations

import email
import importlib
import tomllib
import zipfile

import pytest
from packaging.specifiers import SpecifierSet

from flink_rag import cli
from flink_rag import packaging as flink_packaging

pytestmark = pytest.mark.unit

RUNTIME_FILES = (
    "flink_rag/cli.py",
    "flink_rag/udfs/embed.py",
    "flink_rag/udfs/vector_lookup.py",
    "flink_rag/udfs/llm_complete.py",
    "flink_rag/connectors/openai_embedding.py",
    "flink_rag/sql/functions.sql",
    "flink_rag/sql/rebooking.sql",
    "flink_rag/airline/policies/rebooking.md",
)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    return flink_packaging.build_wheel(tmp_path_factory.mktemp("dist"))


def test_wheel_holds_the_runtime_and_not_the_benchmarks(wheel):
    assert wheel.name == flink_packaging.wheel_name()
    names = zipfile.ZipFile(wheel).namelist()
    for path in RUNTIME_FILES:
        assert path in names
    assert not [n for n in names if "bench" in n.split("/")[0] or "/bench/" in n]
    assert not [n for n in names if n.startswith(("udfs/", "connectors/", "sql/", "tests/"))]


def test_wheel_metadata_is_pyproject_s(wheel):
    project = tomllib.loads((flink_packaging.REPO_ROOT / "pyproject.toml").read_text())["project"]
    with zipfile.ZipFile(wheel) as zf:
        meta = email.message_from_bytes(zf.read("flink_rag-0.1.0.dist-info/METADATA"))
        entry_points = zf.read("flink_rag-0.1.0.dist-info/entry_points.txt").decode()
    assert SpecifierSet(meta["Requires-Python"]) == SpecifierSet(project["requires-python"])
    requires = meta.get_all("Requires-Dist")
    assert "apache-flink==2.3.0" in requires
    assert any(r.startswith("sentence-transformers") and "embed-local" in r for r in requires)
    assert "flink-rag = flink_rag.cli:main" in entry_points


def test_package_without_a_checkout_says_where_to_run_it(tmp_path):
    with pytest.raises(flink_packaging.PackagingError, match="from a checkout"):
        flink_packaging.build_wheel(tmp_path / "dist", root=tmp_path)


@pytest.mark.parametrize("command", [["bench", "--quick"], ["faults", "--faults", "llm"]])
def test_harness_commands_without_the_bench_distribution_say_how_to_install(
    monkeypatch, capsys, command
):
    real = importlib.import_module

    def without_bench(name, *args):
        if name.startswith("flink_rag_bench"):
            raise ModuleNotFoundError(f"No module named {name!r}", name="flink_rag_bench")
        return real(name, *args)

    monkeypatch.setattr(cli.importlib, "import_module", without_bench)
    assert cli.main(command) == 2
    err = capsys.readouterr().err
    assert f"flink-rag {command[0]}:" in err
    assert "pip install ./bench" in err and "flink-rag-bench" in err


def test_a_missing_dependency_of_the_bench_is_not_hidden(monkeypatch):
    real = importlib.import_module

    def broken_bench(name, *args):
        if name.startswith("flink_rag_bench"):
            raise ModuleNotFoundError("No module named 'matplotlib'", name="matplotlib")
        return real(name, *args)

    monkeypatch.setattr(cli.importlib, "import_module", broken_bench)
    with pytest.raises(ModuleNotFoundError, match="matplotlib"):
        cli.build_parser()


def test_archive_client_args_unpack_to_venv_and_run_its_python(tmp_path):
    archive = tmp_path / flink_packaging.ARCHIVE_NAME
    assert flink_packaging.client_args(archive) == [
        "-pyarch",
        f"{archive}#venv",
        "-pyexec",
        "venv/bin/python",
    ]
