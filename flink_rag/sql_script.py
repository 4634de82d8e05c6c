"""`flink-rag sql-script`: a bundled pipeline as one script for the stock `sql-client.sh -f`.

The SQL files keep `${NAME}` placeholders for addresses (Kafka bootstrap servers, topics);
the SQL client has no such substitution, so a deployment renders the script
where it runs, from the installed package (docker/compose.yaml and deploy/k8s/ do):

    flink-rag sql-script rebooking --bootstrap kafka:29092 -o /tmp/rebooking.sql
    flink-rag sql-script ingest-documents --bootstrap kafka:29092 --topic DOCS_TOPIC=my_docs
    sql-client.sh -f /tmp/rebooking.sql

The script registers the functions (functions.sql) and then runs the pipeline; `--option
flink-rag.<section>.<key>=<value>` adds job parameters, `--topic NAME=topic` renames a topic
placeholder of the file. `--group-id` / `--events-startup-mode` (rebooking) override the
event source's group and start as dynamic table options; without them the script is the
file as shipped. Secrets are never options.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path

from flink_rag.connectors.errors import FlinkRagError

DOCS_STORE = "docs"  # the collection ingest_documents.sql declares its options for


def _rebooking(
    bootstrap: str, group_id: str | None, events_startup_mode: str | None
) -> tuple[str, dict]:
    from flink_rag.airline import rebooking

    params = rebooking.sql_params(
        bootstrap, group_id=group_id, events_startup_mode=events_startup_mode
    )
    return rebooking.SQL_FILE, params


def _ingest(store: str) -> Callable[[str, str | None, str | None], tuple[str, dict]]:
    def params(
        bootstrap: str, group_id: str | None, events_startup_mode: str | None
    ) -> tuple[str, dict]:
        from flink_rag.airline import ingestion

        return ingestion.STORES[store][0], ingestion.sql_params(store, bootstrap)

    return params


def _ingest_documents(
    bootstrap: str, group_id: str | None, events_startup_mode: str | None
) -> tuple[str, dict]:
    from flink_rag.stores.sink import vectors_topic

    vectors = vectors_topic(DOCS_STORE)
    return "ingest_documents.sql", {
        "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        "DOCS_TOPIC": DOCS_STORE,
        "VECTOR_TOPIC": vectors,
        "DEAD_LETTER_TOPIC": f"{vectors}_dead_letter",
    }


# pipeline -> its SQL file and placeholder values (bootstrap, group id, events startup mode)
PIPELINES: dict[str, Callable[[str, str | None, str | None], tuple[str, dict]]] = {
    "rebooking": _rebooking,
    "ingest-policies": _ingest("policies"),
    "ingest-flights": _ingest("flights"),
    "ingest-documents": _ingest_documents,
}


def render(
    pipeline: str,
    bootstrap: str,
    *,
    group_id: str | None = None,
    events_startup_mode: str | None = None,
    options: dict[str, str] | None = None,
    job_name: str = "",
    topics: dict[str, str] | None = None,
) -> str:
    """The SQL-client script of `pipeline` with every placeholder filled; `topics` renames
    topic placeholders the file has (an unknown name is refused)."""
    from flink_rag.jobs import sql_client

    if pipeline not in PIPELINES:
        raise FlinkRagError(f"unknown pipeline {pipeline!r}; choose from {', '.join(PIPELINES)}")
    sql_file, params = PIPELINES[pipeline](bootstrap, group_id, events_startup_mode)
    unknown = sorted(set(topics or {}) - {k for k in params if k.endswith("_TOPIC")})
    if unknown:
        known = ", ".join(sorted(k for k in params if k.endswith("_TOPIC")))
        raise FlinkRagError(f"{pipeline} has no topic {', '.join(unknown)}; its topics: {known}")
    return sql_client.render_script(sql_file, {**params, **(topics or {})}, options or {}, job_name)


def _topic(raw: str) -> tuple[str, str]:
    name, sep, topic = raw.partition("=")
    if not sep or not name.strip() or not topic.strip():
        raise argparse.ArgumentTypeError(f"expected NAME_TOPIC=topic, got {raw!r}")
    return name.strip(), topic.strip()


def _option(raw: str) -> tuple[str, str]:
    key, sep, value = raw.partition("=")
    if not sep or not key.startswith("flink-rag."):
        raise argparse.ArgumentTypeError(f"expected flink-rag.<section>.<key>=<value>, got {raw!r}")
    return key.strip(), value.strip()


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "sql-script",
        help="write a bundled pipeline as one script for the stock sql-client.sh -f",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("pipeline", choices=list(PIPELINES))
    parser.add_argument(
        "--bootstrap",
        default=os.environ.get("KAFKA_BOOTSTRAP_SERVERS"),
        help="Kafka bootstrap servers (default: $KAFKA_BOOTSTRAP_SERVERS)",
    )
    parser.add_argument(
        "--group-id",
        help="the event source's Kafka consumer group (rebooking; default: the file's, "
        "flink-rag-rebooking): a second deployment on the same topic needs its own",
    )
    parser.add_argument(
        "--events-startup-mode",
        choices=("group-offsets", "earliest-offset", "latest-offset"),
        help="where the event source starts (rebooking; default: the file's, group-offsets, "
        "from the earliest offset when the group has none)",
    )
    parser.add_argument("--job-name", default="", help="pipeline.name of the job")
    parser.add_argument(
        "--option",
        type=_option,
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a flink-rag.* job parameter (repeatable)",
    )
    parser.add_argument(
        "--topic",
        type=_topic,
        action="append",
        default=[],
        metavar="NAME=TOPIC",
        help="a topic placeholder of the file, e.g. DOCS_TOPIC=my_docs (repeatable)",
    )
    parser.add_argument("-o", "--output", type=Path, help="file to write (default: stdout)")
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    if not args.bootstrap:
        print(
            "flink-rag sql-script: no Kafka address; pass --bootstrap host:port or set "
            "KAFKA_BOOTSTRAP_SERVERS",
            file=sys.stderr,
        )
        return 2
    try:
        script = render(
            args.pipeline,
            args.bootstrap,
            group_id=args.group_id,
            events_startup_mode=args.events_startup_mode,
            options=dict(args.option),
            job_name=args.job_name,
            topics=dict(args.topic),
        )
    except FlinkRagError as err:
        print(f"flink-rag sql-script: {err}", file=sys.stderr)
        return 1
    if args.output is None:
        sys.stdout.write(script)
    else:
        args.output.write_text(script, encoding="utf-8")
        print(f"wrote {args.output}", file=sys.stderr)
    return 0
