"""The output reader sees every record of its topics, however late the job creates them, and
never depends on a consumer group: a reader that fell back to a group when its topics came
late read nothing more after a broker restart, and a fault run waited out its timeout with
every passenger answered."""

from __future__ import annotations

import uuid

import pytest

from flink_rag.airline import kafka_io, rebooking
from flink_rag.local.session import shared_stack

pytestmark = pytest.mark.integration

WAIT_S = 60.0


@pytest.fixture(scope="module")
def bootstrap():
    with shared_stack(["kafka"]) as endpoints:
        yield endpoints.kafka_bootstrap


def test_topics_created_after_the_reader_opened_are_read_by_assignment(bootstrap):
    run = uuid.uuid4().hex[:8]
    recs, dead = f"reader{run}_recs", f"reader{run}_dead"
    with rebooking.OutputReader(bootstrap, f"reader{run}", recs, dead) as reader:
        # Neither topic exists yet: the job has not written its first output.
        kafka_io.ensure_topics(bootstrap, [kafka_io.TopicSpec(recs, compact=False)])
        kafka_io.produce(bootstrap, recs, [("B1", '{"booking_id": "B1", "event_id": "E1"}')])
        assert reader.wait_for(lambda o: "B1" in o.recommendations, WAIT_S), reader.outputs
        kafka_io.ensure_topics(bootstrap, [kafka_io.TopicSpec(dead, compact=False)])
        kafka_io.produce(bootstrap, dead, [("B2", '{"reason": "llm_error", "event_id": "E1"}')])
        assert reader.wait_for(lambda o: "B2" in o.dead_letters, WAIT_S), reader.outputs
        assignment = {tp.topic for tp in reader._consumer.assignment()}
        assert assignment == {recs, dead}
        # No group membership: nothing a broker's coordinator could drop.
        assert not reader._consumer.memberid()
    assert reader.outputs.records == 2
