-- Rebooking recommendations for passengers of cancelled or long-delayed flights.
--
-- Reads:  Kafka ${EVENT_TOPIC} (disruption events, JSON, read as raw strings so that
--         unparseable ones reach the dead letter instead of failing the job);
--         upsert-kafka tables on the compacted topics ${BOOKING_TOPIC}, ${CUSTOMER_TOPIC}
--         and ${FLIGHT_TOPIC} (latest record per key = current state);
--         MongoDB collections `flights` and `policies` through VECTOR_LOOKUP_JSON.
-- Writes: ${RECOMMENDATION_TOPIC}: one JSON record per affected passenger, key = booking_id;
--         ${DEAD_LETTER_TOPIC}: one JSON record per rejected event or passenger, with the
--         reason, the input and (for LLM failures) the raw answer.
--
-- Joins: regular joins on the upsert tables. An event-time temporal join
-- (FOR SYSTEM_TIME AS OF) would hold every disruption back until the watermarks of
-- all four inputs pass it, and the CRM and inventory topics are idle most of the time,
-- so a lone cancellation would wait for the next event. Regular joins answer at once
-- and do not care whether a booking or the event arrives first. Their output is a
-- changelog (a booking or seat change retracts the old row), so both sinks are
-- upsert-kafka tables keyed by id, and each INSERT says ON CONFLICT DO DEDUPLICATE
-- (Flink 2.3 asks for a conflict policy because the joined rows' upsert key is not the
-- sink key; the latest row per key wins). Consequence: an event that arrives before the
-- CRM tables are loaded may first emit a transient dead letter (e.g. booking without
-- customer) that is retracted by a tombstone once the customer row arrives. Readers
-- treat both topics as tables (latest value per key).
--
-- Delivery: checkpoints every 10 s; sinks are at-least-once with idempotent keys
-- (booking_id; the dead letter's id is derived from the event's Kafka offset or the
-- booking). After a restart the replayed rows rewrite the same keys, and the LLM
-- response cache (flink-rag.llm.cache-dir or FLINK_RAG_CACHE_DIR) returns the same answers, so readers of the
-- topic as a table see each recommendation once. Exactly-once transactions were not
-- chosen: records would only become visible at checkpoint completion (after the LLM
-- call has already taken seconds) and every consumer would need read_committed.
--
-- Bad input: bad JSON, missing fields, unknown event type, duplicate event_id, unknown
-- flight, booking without customer, no candidate flight, LLM error or an answer that is
-- not grounded (flight not among the retrieved candidates, wrong route, not later, no
-- seat in the cabin) -> dead letter with the reason. Nothing is dropped silently.
-- Short delays (< ${MIN_DELAY_MINUTES} min) are dead-lettered as `not_disruptive`.

SET 'execution.checkpointing.interval' = '10 s';
-- Both sinks read the checked answers: optimise the shared views as one block, so each
-- passenger costs one LLM call and both topics see the same answer.
SET 'table.optimizer.reuse-optimize-block-with-digest-enabled' = 'true';
SET 'pipeline.global-job-parameters.flink-rag.store.flights.collection' = 'flights';
SET 'pipeline.global-job-parameters.flink-rag.store.flights.filter-fields' = 'origin,destination,departure_ts,seats_left,cabins';
SET 'pipeline.global-job-parameters.flink-rag.store.flights.fields' = 'departure_time,arrival_time,seats_left';
SET 'pipeline.global-job-parameters.flink-rag.store.policies.collection' = 'policies';
SET 'pipeline.global-job-parameters.flink-rag.store.policies.filter-fields' = 'doc_id';
SET 'pipeline.global-job-parameters.flink-rag.store.policies.fields' = 'doc_id,title,section';

-- ---------------------------------------------------------------------------------
-- Sources
-- ---------------------------------------------------------------------------------

CREATE TEMPORARY TABLE flight_events_raw (
    payload STRING,
    kafka_partition INT METADATA FROM 'partition' VIRTUAL,
    kafka_offset BIGINT METADATA FROM 'offset' VIRTUAL,
    proc AS PROCTIME()
) WITH (
    'connector' = 'kafka',
    'topic' = '${EVENT_TOPIC}',
    'properties.bootstrap.servers' = '${KAFKA_BOOTSTRAP_SERVERS}',
    'properties.group.id' = '${GROUP_ID}',
    'properties.auto.offset.reset' = 'earliest',
    'scan.startup.mode' = '${EVENTS_STARTUP_MODE}',
    'scan.startup.timestamp-millis' = '${EVENTS_STARTUP_TIMESTAMP}',
    'format' = 'raw'
);

