"""`flink-rag index create|status`: manage a store profile's vector index from the shell.

The profile is read like a job reads it (`flink-rag.store.<name>.*` defaults, MONGODB_URI and
FLINK_RAG_MONGODB_DATABASE from the environment); flags override single options. Output is one
JSON object on stdout; messages go to stderr. Exit codes: 0 ready, 1 not ready, 2 error.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping
from typing import Any

from pymongo.errors import OperationFailure, PyMongoError

from flink_rag.connectors.errors import ConfigError, FlinkRagError
from flink_rag.connectors.mongodb_client import open_client
from flink_rag.connectors.mongodb_hybrid_search import text_paths
from flink_rag.connectors.mongodb_index import (
    ATLAS,
    IndexInfo,
    create_vector_index,
    describe,
    sample_dimensions,
    wait_until_ready,
)
from flink_rag.connectors.mongodb_text_index import (
    create_text_index,
    find_search_index,
    wait_text_index,
)
from flink_rag.connectors.settings import StoreSettings

DEFAULT_WAIT_S = 300.0

# flag name -> profile option key
_PROFILE_FLAGS = {
    "database": "database",
    "collection": "collection",
    "index": "index",
    "path": "path",
    "mode": "mode",
    "similarity": "similarity",
    "filter_fields": "filter-fields",
    "timeout": "timeout",
    "text_index": "text-index",
    "text_paths": "text-paths",
}


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register `flink-rag index` with the main CLI (sets `func`, like every command module)."""
    index = subparsers.add_parser(
        "index",
        help="create or inspect a store profile's vector index",
        description="Manage the vector index of a store profile (flink-rag.store.<name>.*).",
    )
    add_arguments(index)
    index.set_defaults(func=run)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the `create` and `status` subcommands to the `index` parser."""
    commands = parser.add_subparsers(dest="index_command", required=True, metavar="COMMAND")

    create = commands.add_parser(
        "create",
        help="create the vector index (Atlas) or its scan-mode descriptor",
        description="Create the store's vector index with its filter fields, then wait for READY.",
    )
    _profile_arguments(create)
    create.add_argument("--dimensions", type=int, required=True, help="vector length, e.g. 384")
    create.add_argument(
        "--filter-fields", help="comma-separated fields lookups may filter on, e.g. origin,date"
    )
    create.add_argument(
        "--similarity", choices=("cosine", "euclidean", "dotProduct"), help="default cosine"
    )
    create.add_argument(
        "--wait",
        type=float,
        default=DEFAULT_WAIT_S,
        metavar="SECONDS",
        help=f"wait until READY, at most this long (default {DEFAULT_WAIT_S:g}; 0 = don't wait)",
    )

    status = commands.add_parser("status", help="show the store's vector index and its state")
    _profile_arguments(status)


def run(args: argparse.Namespace) -> int:
    try:
        settings = settings_from_args(args)
        client = open_client(settings)
        try:
            collection = client[settings.database][settings.collection]
            if args.index_command == "create":
                info = create_vector_index(
                    collection,
                    settings.index,
                    settings.path,
                    args.dimensions,
                    settings.similarity,
                    settings.filter_fields,
                    mode=settings.mode,
                )
                stored = sample_dimensions(collection, settings.path)
                if stored is not None and stored != args.dimensions:
                    print(
                        f"warning: documents in {info.where} have {stored}-dimensional vectors "
                        f"at {settings.path!r}, not {args.dimensions}; lookups will skip them",
                        file=sys.stderr,
                    )
                if not info.ready and args.wait > 0:
                    print(f"waiting up to {args.wait:g} s for READY ...", file=sys.stderr)
                    info = wait_until_ready(collection, settings.index, args.wait, mode=info.mode)
                text = _create_text_index(collection, settings, info, args.wait)
            else:
                found = describe(collection, settings.index, mode=settings.mode)
                if found is None:
                    print(
                        f"vector index {settings.index!r} on "
                        f"{settings.database}.{settings.collection} does not exist; run "
                        f"`flink-rag index create --store {settings.name} --dimensions N`",
                        file=sys.stderr,
                    )
                    return 1
                info = found
                text = _text_status(collection, settings)
        finally:
            client.close()
    except FlinkRagError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except OperationFailure as err:
        errmsg = str((err.details or {}).get("errmsg", ""))[:300]
        print(f"error: MongoDB refused (code {err.code}): {errmsg}", file=sys.stderr)
        return 2
    except PyMongoError as err:
        # Driver messages may quote hosts from MONGODB_URI; print only the error type.
        print(
            f"error: cannot talk to MongoDB ({type(err).__name__}); check MONGODB_URI",
            file=sys.stderr,
        )
        return 2
    answer = info.to_dict()
    if text is not None:
        answer["text_index"] = text
    print(json.dumps(answer, sort_keys=True))
    text_ready = text is None or text.get("status") == "READY"
    return 0 if info.ready and text_ready else 1


def _create_text_index(
    collection: Any, settings: StoreSettings, info: IndexInfo, wait: float
) -> dict[str, Any] | None:
    """The store's text index, created beside the vector one when the profile declares it."""
    if not settings.text_index:
        return None
    if info.mode != ATLAS:
        raise ConfigError(
            f"store {settings.name!r} declares text index {settings.text_index!r}, but the "
            "server has no Atlas Search (scan mode); drop --text-index or use Atlas"
        )
    found = create_text_index(
        collection, settings.text_index, text_paths(settings), settings.filter_fields
    )
    if found.get("status") != "READY" and wait > 0:
        found = wait_text_index(collection, settings.text_index, wait)
    return {"name": settings.text_index, "status": found.get("status")}


def _text_status(collection: Any, settings: StoreSettings) -> dict[str, Any] | None:
    if not settings.text_index:
        return None
    found = find_search_index(collection, settings.text_index)
    return {"name": settings.text_index, "status": found.get("status") if found else "MISSING"}


def settings_from_args(
    args: argparse.Namespace, env: Mapping[str, str] | None = None
) -> StoreSettings:
    options = {
        key: str(getattr(args, attr))
        for attr, key in _PROFILE_FLAGS.items()
        if getattr(args, attr, None) is not None
    }
    return StoreSettings.from_options(args.store, options, env)


def _profile_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--store", required=True, help="store profile name, e.g. flights")
    parser.add_argument("--database", help="default: FLINK_RAG_MONGODB_DATABASE or flink_rag")
    parser.add_argument("--collection", help="default: the store name")
    parser.add_argument("--index", help="default: <store>_vector_index")
    parser.add_argument("--path", help="vector field, default: embedding")
    parser.add_argument("--mode", choices=("auto", "atlas", "scan"), help="default: auto")
    parser.add_argument(
        "--timeout", type=float, metavar="SECONDS", help="MongoDB connect timeout, default 10"
    )
    parser.add_argument(
        "--text-index", help="the store's Atlas Search index for hybrid lookups (default: none)"
    )
    parser.add_argument("--text-paths", help="comma-separated text fields, default: content")


def main(argv: list[str] | None = None) -> int:
    """Stand-alone entry: `python -m flink_rag.stores.index_cli create|status ...`."""
    parser = argparse.ArgumentParser(prog="flink-rag index")
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
