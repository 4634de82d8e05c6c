"""`flink-rag connections check`: what resolves, where each secret lives, never the secret."""

from __future__ import annotations

import pytest

from flink_rag.cli import main

pytestmark = pytest.mark.unit

KEY = "sk-MARKER-cli-0b7e"
URI = "mongodb+srv://app:pw-MARKER-cli@cluster0.example.net/"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    for name in ("OPENAI_API_KEY", "OPENAI_API_KEY_FILE", "MONGODB_URI", "MONGODB_URI_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("FLINK_RAG_CONNECTIONS", raising=False)


def check(capsys) -> tuple[int, str]:
    code = main(["connections", "check"])
    out = capsys.readouterr()
    return code, out.out + out.err


def test_the_environment_alone_is_the_default_connections(capsys, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    monkeypatch.setenv("MONGODB_URI", URI)
    code, out = check(capsys)
    assert code == 0
    assert "default [openai] https://api.openai.com/v1" in out
    assert f"ok, secret set ({len(KEY)} chars)" in out and f"({len(URI)} chars)" in out
    assert "MARKER" not in out


def test_a_file_with_a_missing_secret_is_reported_and_fails(capsys, monkeypatch, tmp_path):
    key_file = tmp_path / "key"
    key_file.write_text(KEY)
    path = tmp_path / "c.toml"
    path.write_text(
        f'[connections.prod]\nkind = "openai"\nendpoint = "https://gw.example/v1"\n'
        f'secret-file = "{key_file}"\nrpm = 60\ntpm = 1000\ntokens-per-day = 90000\n\n'
        '[connections.atlas]\nkind = "mongodb"\nsecret-env = "ATLAS_URI"\n'
    )
    monkeypatch.setenv("FLINK_RAG_CONNECTIONS", str(path))
    code, out = check(capsys)
    assert code == 1
    assert f"connections from {path}" in out
    assert "prod [openai] https://gw.example/v1" in out
    assert "limits: rpm 60, tpm 1000, tokens-per-day 90000" in out
    assert "env var ATLAS_URI: BROKEN: env var ATLAS_URI is not set" in out
    assert "1 connection(s) do not resolve" in out
    monkeypatch.setenv("ATLAS_URI", URI)
    code, out = check(capsys)
    assert code == 0 and "MARKER" not in out


def test_a_broken_file_exits_2_naming_the_field_and_not_the_value(capsys, monkeypatch, tmp_path):
    path = tmp_path / "c.toml"
    path.write_text(f'[connections.prod]\nkind = "openai"\nendpoint = "https://u:{KEY}@h/v1"\n')
    monkeypatch.setenv("FLINK_RAG_CONNECTIONS", str(path))
    code, out = check(capsys)
    assert code == 2
    assert "connections.prod.endpoint" in out and "MARKER" not in out