CREATE TEMPORARY TABLE bookings (
    booking_id STRING,
    customer_id STRING,
    flight_id STRING,
    origin STRING,
    destination STRING,
    cabin STRING,
    fare_class STRING,
    fare_family STRING,
    special_assistance STRING,
    status STRING,
    PRIMARY KEY (booking_id) NOT ENFORCED
) WITH (
    'connector' = 'upsert-kafka',
    'topic' = '${BOOKING_TOPIC}',
    'properties.bootstrap.servers' = '${KAFKA_BOOTSTRAP_SERVERS}',
    'properties.group.id' = '${GROUP_ID}',
    'key.format' = 'raw',
    'value.format' = 'json',
    'value.json.ignore-parse-errors' = 'true',
    'value.fields-include' = 'ALL'
);

CREATE TEMPORARY TABLE customers (
    customer_id STRING,
    name STRING,
    loyalty_tier STRING,
    preferences ROW<seat STRING, meal STRING, `language` STRING, contact STRING>,
    notes STRING,
    PRIMARY KEY (customer_id) NOT ENFORCED
) WITH (
    'connector' = 'upsert-kafka',
    'topic' = '${CUSTOMER_TOPIC}',
    'properties.bootstrap.servers' = '${KAFKA_BOOTSTRAP_SERVERS}',
    'properties.group.id' = '${GROUP_ID}',
    'key.format' = 'raw',
    'value.format' = 'json',
    'value.json.ignore-parse-errors' = 'true',
    'value.fields-include' = 'ALL'
);

CREATE TEMPORARY TABLE flights (
    flight_id STRING,
    origin STRING,
    destination STRING,
    departure_time STRING,
    departure_ts BIGINT,
    long_haul BOOLEAN,
    cabins ROW<
        economy ROW<capacity INT, seats_left INT>,
        premium ROW<capacity INT, seats_left INT>,
        business ROW<capacity INT, seats_left INT>
    >,
    PRIMARY KEY (flight_id) NOT ENFORCED
) WITH (
    'connector' = 'upsert-kafka',
    'topic' = '${FLIGHT_TOPIC}',
    'properties.bootstrap.servers' = '${KAFKA_BOOTSTRAP_SERVERS}',
    'properties.group.id' = '${GROUP_ID}',
    'key.format' = 'raw',
    'value.format' = 'json',
    'value.json.ignore-parse-errors' = 'true',
    'value.fields-include' = 'ALL'
);

-- ---------------------------------------------------------------------------------
-- Sinks
-- ---------------------------------------------------------------------------------

CREATE TEMPORARY TABLE rebooking_recommendations (
    booking_id STRING,
    event_id STRING,
    customer_id STRING,
    disrupted_flight_id STRING,
    recommended_flight_id STRING,
    alternatives ARRAY<STRING>,
    reason STRING,
    compensation STRING,
    priority STRING,
    candidates ARRAY<STRING>,
    PRIMARY KEY (booking_id) NOT ENFORCED
) WITH (
    'connector' = 'upsert-kafka',
    'topic' = '${RECOMMENDATION_TOPIC}',
    'properties.bootstrap.servers' = '${KAFKA_BOOTSTRAP_SERVERS}',
    'key.format' = 'raw',
    'value.format' = 'json',
    'value.fields-include' = 'ALL'
);

CREATE TEMPORARY TABLE rebooking_dead_letter (
    dead_letter_id STRING,
    reason STRING,
    event_id STRING,
    booking_id STRING,
    input STRING,
    raw_answer STRING,
    error STRING,
    PRIMARY KEY (dead_letter_id) NOT ENFORCED
) WITH (
    'connector' = 'upsert-kafka',
    'topic' = '${DEAD_LETTER_TOPIC}',
    'properties.bootstrap.servers' = '${KAFKA_BOOTSTRAP_SERVERS}',
    'key.format' = 'raw',
    'value.format' = 'json',
    'value.fields-include' = 'ALL'
);

