"""`flink-rag package`: the package as one zip to ship to a cluster with `-pyfs`/`python.files`.

The source tree keeps udfs/, connectors/, bench/ and sql/ at the repository root (mapped to
`flink_rag.*` by pyproject.toml); a worker needs them under `flink_rag/`, so the zip lays
them out as installed. Third-party packages (openai, pymongo, ...) must be installed in the
cluster's Python (`-pyexec`); see docker/Dockerfile.
"""

from __future__ import annotations

import argparse
import zipfile
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUTPUT = REPO_ROOT / "dist" / "flink_rag_pyfiles.zip"

# source dir (relative to the repository root) -> path inside the zip
LAYOUT = {
    "flink_rag": "flink_rag",
    "udfs": "flink_rag/udfs",
    "connectors": "flink_rag/connectors",
    "bench": "flink_rag/bench",
    "sql": "flink_rag/sql",
}
SHIPPED_SUFFIXES = (".py", ".sql", ".md", ".json")


def build_zip(output: Path = DEFAULT_OUTPUT, root: Path = REPO_ROOT) -> Path:
    """Write the zip and return its path; entries are sorted so equal trees give equal zips."""
    entries: list[tuple[Path, str]] = []
    for source, target in LAYOUT.items():
        base = root / source
        for path in sorted(base.rglob("*")):
            if (
                path.is_file()
                and path.suffix in SHIPPED_SUFFIXES
                and "__pycache__" not in path.parts
            ):
                entries.append((path, f"{target}/{path.relative_to(base).as_posix()}"))
    output.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(output, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for path, name in entries:
            info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, path.read_bytes())
    return output


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "package", help="build the zip to ship with sql-client.sh -pyfs / python.files"
    )
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="zip to write")
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    path = build_zip(args.output)
    print(f"wrote {path} (ship it with: sql-client.sh -pyfs {path} -pyexec <cluster python>)")
    return 0
