"""`flink-rag local up|status|down`."""

from __future__ import annotations

import argparse
import sys

from flink_rag.local.config import DEFAULT_TIMEOUT_S
from flink_rag.local.errors import LocalStackError
from flink_rag.local.stack import COMPONENTS, DEFAULT_NAMES, Stack


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    local = subparsers.add_parser(
        "local",
        help="run Kafka, a MongoDB stand-in, an LLM server and Flink on loopback",
        description="Manage the local stack (state, logs and pid files under $FLINK_RAG_HOME, "
        "default .flink-rag/ in the repository).",
    )
    actions = local.add_subparsers(dest="action", required=True, metavar="{up,status,down}")
    only_help = f"comma-separated subset of {','.join(COMPONENTS)}"

    up = actions.add_parser("up", help="start what is not running and wait until it answers")
    up.add_argument("--with-flink", action="store_true", help="also start the Flink cluster")
    up.add_argument("--only", type=_names, help=only_help)
    up.add_argument(
        "--timeout", type=float, default=DEFAULT_TIMEOUT_S, help="seconds to wait for readiness"
    )
    up.set_defaults(func=_up)

    status = actions.add_parser("status", help="probe every component; exit 0 if all answer")
    status.add_argument("--only", type=_names, help=only_help)
    status.set_defaults(func=_status)

    down = actions.add_parser("down", help="stop what `up` started")
    down.add_argument("--only", type=_names, help=only_help)
    down.set_defaults(func=_down)


def _names(value: str) -> list[str]:
    names = [n.strip() for n in value.split(",") if n.strip()]
    unknown = [n for n in names if n not in COMPONENTS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"choose from {','.join(COMPONENTS)}")
    return names


def _up(args: argparse.Namespace) -> int:
    names = args.only or [*DEFAULT_NAMES, *(["flink"] if args.with_flink else [])]
    try:
        lines = Stack().up(names, timeout=args.timeout)
    except LocalStackError as err:
        print(f"flink-rag local up: {err}", file=sys.stderr)
        return 1
    print("\n".join(lines))
    return 0


def _status(args: argparse.Namespace) -> int:
    try:
        statuses, ok = Stack().status(args.only)
    except LocalStackError as err:
        print(f"flink-rag local status: {err}", file=sys.stderr)
        return 1
    for s in statuses:
        print(s.line())
    return 0 if ok else 1


def _down(args: argparse.Namespace) -> int:
    try:
        lines = Stack().down(args.only)
    except LocalStackError as err:
        print(f"flink-rag local down: {err}", file=sys.stderr)
        return 1
    print("\n".join(lines) if lines else "nothing to stop")
    return 0