-- ---------------------------------------------------------------------------------
-- Events: parse, validate, number duplicates
-- ---------------------------------------------------------------------------------

CREATE TEMPORARY VIEW parsed_events AS
SELECT
    CONCAT('event@', CAST(kafka_partition AS STRING), ':', CAST(kafka_offset AS STRING))
        AS source_ref,
    payload,
    JSON_VALUE(payload, '$.event_id') AS event_id,
    JSON_VALUE(payload, '$.flight_id') AS flight_id,
    JSON_VALUE(payload, '$.type') AS event_type,
    JSON_VALUE(payload, '$.reason') AS reason,
    JSON_VALUE(payload, '$.delay_minutes' RETURNING INT) AS delay_minutes,
    JSON_VALUE(payload, '$.event_time') AS event_time,
    CASE
        WHEN NOT (payload IS JSON OBJECT) THEN 'bad_json'
        WHEN JSON_VALUE(payload, '$.event_id') IS NULL
            OR JSON_VALUE(payload, '$.flight_id') IS NULL
            OR JSON_VALUE(payload, '$.type') IS NULL THEN 'missing_field'
        WHEN JSON_VALUE(payload, '$.type') NOT IN ('CANCELLATION', 'DELAY')
            THEN 'unknown_event_type'
        WHEN JSON_VALUE(payload, '$.type') = 'DELAY'
            AND COALESCE(JSON_VALUE(payload, '$.delay_minutes' RETURNING INT), 0)
                < ${MIN_DELAY_MINUTES} THEN 'not_disruptive'
        ELSE CAST(NULL AS STRING)
    END AS problem,
    proc
FROM flight_events_raw;

-- The first event with an id counts; later copies are duplicates (dead-lettered).
CREATE TEMPORARY VIEW numbered_events AS
SELECT
    source_ref,
    payload,
    event_id,
    flight_id,
    event_type,
    reason,
    delay_minutes,
    event_time,
    COUNT(*) OVER (
        PARTITION BY event_id
        ORDER BY proc
        ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW
    ) AS seen
FROM parsed_events
WHERE problem IS NULL;

CREATE TEMPORARY VIEW disruptions AS
SELECT
    e.source_ref,
    e.payload,
    e.event_id,
    e.flight_id,
    e.event_type,
    e.reason,
    e.delay_minutes,
    e.event_time,
    f.flight_id AS known_flight_id,
    f.origin,
    f.destination,
    f.departure_time,
    f.departure_ts,
    f.long_haul
FROM numbered_events AS e
LEFT JOIN flights AS f
    ON f.flight_id = e.flight_id
WHERE e.seen = 1;

-- ---------------------------------------------------------------------------------
-- Affected passengers: disruption x bookings x CRM
-- ---------------------------------------------------------------------------------

CREATE TEMPORARY VIEW affected AS
SELECT
    d.event_id,
    d.event_type,
    d.reason AS disruption_reason,
    d.delay_minutes,
    d.flight_id,
    d.origin,
    d.destination,
    d.departure_time,
    d.departure_ts,
    d.long_haul,
    b.booking_id,
    b.customer_id,
    b.cabin,
    b.fare_class,
    b.fare_family,
    b.special_assistance,
    c.customer_id AS known_customer_id,
    c.name,
    c.loyalty_tier,
    c.notes
FROM disruptions AS d
JOIN bookings AS b
    ON b.flight_id = d.known_flight_id
LEFT JOIN customers AS c
    ON c.customer_id = b.customer_id
WHERE b.status = 'CONFIRMED';

CREATE TEMPORARY VIEW passenger_needs AS
SELECT
    a.*,
    CONCAT(
        'Flight from ', a.origin, ' to ', a.destination, ' departing after ',
        a.departure_time, ' with a free ', a.cabin, ' seat'
    ) AS need,
    CONCAT(
        'Rebooking rules for ', a.fare_family, ' fares and ', a.loyalty_tier,
        ' members after a ', LOWER(a.event_type),
        IF(a.special_assistance IS NULL, '', ', special assistance ' || a.special_assistance),
        ', compensation'
    ) AS policy_question,
    JSON_OBJECT(
        'origin' VALUE a.origin,
        'destination' VALUE a.destination,
        'departure_ts' VALUE JSON_OBJECT('$gt' VALUE a.departure_ts),
        'seats_left' VALUE JSON_OBJECT('$gt' VALUE 0),
        'cabins' VALUE a.cabin
    ) AS flight_filter
