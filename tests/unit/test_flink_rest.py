"""The one Flink REST helper: JSON back, and every failure (refused, HTTP error, slow) a
FlinkRagError that says where to look."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from flink_rag.connectors.errors import FlinkRagError
from flink_rag.jobs.rest import flink_rest

pytestmark = pytest.mark.unit


class Handler(BaseHTTPRequestHandler):
    def _answer(self) -> None:
        if self.path == "/slow":
            time.sleep(2.0)
        status, body = {
            "/jobs/overview": (200, json.dumps({"jobs": [{"jid": "a"}]}).encode()),
            "/empty": (202, b""),
        }.get(self.path, (404, b'{"errors": ["Not found"]}'))
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_PATCH = _answer

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def rest_url():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_json_and_empty_bodies(rest_url):
    assert flink_rest(rest_url, "/jobs/overview") == {"jobs": [{"jid": "a"}]}
    assert flink_rest(rest_url, "/empty", method="PATCH") == {}


def test_an_http_error_names_the_call_and_the_fix(rest_url):
    with pytest.raises(FlinkRagError, match=r"GET /nope at http://127.0.0.1:\d+ failed.*404"):
        flink_rest(rest_url, "/nope")


def test_a_slow_cluster_is_an_error_not_a_hang(rest_url):
    with pytest.raises(FlinkRagError, match="flink-rag local status"):
        flink_rest(rest_url, "/slow", timeout_s=0.3)


def test_nobody_listening():
    with pytest.raises(FlinkRagError, match="is the cluster up"):
        flink_rest("http://127.0.0.1:9", "/overview", timeout_s=1.0)
