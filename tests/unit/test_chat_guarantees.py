"""ChatClient guarantees a production user relies on: one row's schema cannot change how the
worker talks to the server, no row waits on a lock held across a network call, a cut answer is
reported, and neither row text nor a URL's password reaches logs or row errors."""

from __future__ import annotations

import logging
import threading

import openai
import pytest
from test_openai_chat import SCHEMA, FakeSdk, status_error

from flink_rag.connectors.metrics import RecordingMetrics
from flink_rag.connectors.openai_chat import ChatClient, ChatRequest
from flink_rag.connectors.openai_http import provider_error, redact, safe_url
from flink_rag.connectors.settings import LlmSettings

pytestmark = pytest.mark.unit

ODD_SCHEMA = {**SCHEMA, "title": "odd", "properties": {"flight_id": {"type": "string"}}}


def client(sdk, **changes):
    return ChatClient(LlmSettings().model_copy(update=changes), RecordingMetrics(), client=sdk)


class StrictProvider(FakeSdk):
    """Has json_schema, but rejects one schema (titled 'odd') as OpenAI does: 400 naming it."""

    def create(self, **body):
        fmt = body.get("response_format") or {}
        if fmt.get("type") == "json_schema" and fmt["json_schema"]["name"] == "odd":
            with self.lock:
                self.bodies.append(body)
            raise status_error(400, "Invalid schema for response_format 'odd': bad 'pattern'")
        return super().create(**body)


def test_one_rejected_row_schema_does_not_downgrade_the_worker():
    sdk = StrictProvider(answers={"a": '{"flight_id": "UA1"}', "b": '{"flight_id": "UA2"}'})
    with client(sdk) as chat:
        odd = chat.complete("a", schema=ODD_SCHEMA)
        later = chat.complete_many([ChatRequest(p, None, SCHEMA) for p in ("a", "b")])
    assert odd.text is None and "rejected this row's json_schema" in odd.error
    assert [r.error for r in later] == [None, None]
    assert chat._style == "json_schema"
    # every later row still goes out as json_schema
    assert [b["response_format"]["type"] for b in sdk.bodies[-2:]] == ["json_schema"] * 2


def test_no_row_waits_behind_a_probe_holding_a_lock():
    """While the probe hangs on the network, another row must be able to take the style lock."""
    entered, release = threading.Event(), threading.Event()

    class Hanging(FakeSdk):
        def create(self, **body):
            if not entered.is_set():
                entered.set()
                release.wait(10)
                raise openai.APIConnectionError(request=None)  # type: ignore[arg-type]
            return super().create(**body)

    sdk = Hanging(answers={"a": '{"flight_id": "UA1"}'})
    with client(sdk, timeout_s=5.0) as chat:
        prober = threading.Thread(target=lambda: chat.complete("a", schema=SCHEMA))
        prober.start()
        assert entered.wait(10), "the probe never reached the server"
        got_lock = chat._style_lock.acquire(timeout=2)
        if got_lock:
            chat._style_lock.release()
        release.set()
        prober.join(20)
    assert got_lock, "the probe held the style lock across its network call"


def _cut(text):
    class Cut(FakeSdk):
        def create(self, **body):
            response = super().create(**body)
            response.choices[0].finish_reason = "length"
            return response

    return Cut(answers={"q": text})


def test_a_cut_answer_is_an_error_for_json_even_when_it_parses():
    with client(_cut('{"flight_id": "UA1"}'), max_tokens=5) as chat:
        result = chat.complete("q", schema=SCHEMA)
    assert result.finish_reason == "length"
    assert "cut at 5 tokens" in result.error and "max-tokens" in result.error


def test_a_cut_plain_answer_keeps_its_text_and_says_it_was_cut():
    with client(_cut("The best flight is"), max_tokens=5) as chat:
        result = chat.complete("q")
    assert (result.text, result.error, result.finish_reason) == (
        "The best flight is",
        None,
        "length",
    )
    with client(FakeSdk()) as chat:
        assert chat.complete("q").finish_reason == "stop"


def test_an_unexpected_failure_does_not_log_the_row_text(caplog, monkeypatch):
    secret_row = "passenger Jane Roe, passport X1234567"

    def bug(request, schema):  # a bug whose message carries the row, as KeyError(row) would
        raise RuntimeError(f"cannot handle {request.prompt}")

    with caplog.at_level(logging.DEBUG), client(FakeSdk()) as chat:
        monkeypatch.setattr(chat, "_call", bug)
        result = chat.complete(secret_row)
    assert "RuntimeError" in result.error and secret_row not in result.error
    assert "RuntimeError" in caplog.text
    assert secret_row not in caplog.text


@pytest.mark.parametrize(
    "url",
    [
        "https://alice:s3cret@llm.example.com/v1",
        "https://s3cret@llm.example.com:8443/v1?key=s3cret",
        "http://alice:s3cret@[::1]:8000/v1",
    ],
)
def test_a_password_in_the_base_url_never_reaches_a_row_error(url):
    assert "s3cret" not in safe_url(url)
    assert "llm.example.com" in safe_url(url) or "::1" in safe_url(url)
    err = openai.APIConnectionError(request=None)  # type: ignore[arg-type]
    failure = provider_error(
        err, what="chat", section="llm", base_url=url, timeout_s=1, max_retries=0
    )
    assert "s3cret" not in str(failure)
    assert "alice:s3cret@" not in redact(f"GET {url.split('?')[0]} failed")


def test_a_password_in_the_base_url_stays_out_of_a_failed_row_end_to_end():
    class Down(FakeSdk):
        def create(self, **body):
            raise openai.APIConnectionError(request=None)  # type: ignore[arg-type]

    url = "https://alice:s3cret@llm.example.com/v1"
    # max_retries=0: the call policy's retries reach the fake client (they left the SDK)
    with client(Down(), base_url=url, outage_wait_s=0, max_retries=0) as chat:
        result = chat.complete("q")
    assert result.error and "s3cret" not in result.error
    assert "llm.example.com" in result.error


def test_json_answers_default_to_temperature_zero_and_a_fixed_seed():
    sdk = FakeSdk(answers={"a": '{"flight_id": "UA1"}'})
    with client(sdk) as chat:
        chat.complete("a", schema=SCHEMA)
        chat.complete("plain")
    json_body, plain_body = sdk.bodies
    assert (json_body["temperature"], json_body["seed"]) == (0.0, 42)
    assert "temperature" not in plain_body and "seed" not in plain_body


def test_configured_sampling_wins_for_json_answers():
    sdk = FakeSdk(answers={"a": '{"flight_id": "UA1"}'})
    with client(sdk, temperature=0.7, seed=7) as chat:
        chat.complete("a", schema=SCHEMA)
    assert (sdk.bodies[0]["temperature"], sdk.bodies[0]["seed"]) == (0.7, 7)