FROM affected AS a
WHERE a.known_customer_id IS NOT NULL;

-- ---------------------------------------------------------------------------------
-- Retrieval: alternative flights (filtered) and policy passages
-- ---------------------------------------------------------------------------------

CREATE TEMPORARY VIEW retrieved AS
SELECT
    p.*,
    VECTOR_LOOKUP_JSON('flights', EMBED(p.need), ${CANDIDATES}, p.flight_filter) AS flight_hits,
    VECTOR_LOOKUP_JSON('policies', EMBED(p.policy_question), 3, CAST(NULL AS STRING))
        AS policy_hits
FROM passenger_needs AS p;

CREATE TEMPORARY VIEW with_candidates AS
SELECT
    r.*,
    JSON_QUERY(r.flight_hits, '$.hits[*].id') AS candidate_ids_json,
    JSON_QUERY(r.flight_hits, '$.hits[*].id' RETURNING ARRAY<STRING>) AS candidate_ids,
    JSON_VALUE(r.flight_hits, '$.error') AS lookup_error
FROM retrieved AS r;

-- ---------------------------------------------------------------------------------
-- Prompt, structured completion (candidate ids as an enum), grounded check
-- ---------------------------------------------------------------------------------

CREATE TEMPORARY VIEW prompts AS
SELECT
    w.*,
    RAG_PROMPT(
        CONCAT(
            'Flight ', w.flight_id, ' (', w.origin, ' to ', w.destination, ', ',
            w.departure_time, ') is ', IF(w.event_type = 'CANCELLATION', 'cancelled',
            'delayed ' || CAST(w.delay_minutes AS STRING) || ' min'),
            ': ', w.disruption_reason, '.', CHR(10),
            'Passenger booking ', w.booking_id, ': ', w.loyalty_tier, ' member, ',
            w.fare_family, ' fare, ', w.cabin,
            IF(w.special_assistance IS NULL, '', ', needs ' || w.special_assistance),
            '.', CHR(10),
            'Candidate flights:', CHR(10), '{context}', CHR(10),
            RAG_PROMPT(
                CONCAT('Policy:', CHR(10), '{context}'), w.policy_hits, ${POLICY_BUDGET_TOKENS}
            ),
            CHR(10), 'Recommend the earliest suitable candidate flight.'
        ),
        w.flight_hits,
        ${CANDIDATE_BUDGET_TOKENS}
    ) AS prompt,
    CONCAT(
        '{"type":"object","properties":{',
        '"booking_id":{"type":"string","enum":["', w.booking_id, '"]},',
        '"recommended_flight_id":{"type":"string","enum":', w.candidate_ids_json, '},',
        '"alternatives":{"type":"array","items":{"type":"string","enum":',
        w.candidate_ids_json, '},"maxItems":3},',
        '"reason":{"type":"string"},',
        '"compensation":{"type":"string","enum":["EUR 0","EUR 250","EUR 400","EUR 600"]},',
        '"priority":{"type":"string","enum":["HIGH","MEDIUM","NORMAL"]}},',
        '"required":["booking_id","recommended_flight_id","alternatives","reason",',
        '"compensation","priority"],"additionalProperties":false}'
    ) AS answer_schema
FROM with_candidates AS w
WHERE w.lookup_error IS NULL
  AND CARDINALITY(w.candidate_ids) > 0;

CREATE TEMPORARY VIEW answers AS
SELECT
    q.*,
    q.completion.text AS raw_answer,
    q.completion.error AS llm_error,
    JSON_VALUE(q.completion.text, '$.recommended_flight_id') AS recommended_flight_id
FROM (
    SELECT
        p.*,
        LLM_COMPLETE_JSON(
            p.prompt,
            'You rebook airline passengers. Answer with JSON only.',
            p.answer_schema
        ) AS completion
    FROM prompts AS p
) AS q;

