"""Offline token counting: the UTF-8 byte bound and its truncation."""

import pytest

from flink_rag.connectors.tokens import TokenCounter, truncate_utf8, utf8_bytes

pytestmark = pytest.mark.unit


def test_byte_count_is_an_upper_bound_of_tokens():
    assert utf8_bytes("abc") == 3
    assert utf8_bytes("é") == 2
    assert utf8_bytes("🙂") == 4


def test_truncation_never_splits_a_character():
    assert truncate_utf8("héllo", 2) == "h"  # 'é' needs bytes 2-3
    assert truncate_utf8("héllo", 3) == "hé"
    assert truncate_utf8("short", 100) == "short"


def test_counter_truncation_fits_its_own_count():
    counter = TokenCounter("text-embedding-3-small")
    text = "Flight UA 123 from SFO to BOS was cancelled. " * 40
    cut = counter.truncate(text, 50)
    assert counter.count(cut) <= 50
    assert text.startswith(cut)
    assert counter.count(text) > 50
