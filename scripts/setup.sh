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

# --- what runs, and in what order --------------------------------------------------------
# The slow steps do not depend on each other: the llama.cpp build (CPU, minutes), the Python
# packages (mostly download), the jars (Maven) and toxiproxy (Go). They run side by side; a
# ticker says every 20 s what is still running and how far the llama.cpp build is. Each step
# keeps its own log; a failed step prints its last lines and one line saying what to do.
SETUP_T0=$SECONDS
WORK="$(mktemp -d "${TMPDIR:-/tmp}/flink-rag-setup.XXXXXX")"
declare -A JOB_PID=() JOB_T0=()
cleanup() {
  local pid
  for pid in "${JOB_PID[@]}"; do pkill -TERM -P "$pid" 2>/dev/null; kill "$pid" 2>/dev/null; done
  rm -rf "$WORK"
}
trap cleanup EXIT
start_job() {  # start_job NAME FUNCTION: runs FUNCTION in the background, output in $WORK/NAME
  local name=$1 fn=$2
  say "started: $name"
  ( "$fn" ) >"$WORK/$name.out" 2>&1 &
  JOB_PID[$name]=$!
  JOB_T0[$name]=$SECONDS
}
llama_progress() {  # "[412/530]" from the build's ninja/make output, if it got that far
  grep -o '^ *\[ *[0-9]*/[0-9]*\]' "$WHEELHOUSE/llama-build.log" 2>/dev/null | tail -n1 | tr -d ' ' || true
}
finish_job() {  # finish_job NAME: wait for it, printing what still runs every 20 s
  local name=$1 pid=${JOB_PID[$1]} rc=0 tick=0 running n
  while kill -0 "$pid" 2>/dev/null; do
    sleep 1; tick=$((tick + 1))
    if [ $((tick % 20)) -eq 0 ]; then
      running=""
      for n in "${!JOB_PID[@]}"; do
        kill -0 "${JOB_PID[$n]}" 2>/dev/null || continue
        running+=" $n ($((SECONDS - JOB_T0[$n])) s"
        [ "$n" = "llama.cpp build" ] && [ -n "$(llama_progress)" ] && running+=", step $(llama_progress)"
        running+=")"
      done
      say "still running:$running; $((SECONDS - SETUP_T0)) s so far"
    fi
  done
  wait "$pid" || rc=$?
  unset "JOB_PID[$name]"
  cat "$WORK/$name.out"
  [ "$rc" -eq 0 ] || exit "$rc"
  say "done: $name in $((SECONDS - JOB_T0[$name])) s"
}

# --- llama-cpp-python wheel: built from source once per build key (~4-8 min on 2 cores) ----
# llama.cpp's default CMake build is native (-march=native): a wheel built on a CPU with AMX or
# AVX-512 dies with SIGSEGV/SIGILL on one without, and machines change CPU model. So the build
# targets a baseline every x86-64 server of the last decade has (AVX2, FMA, F16C), with every
# newer instruction set off, and the wheelhouse folder is named by a hash of version + flags:
# a wheel built with other flags (such as an old native one) is never picked up. pip's own
# wheel cache ignores CMAKE_ARGS, hence --no-cache-dir for this build. LLAVA_BUILD=OFF: the
# multimodal library (mtmd/clip) is loaded only by image chat handlers, which the server never
# uses here; skipping it leaves only libllama and ggml to compile.
LLAMA_CMAKE_ARGS="${FLINK_RAG_LLAMA_CMAKE_ARGS:--DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_AVX512=OFF -DGGML_AVX512_VBMI=OFF -DGGML_AVX512_VNNI=OFF -DGGML_AVX512_BF16=OFF -DGGML_AVX_VNNI=OFF -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF -DLLAVA_BUILD=OFF}"
LLAMA_KEY="$(printf '%s\n%s\n' "$LLAMA_VERSION" "$LLAMA_CMAKE_ARGS" | sha256sum | cut -c1-16)"
LLAMA_DIR="$WHEELHOUSE/llama-cpp-python-$LLAMA_VERSION-$LLAMA_KEY"
llama_wheel() { ls "$LLAMA_DIR"/llama_cpp_python-"$LLAMA_VERSION"-*.whl 2>/dev/null | head -n1; }
build_llama() {
  say "building llama-cpp-python $LLAMA_VERSION from source into $LLAMA_DIR (once per machine and flags; flags: $LLAMA_CMAKE_ARGS)"
  rm -rf "$LLAMA_DIR.tmp" && mkdir -p "$LLAMA_DIR.tmp"
  local build_log="$WHEELHOUSE/llama-build.log"
  CMAKE_ARGS="$LLAMA_CMAKE_ARGS" CMAKE_BUILD_PARALLEL_LEVEL="$(nproc 2>/dev/null || echo 2)" \
    "$PYTHON" -m pip wheel -v --no-cache-dir --no-deps -w "$LLAMA_DIR.tmp" "llama-cpp-python==$LLAMA_VERSION" \
    >"$build_log" 2>&1 \
    || { tail -n 15 "$build_log"; fail "building llama-cpp-python failed; see $build_log (needs gcc/g++/cmake)"; }
  printf 'version=%s\ncmake_args=%s\n' "$LLAMA_VERSION" "$LLAMA_CMAKE_ARGS" > "$LLAMA_DIR.tmp/BUILD_FLAGS"
  rm -rf "$LLAMA_DIR" && mv "$LLAMA_DIR.tmp" "$LLAMA_DIR"
}
if [ -z "$(llama_wheel)" ]; then
  for tool in cc c++ cmake; do
    command -v "$tool" >/dev/null 2>&1 || fail "$tool not found; install gcc, g++ and cmake (apt-get install build-essential cmake): llama-cpp-python builds from source"
  done
  mkdir -p "$WHEELHOUSE"
  start_job "llama.cpp build" build_llama
