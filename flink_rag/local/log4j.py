"""Log4j settings that keep secrets out of Flink's logs.

When a Python worker's environment closes, Beam's `DefaultJobBundleFactory` logs the whole
process-environment payload (at INFO, and at WARN on a racing shutdown): every
environment variable of the worker, including
OPENAI_API_KEY or a MONGODB_URI with a password. That logger is switched off in every log4j
configuration this project writes or starts: the mini-cluster's (via PyFlink's
`LOG4J_PROPERTIES`), the local session cluster's conf dir, and a Docker image's conf dir

    python -m flink_rag.local.log4j /opt/flink/conf

A user's own PyFlink program gets the same through register() and configure(), which set the
level in its running JVM (flink_rag.udfs.quiet_logs). The file form of secrets
(OPENAI_API_KEY_FILE, MONGODB_URI_FILE, a connection's secret-file) keeps the value out of the
environment in the first place; this covers the env form too.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

from flink_rag.udfs.quiet_logs import QUIET_LOGGERS

MARKER = "# flink-rag: keep secrets out of the logs"
CLI_PROPERTIES = "log4j-cli.properties"


def quieted(text: str) -> str:
    """`text` (a log4j2 properties file) with the QUIET_LOGGERS appended, once."""
    if MARKER in text:
        return text
    lines = [text.rstrip("\n"), "", MARKER]
    for i, (name, level) in enumerate(QUIET_LOGGERS.items()):
        lines += [f"logger.flinkrag{i}.name = {name}", f"logger.flinkrag{i}.level = {level}"]
    return "\n".join(lines) + "\n"


def quiet_dir(conf_dir: Path) -> list[Path]:
    """Quiet every log4j*.properties in `conf_dir` in place; returns the files changed."""
    changed = []
    for path in sorted(conf_dir.glob("log4j*.properties")):
        text = path.read_text(encoding="utf-8")
        new = quieted(text)
        if new != text:
            path.write_text(new, encoding="utf-8")
            changed.append(path)
    return changed


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "flink-rag" / "log4j"


def mini_cluster_properties() -> Path:
    """A quieted copy of PyFlink's log4j-cli.properties (the mini-cluster's log config)."""
    spec = importlib.util.find_spec("pyflink")
    if spec is None or spec.origin is None:
        raise RuntimeError("pyflink is not installed: run `make setup`")
    source = Path(spec.origin).parent / "conf" / CLI_PROPERTIES
    target = cache_dir() / CLI_PROPERTIES
    text = quieted(source.read_text(encoding="utf-8"))
    if not target.is_file() or target.read_text(encoding="utf-8") != text:
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(target)
    return target


def use_quiet_mini_cluster_logs() -> None:
    """Point the next PyFlink gateway (mini-cluster) at the quieted log config."""
    os.environ.setdefault("LOG4J_PROPERTIES", str(mini_cluster_properties()))


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print("usage: python -m flink_rag.local.log4j FLINK_CONF_DIR", file=sys.stderr)
        sys.exit(2)
    for changed in quiet_dir(Path(sys.argv[1])):
        print(f"quieted {changed}")
