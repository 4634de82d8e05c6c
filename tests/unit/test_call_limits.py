"""The call policy's defaults keep a row's outage wait below Flink's checkpoint timeout."""

from __future__ import annotations

import pytest

from flink_rag.connectors.call_limits import FLINK_CHECKPOINT_TIMEOUT_S, row_deadline_s
from flink_rag.connectors.settings import EmbedSettings, LlmSettings, StoreSettings

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    "settings",
    [
        LlmSettings.from_options({}, env={}),
        EmbedSettings.from_options({}, env={}),
        StoreSettings.from_options("docs", {}, {"MONGODB_URI": "mongodb://127.0.0.1:1"}),
    ],
    ids=["llm", "embed", "store"],
)
def test_a_rows_default_outage_deadline_is_below_the_checkpoint_timeout(settings):
    deadline = row_deadline_s(settings.outage_wait_s, settings.timeout_s)
    assert settings.outage_wait_s > 0  # jobs wait out outages by default
    assert deadline < FLINK_CHECKPOINT_TIMEOUT_S / 2
