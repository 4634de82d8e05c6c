"""The `flink-rag` command line.

Each subcommand lives with the code it drives: a module in COMMAND_MODULES contributes an
`add_parser(subparsers)` that sets `func`; a module in RUN_COMMANDS exposes
`add_arguments(parser)` and `run(args)`. `func`/`run` take the parsed args and return an exit code.
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

# Commands whose module exposes `add_arguments(parser)` and `run(args)`: name -> (module, help).
RUN_COMMANDS = {
    "demo": (
        "flink_rag.airline.demo",
        "load sample airline data, ingest it, and run the rebooking job end to end",
    ),
    "faults": (
        "flink_rag.faults.scenario",
        "run the rebooking job through LLM and MongoDB cuts, latency, resets and a 429 storm",
    ),
    "bench": (
        "flink_rag.bench.cli",
        "measure EMBED, LLM_COMPLETE and VECTOR_LOOKUP against native ML_PREDICT and the limit",
    ),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="flink-rag",
        description="Flink SQL UDFs for embeddings, MongoDB vector lookup and LLM completion.",
    )
    parser.add_argument("--version", action="version", version=f"flink-rag {__version__}")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module_name in COMMAND_MODULES:
        importlib.import_module(module_name).add_parser(subparsers)
    for name, (module_name, help_text) in RUN_COMMANDS.items():
        module = importlib.import_module(module_name)
        command = subparsers.add_parser(name, help=help_text, description=help_text)
        module.add_arguments(command)
        command.set_defaults(func=module.run)
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