fi

# --- JVM jars ------------------------------------------------------------------------------
# Fetched jars must match jars/checksums.sha256; the MongoDB stand-in's launcher is built here
# from jars/mongo/src (its bytes depend on the JDK), so it is only checked for presence.
# The stand-in is rebuilt when its sources change: a checkout that pulls new Java code must not
# keep running the jar built from the old code.
STAND_IN_KEY="$(cat jars/pom.xml jars/mongo/pom.xml $(find jars/mongo/src -type f | sort) | sha256sum | cut -c1-16)"
verify_jars() {
  (cd jars/lib 2>/dev/null && sha256sum --quiet --status -c ../checksums.sha256) &&
    ls jars/lib/mongo/flink-rag-mongo-stand-in-*.jar >/dev/null 2>&1 &&
    [ "$(cat jars/lib/mongo/.source-key 2>/dev/null)" = "$STAND_IN_KEY" ]
}
fetch_jars() {
  say "fetching jars with Maven (jars/pom.xml, checksums enforced; log: jars/maven.log)"
  rm -rf jars/lib
  mvn -B -q -C -f jars/pom.xml package >"$ROOT/jars/maven.log" 2>&1 \
    || fail "Maven could not fetch or build the jars; see jars/maven.log (needs Maven Central and a JDK with javac)"
  echo "$STAND_IN_KEY" > jars/lib/mongo/.source-key
  verify_jars || fail "a jar in jars/lib does not match jars/checksums.sha256; delete jars/lib and ~/.m2/repository entries it names, then run 'make setup' again"
}
verify_jars || start_job "jars" fetch_jars

# --- toxiproxy (fault tests: outages, latency and resets between real parts) ---------------
# Built from the Go module proxy once per version into the shared cache, then copied into
# .venv/bin. Pinned rather than @latest so that every machine runs the same fault injector.
TOXIPROXY_VERSION="v2.5.0"
TOXIPROXY_DIR="${FLINK_RAG_CACHE_ROOT:-${XDG_CACHE_HOME:-$HOME/.cache}/flink-rag}/toxiproxy-$TOXIPROXY_VERSION"
build_toxiproxy() {
  say "building toxiproxy $TOXIPROXY_VERSION into $TOXIPROXY_DIR (once per machine)"
  rm -rf "$TOXIPROXY_DIR.tmp" && mkdir -p "$TOXIPROXY_DIR.tmp"
  GOBIN="$TOXIPROXY_DIR.tmp" go install "github.com/Shopify/toxiproxy/v2/cmd/server@$TOXIPROXY_VERSION" \
    >"$TOXIPROXY_DIR.tmp/build.log" 2>&1 \
    || { tail -n 15 "$TOXIPROXY_DIR.tmp/build.log"; fail "building toxiproxy failed; see $TOXIPROXY_DIR.tmp/build.log (needs the Go module proxy)"; }
  rm -rf "$TOXIPROXY_DIR" && mv "$TOXIPROXY_DIR.tmp" "$TOXIPROXY_DIR"
}
if [ ! -x "$TOXIPROXY_DIR/server" ]; then
  command -v go >/dev/null 2>&1 || fail "go not found; install Go 1.22+ (apt-get install golang, or go.dev/dl): setup builds toxiproxy $TOXIPROXY_VERSION for the fault tests"
  start_job "toxiproxy build" build_toxiproxy
fi

# --- virtualenv + packages ------------------------------------------------------------------
if [ ! -x "$VENV/bin/python" ]; then
  say "creating $VENV"
  "$PYTHON" -m venv "$VENV" || fail "could not create .venv with $PYTHON (on Debian: apt-get install python3.11-venv)"
