"""`flink-rag store sink create|status|delete`: the Kafka Connect sink that writes a store's
`<store>_vectors` topic into MongoDB.

Connect is KAFKA_CONNECT_URL or the local worker; Kafka (for the lag) is
KAFKA_BOOTSTRAP_SERVERS or the local broker. Output is one JSON object on stdout, messages go
to stderr. Exit codes: 0 ok (status: connector and tasks RUNNING), 1 not running, 2 error.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

from flink_rag.connectors.errors import FlinkRagError
from flink_rag.connectors.settings import DEFAULT_DATABASE
from flink_rag.stores import sink as store_sink

DEFAULT_WAIT_S = 60.0


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    store = subparsers.add_parser(
        "store",
        help="manage the Kafka Connect sink that writes a store's vectors topic to MongoDB",
        description="Manage a store profile's MongoDB sink connector on Kafka Connect.",
    )
    kinds = store.add_subparsers(dest="store_command", required=True, metavar="sink")
    sink = kinds.add_parser("sink", help="the store's MongoDB sink connector")
    actions = sink.add_subparsers(dest="sink_command", required=True, metavar="ACTION")

    create = actions.add_parser(
        "create", help="create or update the connector (idempotent) and wait until it runs"
    )
    _common(create)
    create.add_argument("--topic", help="default: <store>_vectors")
    create.add_argument(
        "--database", help=f"default: FLINK_RAG_MONGODB_DATABASE or {DEFAULT_DATABASE}"
    )
    create.add_argument("--collection", help="default: the store name")
    create.add_argument("--dead-letter-topic", help="default: <topic>_sink_dead_letter")
    create.add_argument(
        "--replication-factor",
        type=int,
        default=1,
        help="of the dead-letter topic (default 1, a single local broker; use 3 in production)",
    )
    create.add_argument(
        "--wait",
        type=float,
        default=DEFAULT_WAIT_S,
        metavar="SECONDS",
        help=f"wait until RUNNING, at most this long (default {DEFAULT_WAIT_S:g}; 0 = don't)",
    )

    status = actions.add_parser("status", help="connector and task states, lag, dead letters")
    _common(status)
    delete = actions.add_parser("delete", help="remove the connector (MongoDB data stays)")
    _common(delete)
    for parser in (create, status, delete):
        parser.set_defaults(func=run)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--store", required=True, help="store profile name, e.g. policies")


def spec_from_args(args: argparse.Namespace) -> store_sink.SinkSpec:
    topic = args.topic or store_sink.vectors_topic(args.store)
    return store_sink.SinkSpec(
        store=args.store,
        topic=topic,
        database=args.database or os.environ.get("FLINK_RAG_MONGODB_DATABASE") or DEFAULT_DATABASE,
        collection=args.collection or args.store,
        dead_letter=args.dead_letter_topic or store_sink.dead_letter_topic(topic),
        replication_factor=args.replication_factor,
    )


def running(status: dict | None) -> bool:
    if not status:
        return False
    tasks = status.get("tasks") or []
    return (
        status["connector"]["state"] == "RUNNING"
        and bool(tasks)
        and all(t["state"] == "RUNNING" for t in tasks)
    )


def describe(client: store_sink.ConnectClient, bootstrap: str, name: str) -> dict | None:
    """Connector state, task states (with the first line of a failure), lag, dead letters."""
    status = client.status(name)
    config = client.config(name)
    if status is None or config is None:
        return None
    topic = config.get("topics", "")
    dead = config.get("errors.deadletterqueue.topic.name", "")
    return {
        "connector": name,
        "state": status["connector"]["state"],
        "tasks": [
            {
                "id": t["id"],
                "state": t["state"],
                **({"error": t["trace"].splitlines()[0][:300]} if t.get("trace") else {}),
            }
            for t in status.get("tasks", [])
        ],
        "topic": topic,
        "database": config.get("database"),
        "collection": config.get("collection"),
        "lag": store_sink.lag(bootstrap, f"connect-{name}", topic) if topic else None,
        "dead_letter_topic": dead,
        "dead_letters": store_sink.topic_size(bootstrap, dead) if dead else None,
    }


def run(args: argparse.Namespace) -> int:
    from flink_rag.local.connect import connect_url
    from flink_rag.local.endpoints import endpoints

    client = store_sink.ConnectClient(connect_url())
    bootstrap = endpoints().kafka_bootstrap
    name = store_sink.connector_name(args.store)
    try:
        if args.sink_command == "create":
            spec = spec_from_args(args)
            client.put_config(name, store_sink.connector_config(spec))
            deadline = time.monotonic() + args.wait
            while args.wait > 0 and not running(client.status(name)):
                if time.monotonic() > deadline:
                    break
                time.sleep(0.5)
        elif args.sink_command == "delete":
            if not client.delete(name):
                print(f"connector {name!r} does not exist", file=sys.stderr)
                return 1
            print(json.dumps({"connector": name, "deleted": True}))
            return 0
        info = describe(client, bootstrap, name)
    except FlinkRagError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if info is None:
        print(
            f"connector {name!r} does not exist on {client.url}; run "
            f"`flink-rag store sink create --store {args.store}`",
            file=sys.stderr,
        )
        return 1
    print(json.dumps(info, sort_keys=True))
    ok = info["state"] == "RUNNING" and all(t["state"] == "RUNNING" for t in info["tasks"])
    if not ok:
        print(
            f"connector {name!r} is not running; see the task error above and the worker log "
            "(.flink-rag/logs/connect.log for the local worker)",
            file=sys.stderr,
        )
    return 0 if ok and info["tasks"] else 1
