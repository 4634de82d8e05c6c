"""The `flink-rag` command line.

Each subcommand lives with the code it drives and contributes one `add_parser(subparsers)`
function that sets `func` (taking the parsed args, returning an exit code). To add a command,
append its module to COMMAND_MODULES.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from flink_rag import __version__

COMMAND_MODULES = (
    "flink_rag.local.commands",
    "flink_rag.index_cli",
    "flink_rag.packaging",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="flink-rag",
        description="Flink SQL UDFs for embeddings, MongoDB vector lookup and LLM completion.",
    )
    parser.add_argument("--version", action="version", version=f"flink-rag {__version__}")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in COMMAND_MODULES:
        importlib.import_module(module).add_parser(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
