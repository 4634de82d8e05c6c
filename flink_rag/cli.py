"""The `flink-rag` command line."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    print("flink-rag", file=sys.stderr)
    return 0
