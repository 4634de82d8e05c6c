"""`flink-rag connections check`: which of the operator's connections resolve on this host.

Run it where the Flink processes run (a TaskManager's container, with its environment and
mounts): it reads FLINK_RAG_CONNECTIONS and the environment exactly as a job does, and says
for each connection whether its secret is there. A secret is never printed, not even in
part: only where it lives and its length. Exit code 0 when every connection resolves, 1 when
one does not, 2 when the file itself is broken.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping

from flink_rag.connectors.connections import CONNECTIONS_ENV, Connection, Connections
from flink_rag.connectors.errors import ConfigError


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "connections",
        help="list the operator's connections and whether each one resolves here",
        description="Connections bind an endpoint to its secret, outside SQL (see README).",
    )
    actions = parser.add_subparsers(dest="connections_command", required=True, metavar="ACTION")
    check = actions.add_parser(
        "check",
        help="list every connection, where its secret lives and whether it is readable",
    )
    check.set_defaults(func=run_check)


def status(conn: Connection, env: Mapping[str, str]) -> tuple[bool, str]:
    """(resolves, what to show): the secret's length at most, never a character of it."""
    try:
        value = conn.secret(env)
    except ConfigError as err:
        return False, f"BROKEN: {err}"
    if value is not None:
        return True, f"ok, secret set ({len(value)} chars)"
    if conn.from_environment:
        fallback = (
            "calls go keyless: servers on this machine only"
            if conn.kind == "openai"
            else "the local stand-in's URI is used"
        )
        return True, f"ok, no secret set ({fallback})"
    if not conn.has_secret:
        return True, "ok, keyless by definition"
    return False, f"BROKEN: {conn.secret_source()} is not set; mount or set it"


def report(env: Mapping[str, str]) -> tuple[int, list[str]]:
    try:
        connections = Connections.load(env)
    except ConfigError as err:
        return 2, [f"error: {err}"]
    source = (
        connections.source
        if env.get(CONNECTIONS_ENV)
        else f"the environment ({CONNECTIONS_ENV} is not set: only the default connections)"
    )
    lines = [f"connections from {source}"]
    broken = 0
    for conn in connections.all():
        ok, shown = status(conn, env)
        broken += not ok
        where = ", ".join(conn.endpoints) if conn.kind == "openai" else "(the URI is the secret)"
        limits = ", ".join(
            f"{name} {value}"
            for name, value in (
                ("rpm", conn.rpm),
                ("concurrency", conn.concurrency),
                # Enforced token budgets (connectors/token_budget.py), per worker process.
                ("tpm", conn.tpm),
                ("tokens-per-hour", conn.tokens_per_hour),
                ("tokens-per-day", conn.tokens_per_day),
                ("tokens-per-job", conn.tokens_per_job),
            )
            if value is not None
        )
        lines.append(f"{conn.name} [{conn.kind}] {where}")
        lines.append(f"    secret: {conn.secret_source()}: {shown}")
        if limits:
            lines.append(f"    limits: {limits}")
    if broken:
        lines.append(f"{broken} connection(s) do not resolve: jobs naming them fail at start")
    return (1 if broken else 0), lines


def run_check(args: argparse.Namespace) -> int:
    del args
    code, lines = report(os.environ)
    print("\n".join(lines), file=sys.stderr if code == 2 else sys.stdout)
    return code
