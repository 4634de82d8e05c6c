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
    "flink_rag.stores.index_cli",
    "flink_rag.stores.sink_cli",
    "flink_rag.packaging",
    "flink_rag.sql_script",
    "flink_rag.connections_cli",
)

# Commands whose module exposes `add_arguments(parser)` and `run(args)`: name -> (module, help).
RUN_COMMANDS = {
    "demo": (
        "flink_rag.airline.demo",
        "load sample airline data, ingest it, and run the rebooking job end to end",
    ),
    "faults": (
        "flink_rag_bench.fault_scenario.scenario",
        "run the rebooking job through LLM and MongoDB cuts, latency, resets and a 429 storm",
    ),
    "bench": (
        "flink_rag_bench.cli",
        "measure EMBED, LLM_COMPLETE and VECTOR_LOOKUP against native ML_PREDICT and the limit",
    ),
}
# Commands that come from another distribution: name -> how to install it.
OPTIONAL_COMMANDS = {
    "bench": "the benchmark harness is not installed; in a checkout run `make setup` "
    "or `pip install ./bench` (distribution flink-rag-bench)",
    "faults": "the fault scenario is part of the benchmark harness, which is not installed; "
    "in a checkout run `make setup` or `pip install ./bench` (distribution flink-rag-bench)",
}


class _NotInstalled:
    """Stands in for a command module of a distribution that is not installed: the command
    is listed and says how to install it, instead of breaking every other command."""

    def __init__(self, hint: str):
        self.hint = hint

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        # Whatever options the real command takes: accepted, so the hint is what one sees.
        parser.set_defaults(accepts_unknown=True)

    def run(self, args: argparse.Namespace) -> int:
        print(f"flink-rag {args.command}: {self.hint}", file=sys.stderr)
        return 2


def _command_module(name: str, module_name: str):
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as err:
        missing = err.name or ""
        if name in OPTIONAL_COMMANDS and (module_name + ".").startswith(missing + "."):
            return _NotInstalled(OPTIONAL_COMMANDS[name])
        raise


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
        module = _command_module(name, module_name)
        command = subparsers.add_parser(name, help=help_text, description=help_text)
        module.add_arguments(command)
        command.set_defaults(func=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    if unknown and not getattr(args, "accepts_unknown", False):
        parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