-- Grounded: the answer names a retrieved candidate that, in the current inventory,
-- serves the same route, departs later and has a seat in the booked cabin.
CREATE TEMPORARY VIEW checked AS
SELECT
    a.*,
    CASE
        WHEN a.llm_error IS NOT NULL THEN 'llm_error'
        WHEN a.recommended_flight_id IS NULL THEN 'no_recommendation'
        WHEN NOT ARRAY_CONTAINS(a.candidate_ids, a.recommended_flight_id)
            THEN 'not_a_candidate'
        WHEN f.flight_id IS NULL THEN 'unknown_recommended_flight'
        WHEN f.origin <> a.origin OR f.destination <> a.destination THEN 'wrong_route'
        WHEN f.departure_ts <= a.departure_ts THEN 'not_later'
        WHEN COALESCE(CASE a.cabin
                WHEN 'economy' THEN f.cabins.economy.seats_left
                WHEN 'premium' THEN f.cabins.premium.seats_left
                WHEN 'business' THEN f.cabins.business.seats_left
            END, 0) <= 0 THEN 'no_seat'
        ELSE CAST(NULL AS STRING)
    END AS problem
FROM answers AS a
LEFT JOIN flights AS f
    ON f.flight_id = a.recommended_flight_id;

-- ---------------------------------------------------------------------------------
-- Outputs
-- ---------------------------------------------------------------------------------

EXECUTE STATEMENT SET
BEGIN

INSERT INTO rebooking_recommendations
SELECT
    booking_id,
    event_id,
    customer_id,
    flight_id,
    recommended_flight_id,
    JSON_QUERY(raw_answer, '$.alternatives' RETURNING ARRAY<STRING>),
    JSON_VALUE(raw_answer, '$.reason'),
    JSON_VALUE(raw_answer, '$.compensation'),
    JSON_VALUE(raw_answer, '$.priority'),
    candidate_ids
FROM checked
WHERE problem IS NULL
ON CONFLICT DO DEDUPLICATE;

INSERT INTO rebooking_dead_letter
SELECT
    source_ref,
    problem,
    event_id,
    CAST(NULL AS STRING),
    payload,
    CAST(NULL AS STRING),
    CAST(NULL AS STRING)
FROM parsed_events
WHERE problem IS NOT NULL
ON CONFLICT DO DEDUPLICATE;

INSERT INTO rebooking_dead_letter
SELECT
    source_ref,
    'duplicate_event',
    event_id,
    CAST(NULL AS STRING),
    payload,
    CAST(NULL AS STRING),
    CAST(NULL AS STRING)
FROM numbered_events
WHERE seen > 1
ON CONFLICT DO DEDUPLICATE;

INSERT INTO rebooking_dead_letter
SELECT
    source_ref,
    'unknown_flight',
    event_id,
    CAST(NULL AS STRING),
    payload,
    CAST(NULL AS STRING),
    CAST(NULL AS STRING)
FROM disruptions
WHERE known_flight_id IS NULL
ON CONFLICT DO DEDUPLICATE;

INSERT INTO rebooking_dead_letter
SELECT
    CONCAT('booking@', booking_id, '@', event_id),
    'booking_without_customer',
    event_id,
    booking_id,
    JSON_OBJECT('booking_id' VALUE booking_id, 'customer_id' VALUE customer_id,
        'flight_id' VALUE flight_id),
    CAST(NULL AS STRING),
    CAST(NULL AS STRING)
FROM affected
WHERE known_customer_id IS NULL
ON CONFLICT DO DEDUPLICATE;

INSERT INTO rebooking_dead_letter
SELECT
    CONCAT('booking@', booking_id, '@', event_id),
    IF(lookup_error IS NOT NULL, 'lookup_error', 'no_candidates'),
    event_id,
    booking_id,
    JSON_OBJECT('booking_id' VALUE booking_id, 'flight_filter' VALUE flight_filter),
    CAST(NULL AS STRING),
    lookup_error
FROM with_candidates
WHERE lookup_error IS NOT NULL
   OR candidate_ids IS NULL
   OR CARDINALITY(candidate_ids) = 0
ON CONFLICT DO DEDUPLICATE;

INSERT INTO rebooking_dead_letter
SELECT
    CONCAT('booking@', booking_id, '@', event_id),
    problem,
    event_id,
    booking_id,
    JSON_OBJECT('booking_id' VALUE booking_id, 'prompt' VALUE prompt,
        'candidates' VALUE JSON(candidate_ids_json)),
    raw_answer,
    llm_error
FROM checked
WHERE problem IS NOT NULL
ON CONFLICT DO DEDUPLICATE;

END;
