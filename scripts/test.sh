#!/usr/bin/env bash
# Runs the checks and every test tier but `live` (unit, flink, integration); the live tier
# runs only with OPENAI_API_KEY / MONGODB_URI set: `.venv/bin/pytest -m live`.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export PATH="$ROOT/.venv/bin:$PATH"

echo "== lint (ruff) and types (mypy)"
ruff check .
ruff format --check .
mypy

echo "== tests: unit, flink, integration (live tier excluded)"
# The local stack is started once by the session fixture and stopped at the end.
pytest -m "not live" "$@"
