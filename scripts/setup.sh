#!/usr/bin/env bash
# Sets up everything flink-rag needs on a fresh machine, idempotently:
#   .venv/ (Python 3.11, pinned by constraints.txt), the llama-cpp-python wheel (built from
#   source once per machine and kept in a wheelhouse), and the JVM jars from jars/pom.xml
#   (checked against jars/checksums.sha256).
# Each failure prints one line saying what is wrong and how to fix it.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

LLAMA_VERSION="0.3.36"
WHEELHOUSE="${FLINK_RAG_WHEELHOUSE:-${XDG_CACHE_HOME:-$HOME/.cache}/flink-rag/wheels}"
VENV="$ROOT/.venv"
STAMP="$VENV/.flink-rag-setup"

say() { printf 'setup: %s\n' "$*"; }
fail() { printf 'setup: error: %s\n' "$*" >&2; exit 1; }

# --- prerequisites -----------------------------------------------------------------------
PYTHON="${PYTHON:-}"
if [ -z "$PYTHON" ]; then
  for candidate in python3.11 python3; do
    if command -v "$candidate" >/dev/null 2>&1 &&
       "$candidate" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' 2>/dev/null; then
      PYTHON="$candidate"; break
    fi
  done
fi
[ -n "$PYTHON" ] || fail "Python 3.11 not found; install it (PyFlink 2.3 supports 3.9-3.12; this project pins 3.11) or set PYTHON=/path/to/python3.11"
command -v java >/dev/null 2>&1 || fail "java not found; install a JDK 17 (e.g. apt-get install openjdk-17-jdk-headless)"
JAVA_MAJOR="$(java -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -n1)"
[ "${JAVA_MAJOR:-0}" -ge 17 ] 2>/dev/null || fail "java ${JAVA_MAJOR:-?} found, Flink 2.3 needs Java 17+; install a JDK 17 and put it first on PATH"
command -v mvn >/dev/null 2>&1 || fail "mvn not found; install Maven 3.8+ (apt-get install maven): it fetches the jars in jars/pom.xml"

# --- llama-cpp-python wheel: built from source once per machine (~9 min on 2 cores) ------
mkdir -p "$WHEELHOUSE"
if ! ls "$WHEELHOUSE"/llama_cpp_python-"$LLAMA_VERSION"-*.whl >/dev/null 2>&1; then
  for tool in cc c++ cmake; do
    command -v "$tool" >/dev/null 2>&1 || fail "$tool not found; install gcc, g++ and cmake (apt-get install build-essential cmake): llama-cpp-python builds from source"
  done
  say "building llama-cpp-python $LLAMA_VERSION from source into $WHEELHOUSE (once per machine, ~9 min on 2 cores)"
  "$PYTHON" -m pip wheel --quiet --no-deps -w "$WHEELHOUSE" "llama-cpp-python==$LLAMA_VERSION" \
    || fail "building llama-cpp-python failed; see the pip output above (needs gcc/g++/cmake)"
fi

# --- virtualenv + packages -----------------------------------------------------------------
if [ ! -x "$VENV/bin/python" ]; then
  say "creating $VENV"
  "$PYTHON" -m venv "$VENV" || fail "could not create .venv with $PYTHON (on Debian: apt-get install python3.11-venv)"
fi
want="$(cat pyproject.toml constraints.txt | sha256sum | cut -d' ' -f1)"
if [ "$(cat "$STAMP" 2>/dev/null)" != "$want" ]; then
  say "installing Python packages into .venv (pinned by constraints.txt; the first run downloads ~4 GB, .venv ends up ~7 GB)"
  log="$VENV/pip-install.log"
  { "$VENV/bin/python" -m pip install --upgrade "pip>=24" wheel "setuptools>=77" &&
    "$VENV/bin/python" -m pip install --find-links "$WHEELHOUSE" -c constraints.txt \
      -e ".[local,dev]"; } >"$log" 2>&1 \
    || { tail -n 15 "$log" >&2; fail "pip install failed; see $log (the lines above are its end)"; }
  echo "$want" > "$STAMP"
fi

# --- JVM jars ------------------------------------------------------------------------------
# Fetched jars must match jars/checksums.sha256; the MongoDB stand-in's launcher is built here
# from jars/mongo/src (its bytes depend on the JDK), so it is only checked for presence.
verify_jars() {
  (cd jars/lib 2>/dev/null && sha256sum --quiet --status -c ../checksums.sha256) &&
    ls jars/lib/mongo/flink-rag-mongo-stand-in-*.jar >/dev/null 2>&1
}
if ! verify_jars; then
  say "fetching jars with Maven (jars/pom.xml, checksums enforced)"
  rm -rf jars/lib
  mvn -B -q -C -f jars/pom.xml package >"$ROOT/jars/maven.log" 2>&1 \
    || fail "Maven could not fetch or build the jars; see jars/maven.log (needs Maven Central and a JDK with javac)"
  verify_jars || fail "a jar in jars/lib does not match jars/checksums.sha256; delete jars/lib and ~/.m2/repository entries it names, then run 'make setup' again"
fi
say "ready: .venv, jars/lib ($(find jars/lib -name '*.jar' | wc -l) jars)"
