"""The stand-in's JVM command: SIMD vector code for Lucene only where the runtime has it."""

from __future__ import annotations

import pytest

from flink_rag.local import mongo as mongo_module
from flink_rag.local import prereqs
from flink_rag.local.config import LocalConfig
from flink_rag.local.mongo import MongoStandIn
from flink_rag.local.state import StateDir


@pytest.mark.parametrize(("major", "simd"), [(17, False), (20, False), (21, True), (25, True)])
def test_vector_api_flags_only_on_java_21_and_newer(tmp_path, monkeypatch, major, simd):
    monkeypatch.setattr(prereqs, "java_executable", lambda: "/opt/jdk/bin/java")
    monkeypatch.setattr(prereqs, "java_major_version", lambda java: major)
    stand_in = MongoStandIn(LocalConfig(home=tmp_path, mongo_port=27999), StateDir(tmp_path))
    command = list(stand_in.command())
    assert command[0] == "/opt/jdk/bin/java"
    # Java 17 refuses an unknown module, so the flags must be absent there, not just harmless.
    assert ("--add-modules=jdk.incubator.vector" in command) is simd
    assert (mongo_module.VECTOR_API_OPTS[1] in command) is simd
    main = command.index(mongo_module.MAIN_CLASS)
    assert command[main + 1 :] == [str(stand_in.data_file), stand_in.config.host, "27999"]
    assert all(opt in command[:main] for opt in mongo_module.JVM_OPTS)
