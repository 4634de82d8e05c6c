"""Prerequisite checks; each failure is one line that says how to fix it."""

from __future__ import annotations

import functools
import importlib.util
import os
import re
import shutil
import subprocess
import zipfile
from pathlib import Path

from flink_rag.local.errors import PrerequisiteError

MIN_JAVA = 17
SETUP_HINT = "run `make setup`"


def java_executable() -> str:
    """`$JAVA_HOME/bin/java` if set, else `java` on PATH."""
    java_home = os.environ.get("JAVA_HOME")
    if java_home and (Path(java_home) / "bin" / "java").exists():
        return str(Path(java_home) / "bin" / "java")
    found = shutil.which("java")
    if not found:
        raise PrerequisiteError(f"java not found: install Java {MIN_JAVA}+ and put it on PATH")
    return found


@functools.cache
def java_major_version(java: str) -> int:
    try:
        out = subprocess.run(
            [java, "-version"], capture_output=True, text=True, timeout=30, check=False
        ).stderr
    except (OSError, subprocess.TimeoutExpired) as err:
        raise PrerequisiteError(f"cannot run {java} -version ({err}); reinstall Java") from err
    match = re.search(r'version "(\d+)(?:\.(\d+))?', out)
    if not match:
        raise PrerequisiteError(f"cannot read the Java version from `{java} -version`")
    major = int(match.group(1))
    # Java 8 and older report "1.8".
    return int(match.group(2) or 0) if major == 1 else major


def check_java() -> str:
    java = java_executable()
    major = java_major_version(java)
    if major < MIN_JAVA:
        raise PrerequisiteError(
            f"Java {major} found at {java}, Java {MIN_JAVA}+ needed: install it or set JAVA_HOME"
        )
    return java


def check_jars(jar_dir: Path, required: tuple[str, ...] = ()) -> list[Path]:
    """All jars in `jar_dir` open as zip files and each `required` name prefix is present."""
    jars = sorted(jar_dir.glob("*.jar"))
    if not jars:
        raise PrerequisiteError(f"no jars in {jar_dir}: {SETUP_HINT}")
    for prefix in required:
        if not any(j.name.startswith(prefix) for j in jars):
            raise PrerequisiteError(f"{prefix}*.jar missing from {jar_dir}: {SETUP_HINT}")
    for jar in jars:
        _check_zip(jar)
    return jars


@functools.cache
def _check_zip_cached(path: str, mtime_ns: int, size: int) -> None:
    try:
        # Reading the central directory catches truncated and non-zip files cheaply.
        with zipfile.ZipFile(path) as zf:
            if not zf.namelist():
                raise zipfile.BadZipFile("empty archive")
    except (zipfile.BadZipFile, OSError) as err:
        raise PrerequisiteError(f"corrupt jar {path} ({err}): {SETUP_HINT}") from err


def _check_zip(jar: Path) -> None:
    stat = jar.stat()
    _check_zip_cached(str(jar), stat.st_mtime_ns, stat.st_size)


def check_module(module: str, hint: str) -> None:
    try:
        found = importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        found = False
    if not found:
        raise PrerequisiteError(f"Python module {module} is not importable: {hint}")