fi
want="$(cat pyproject.toml bench/pyproject.toml constraints.txt | sha256sum | cut -d' ' -f1)"
LLAMA_STAMP="$VENV/.flink-rag-llama"
log="$VENV/pip-install.log"
install_pinned() {
  # constraints.txt is the whole pinned closure of .[local,dev] and bench: every package in it
  # but llama-cpp-python installs now, without resolving, while llama.cpp builds; the resolving
  # install of the project comes after the wheel exists and only adds what is missing.
  # The freeze was taken on Linux x86-64 (it names CUDA wheels torch needs there); elsewhere
  # the resolving install alone runs, after the build.
  if [ "$(uname -sm)" != "Linux x86_64" ]; then
    "$VENV/bin/python" -m pip install --upgrade "pip>=24" wheel "setuptools>=77" >"$log" 2>&1 \
      || fail "pip could not upgrade itself; see $log"
    return 0
  fi
  say "installing the pinned Python packages into .venv (constraints.txt; the first run downloads ~4 GB, .venv ends up ~7 GB; log: .venv/pip-install.log)"
  grep -v -i -E '^llama[-_]cpp[-_]python==' constraints.txt > "$WORK/pinned.txt"
  { "$VENV/bin/python" -m pip install --upgrade "pip>=24" wheel "setuptools>=77" &&
    "$VENV/bin/python" -m pip install --no-deps -r "$WORK/pinned.txt"; } >"$log" 2>&1 \
    || { tail -n 15 "$log"; fail "pip install failed; see $log (the lines above are its end)"; }
}
PACKAGES_DONE=0
if [ "$(cat "$STAMP" 2>/dev/null)" != "$want" ]; then
  start_job "python packages" install_pinned
  PACKAGES_DONE=1
fi

[ -z "${JOB_PID[python packages]:-}" ] || finish_job "python packages"
[ -z "${JOB_PID[toxiproxy build]:-}" ] || finish_job "toxiproxy build"
if [ ! -x "$VENV/bin/toxiproxy-server" ] ||
   [ "$(cat "$VENV/.flink-rag-toxiproxy" 2>/dev/null)" != "$TOXIPROXY_VERSION" ]; then
  cp "$TOXIPROXY_DIR/server" "$VENV/bin/toxiproxy-server"
  echo "$TOXIPROXY_VERSION" > "$VENV/.flink-rag-toxiproxy"
fi
[ -z "${JOB_PID[jars]:-}" ] || finish_job "jars"
[ -z "${JOB_PID[llama.cpp build]:-}" ] || finish_job "llama.cpp build"
LLAMA_WHEEL="$(llama_wheel)"
[ -n "$LLAMA_WHEEL" ] || fail "no llama-cpp-python wheel in $LLAMA_DIR after the build; delete that folder and run 'make setup' again"

if [ "$PACKAGES_DONE" = 1 ]; then
  say "installing flink-rag (editable) and llama-cpp-python"
  "$VENV/bin/python" -m pip install --find-links "$LLAMA_DIR" -c constraints.txt \
    -e ".[local,dev]" -e ./bench >>"$log" 2>&1 \
    || { tail -n 15 "$log" >&2; fail "pip install failed; see $log (the lines above are its end)"; }
  echo "$want" > "$STAMP"
fi
# The venv may hold a llama-cpp-python of the same version built with other flags (an older
# setup's native wheel): the stamp names the wheel that is installed, else it is replaced.
if [ "$(cat "$LLAMA_STAMP" 2>/dev/null)" != "$LLAMA_WHEEL" ]; then
  say "installing $(basename "$LLAMA_WHEEL") (build $LLAMA_KEY)"
  "$VENV/bin/python" -m pip install --quiet --no-deps --force-reinstall --no-cache-dir "$LLAMA_WHEEL" \
    >>"$VENV/pip-install.log" 2>&1 || fail "installing $LLAMA_WHEEL failed; see $VENV/pip-install.log"
  rm -f "$VENV/.flink-rag-llama-ok"
  echo "$LLAMA_WHEEL" > "$LLAMA_STAMP"
fi
# Prove the build on this CPU: load the model in a child process and ask for one token. A crash
# (SIGILL/SIGSEGV from instructions this CPU lacks) is one line naming signal, CPU and the fix.
# Checked once per (wheel, CPU model): the CPU changes between machines, the check is ~2 s.
cpu_key="$(printf '%s %s' "$LLAMA_WHEEL" "$(grep -m1 'model name' /proc/cpuinfo 2>/dev/null)" | sha256sum | cut -c1-16)"
if [ "$(cat "$VENV/.flink-rag-llama-ok" 2>/dev/null)" != "$cpu_key" ]; then
  "$VENV/bin/python" -m flink_rag.local.llm_check --wheel-dir "$LLAMA_DIR" \
    || fail "the local LLM does not run on this machine (see the line above)"
  echo "$cpu_key" > "$VENV/.flink-rag-llama-ok"
fi

say "ready in $((SECONDS - SETUP_T0)) s: .venv, jars/lib ($(find jars/lib -name '*.jar' | wc -l) jars)"
