"""The Flink REST API, for the few calls the job runners and the fault scenario need."""

from __future__ import annotations

from typing import Any

import requests

from flink_rag.connectors.errors import FlinkRagError

REST_TIMEOUT_S = 10.0


def flink_rest(
    rest_url: str, path: str, method: str = "GET", timeout_s: float = REST_TIMEOUT_S
) -> Any:
    """The JSON body of `method path` on the cluster at `rest_url` ({} when empty); any
    failure, an HTTP error included, is a FlinkRagError that says where to look."""
    try:
        response = requests.request(method, f"{rest_url}{path}", timeout=timeout_s)
        response.raise_for_status()
    except requests.RequestException as err:
        raise FlinkRagError(
            f"Flink REST {method} {path} at {rest_url} failed ({err}); is the cluster up? "
            "`flink-rag local status`"
        ) from err
    return response.json() if response.content else {}
