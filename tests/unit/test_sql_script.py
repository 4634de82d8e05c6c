"""`flink-rag sql-script` renders every bundled pipeline, ingestion included, with no
placeholder left for the stock SQL client, and refuses a topic the file does not have."""

from __future__ import annotations

import re

import pytest

from flink_rag import sql_script
from flink_rag.cli import main
from flink_rag.connectors.errors import FlinkRagError

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("pipeline", list(sql_script.PIPELINES))
def test_every_pipeline_renders_with_no_placeholder_left(pipeline):
    script = sql_script.render(pipeline, "kafka:29092")
    assert "${" not in script
    assert "CREATE TEMPORARY SYSTEM FUNCTION IF NOT EXISTS EMBED" in script
    assert "'kafka:29092'" in script


def test_ingest_documents_topics_can_be_renamed():
    script = sql_script.render("ingest-documents", "k:9", topics={"DOCS_TOPIC": "my_docs"})
    assert "'my_docs'" in script and not re.search(r"'topic'\s*=\s*'docs'", script)
    assert "docs_vectors" in script


def test_a_topic_the_file_does_not_have_is_refused_with_the_known_ones():
    with pytest.raises(FlinkRagError, match=r"no topic EVENT_TOPIC.*DOCS_TOPIC"):
        sql_script.render("ingest-documents", "k:9", topics={"EVENT_TOPIC": "x"})


def test_cli_writes_an_ingestion_script(tmp_path, capsys):
    out = tmp_path / "policies.sql"
    args = ["sql-script", "ingest-policies", "--bootstrap", "k:9", "-o", str(out)]
    assert main(args) == 0
    text = out.read_text()
    assert "policies_vectors" in text and "${" not in text


def test_cli_refuses_a_malformed_topic(capsys):
    with pytest.raises(SystemExit):
        main(["sql-script", "ingest-flights", "--bootstrap", "k:9", "--topic", "FLIGHT_TOPIC"])
    assert "NAME_TOPIC=topic" in capsys.readouterr().err
