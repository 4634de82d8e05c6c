-- Rebooking recommendations for passengers of cancelled or long-delayed flights.
-- Reads:  ${EVENT_TOPIC} (events); ${BOOKING_TOPIC}, ${CUSTOMER_TOPIC}, ${FLIGHT_TOPIC}
--         (compacted CRM and inventory) as upsert tables and record by record (a record that
--         is not JSON is dead-lettered); MongoDB `flights` and `policies` (VECTOR_LOOKUP_JSON).
-- Writes: ${RECOMMENDATION_TOPIC}, one record per affected passenger (key booking_id, cited
--         policy ids, provenance), and ${DEAD_LETTER_TOPIC}, one per rejected event, CRM record
--         or passenger (reason, input, error; raw answer), each written once, never rewritten.
-- Runs after functions.sql and kafka_tables.sql; placeholders are topics only, constants are
-- literals (tests/unit/test_sql_constants.py). Events resume from group flink-rag-rebooking's
-- offsets (a run that needs another group or start overrides them with dynamic table options).
-- Once per passenger; event state expires after 7 d without access. Why: docs/REBOOKING.md.
-- Dead-letter reasons: bad_json, missing_field, unknown_event_type, duplicate_event,
-- not_disruptive (delay < 180 min), unknown_flight, bad_crm_record, booking_without_customer,
-- embed_error, lookup_error, no_candidates, prompt_error, budget_exhausted, llm_error,
-- no_recommendation; not grounded: not_a_candidate, citation_not_retrieved,
-- unknown_recommended_flight, wrong_route, not_later, no_seat.

SET 'execution.checkpointing.interval' = '10 s';
-- Both sinks read the checked answers: one optimize block, so one LLM call per passenger.
SET 'table.optimizer.reuse-optimize-block-with-digest-enabled' = 'true';
SET 'table.exec.state.ttl' = '7 d';
SET 'pipeline.global-job-parameters.flink-rag.store.flights.collection' = 'flights';
SET 'pipeline.global-job-parameters.flink-rag.store.flights.filter-fields' = 'origin,destination,departure_ts,seats_left,cabins';
SET 'pipeline.global-job-parameters.flink-rag.store.flights.fields' = 'departure_time,arrival_time,seats_left';
SET 'pipeline.global-job-parameters.flink-rag.store.policies.collection' = 'policies';
SET 'pipeline.global-job-parameters.flink-rag.store.policies.filter-fields' = 'doc_id';
SET 'pipeline.global-job-parameters.flink-rag.store.policies.fields' = 'doc_id,title,section';

-- Tables: the shapes of kafka_tables.sql with their own columns and topics ---------------
CREATE TEMPORARY TABLE flight_events_raw (proc AS PROCTIME()) WITH (
    'topic' = '${EVENT_TOPIC}', 'scan.startup.mode' = 'group-offsets',
    'properties.group.id' = 'flink-rag-rebooking'
) LIKE kafka_records;
CREATE TEMPORARY TABLE bookings_raw WITH ('topic' = '${BOOKING_TOPIC}') LIKE kafka_records;
CREATE TEMPORARY TABLE customers_raw WITH ('topic' = '${CUSTOMER_TOPIC}') LIKE kafka_records;
CREATE TEMPORARY TABLE flights_raw WITH ('topic' = '${FLIGHT_TOPIC}') LIKE kafka_records;

CREATE TEMPORARY TABLE bookings (
    booking_id STRING, customer_id STRING, flight_id STRING, origin STRING,
    destination STRING, cabin STRING, fare_class STRING, fare_family STRING,
    special_assistance STRING, status STRING,
    PRIMARY KEY (booking_id) NOT ENFORCED
) WITH ('topic' = '${BOOKING_TOPIC}') LIKE kafka_upsert_json;

CREATE TEMPORARY TABLE customers (
    customer_id STRING, name STRING, loyalty_tier STRING,
    preferences ROW<seat STRING, meal STRING, `language` STRING, contact STRING>, notes STRING,
    PRIMARY KEY (customer_id) NOT ENFORCED
) WITH ('topic' = '${CUSTOMER_TOPIC}') LIKE kafka_upsert_json;

CREATE TEMPORARY TABLE flights (
    flight_id STRING, origin STRING, destination STRING, departure_time STRING,
    departure_ts BIGINT, long_haul BOOLEAN,
    cabins ROW<economy ROW<capacity INT, seats_left INT>,
        premium ROW<capacity INT, seats_left INT>, business ROW<capacity INT, seats_left INT>>,
    PRIMARY KEY (flight_id) NOT ENFORCED
) WITH ('topic' = '${FLIGHT_TOPIC}') LIKE kafka_upsert_json;

CREATE TEMPORARY TABLE rebooking_recommendations (
    booking_id STRING, event_id STRING, customer_id STRING, disrupted_flight_id STRING,
    recommended_flight_id STRING, alternatives ARRAY<STRING>, reason STRING,
    compensation STRING, priority STRING, candidates ARRAY<STRING>, citations ARRAY<STRING>,
    provenance ROW<ids ARRAY<STRING>, scores ARRAY<DOUBLE>, model STRING, prompt_sha256 STRING>,
    PRIMARY KEY (booking_id) NOT ENFORCED
) WITH ('topic' = '${RECOMMENDATION_TOPIC}') LIKE kafka_upsert_json;

CREATE TEMPORARY TABLE rebooking_dead_letter (
    dead_letter_id STRING, reason STRING, event_id STRING, booking_id STRING,
    input STRING, raw_answer STRING, error STRING,
    PRIMARY KEY (dead_letter_id) NOT ENFORCED
) WITH ('topic' = '${DEAD_LETTER_TOPIC}') LIKE kafka_upsert_json;

-- Events: parse, validate, number duplicates -------------------------------------------
CREATE TEMPORARY VIEW parsed_events AS
SELECT *,
    CASE
        WHEN payload IS NULL OR NOT (payload IS JSON OBJECT) THEN 'bad_json'
        WHEN event_id IS NULL OR flight_id IS NULL OR event_type IS NULL THEN 'missing_field'
        WHEN event_type NOT IN ('CANCELLATION', 'DELAY') THEN 'unknown_event_type'
        WHEN event_type = 'DELAY' AND COALESCE(delay_minutes, 0) < 180 THEN 'not_disruptive'
        ELSE CAST(NULL AS STRING)
    END AS problem
FROM (
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
        proc
    FROM flight_events_raw
);

-- The first event with an id counts, later copies are duplicates (ROWS: same-ms copies 1, 2).
CREATE TEMPORARY VIEW numbered_events AS
SELECT
    source_ref, payload, event_id, flight_id, event_type, reason, delay_minutes, event_time,
    COUNT(*) OVER (
        PARTITION BY event_id ORDER BY proc ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW
    ) AS seen
FROM parsed_events
WHERE problem IS NULL;

CREATE TEMPORARY VIEW disruptions AS
SELECT /*+ STATE_TTL('f' = '3650 d') */
    e.source_ref, e.payload, e.event_id, e.flight_id, e.event_type, e.reason,
    e.delay_minutes, e.event_time, f.flight_id AS known_flight_id, f.origin, f.destination,
    f.departure_time, f.departure_ts, f.long_haul
FROM numbered_events AS e
LEFT JOIN flights AS f
    ON f.flight_id = e.flight_id
WHERE e.seen = 1;

-- unknown_flight: the event's first join found no flight, and none followed within 30 s.
-- First versions (here and below): ROW_NUMBER over processing time = Flink's insert-only dedup.
CREATE TEMPORARY VIEW disruption_versions AS
SELECT source_ref, payload, event_id, known_flight_id, PROCTIME() AS seen_at
FROM TO_CHANGELOG(input => TABLE disruptions)
WHERE op IN ('INSERT', 'UPDATE_AFTER');

CREATE TEMPORARY VIEW flight_missing AS
SELECT source_ref, payload, event_id, PROCTIME() AS missed_at
FROM (
    SELECT *, ROW_NUMBER() OVER (PARTITION BY event_id ORDER BY seen_at) AS version
    FROM disruption_versions
)
WHERE version = 1 AND known_flight_id IS NULL;

CREATE TEMPORARY VIEW unknown_flights AS
SELECT m.source_ref, m.payload, m.event_id
FROM flight_missing AS m
LEFT JOIN disruption_versions AS v
    ON v.event_id = m.event_id
    AND v.known_flight_id IS NOT NULL
    AND v.seen_at BETWEEN m.missed_at - INTERVAL '30' SECOND AND m.missed_at + INTERVAL '30' SECOND
WHERE v.event_id IS NULL;

-- CRM and inventory records that the upsert tables skip.
CREATE TEMPORARY VIEW bad_crm_records AS
SELECT CONCAT('crm@', entity, '@', CAST(kafka_partition AS STRING), ':',
        CAST(kafka_offset AS STRING)) AS dead_letter_id,
    payload,
    IF(payload IS JSON OBJECT, CONCAT('the ', kind, ' record has no ', id_field),
        CONCAT('the ', kind, ' record is not a JSON object')) AS error
FROM (
    SELECT 'bookings' AS entity, 'booking' AS kind, 'booking_id' AS id_field,
        JSON_VALUE(payload, '$.booking_id') AS id, r.* FROM bookings_raw AS r
    UNION ALL
    SELECT 'customers', 'customer', 'customer_id', JSON_VALUE(payload, '$.customer_id'), r.*
    FROM customers_raw AS r
    UNION ALL
    SELECT 'flights', 'inventory', 'flight_id', JSON_VALUE(payload, '$.flight_id'), r.*
    FROM flights_raw AS r
)
WHERE payload IS NOT NULL AND (NOT (payload IS JSON OBJECT) OR id IS NULL);

-- Affected passengers: disruption x bookings x CRM (updating), then once per passenger ----
CREATE TEMPORARY VIEW affected AS
SELECT /*+ STATE_TTL('b' = '3650 d', 'c' = '3650 d') */
    d.event_id, d.event_type, d.reason AS disruption_reason, d.delay_minutes, d.flight_id,
    d.origin, d.destination, d.departure_time, d.departure_ts, d.long_haul,
    b.booking_id, b.customer_id, b.cabin, b.fare_class, b.fare_family, b.special_assistance,
    c.customer_id AS known_customer_id, c.name, c.loyalty_tier, c.notes
FROM disruptions AS d
JOIN bookings AS b
    ON b.flight_id = d.known_flight_id
LEFT JOIN customers AS c
    ON c.customer_id = b.customer_id
WHERE b.status = 'CONFIRMED';

-- Every version the join emits, as an append-only stream (retractions dropped).
CREATE TEMPORARY VIEW passenger_versions AS
SELECT *, PROCTIME() AS seen_at
FROM TO_CHANGELOG(input => TABLE affected)
WHERE op IN ('INSERT', 'UPDATE_AFTER');

-- The first version with a customer record of each (event, passenger): insert-only.
CREATE TEMPORARY VIEW passengers AS
SELECT
    event_id, event_type, disruption_reason, delay_minutes, flight_id, origin, destination,
    departure_time, departure_ts, long_haul, booking_id, customer_id, cabin, fare_class,
    fare_family, special_assistance, name, loyalty_tier, notes
FROM (
    SELECT *, ROW_NUMBER() OVER (PARTITION BY event_id, booking_id ORDER BY seen_at) AS version
    FROM passenger_versions
    WHERE known_customer_id IS NOT NULL
)
WHERE version = 1;

-- booking_without_customer: the first version had no customer; none followed within 30 s.
CREATE TEMPORARY VIEW customer_missing AS
SELECT event_id, booking_id, customer_id, flight_id, PROCTIME() AS missed_at
FROM (
    SELECT *, ROW_NUMBER() OVER (PARTITION BY event_id, booking_id ORDER BY seen_at) AS version
    FROM passenger_versions
)
WHERE version = 1 AND known_customer_id IS NULL;

CREATE TEMPORARY VIEW customerless AS
SELECT m.event_id, m.booking_id, m.customer_id, m.flight_id
FROM customer_missing AS m
LEFT JOIN passenger_versions AS v
    ON v.event_id = m.event_id
    AND v.booking_id = m.booking_id
    AND v.known_customer_id IS NOT NULL
    AND v.seen_at BETWEEN m.missed_at - INTERVAL '30' SECOND AND m.missed_at + INTERVAL '30' SECOND
WHERE v.booking_id IS NULL;

-- The lookup filter is the grounded rule's inventory part (route, later, a seat in the cabin).
CREATE TEMPORARY VIEW passenger_needs AS
SELECT
    p.*,
    CONCAT('Flight from ', p.origin, ' to ', p.destination, ' departing after ',
        p.departure_time, ' with a free ', p.cabin, ' seat') AS need,
    CONCAT('Rebooking rules for ', p.fare_family, ' fares and ', p.loyalty_tier,
        ' members after a ', LOWER(p.event_type),
        IF(p.special_assistance IS NULL, '', ', special assistance ' || p.special_assistance),
        ', compensation') AS policy_question,
    JSON_OBJECT(
        'origin' VALUE p.origin, 'destination' VALUE p.destination,
        'departure_ts' VALUE JSON_OBJECT('$gt' VALUE p.departure_ts),
        'seats_left' VALUE JSON_OBJECT('$gt' VALUE 0), 'cabins' VALUE p.cabin
    ) AS flight_filter
FROM passengers AS p;

-- Retrieval, prompt, completion, grounded check: one linear chain -----------------------
-- A passenger carries its first problem down the chain; the functions answer NULL inputs
-- with NULL without a call. A result read twice sits behind a CROSS JOIN UNNEST of a
-- one-element array, through which the planner does not inline (copy) the call.

CREATE TEMPORARY VIEW embedded AS
SELECT
    n.*,
    EMBED_RESULT(n.need) AS need_embedding,
    EMBED_RESULT(n.policy_question) AS policy_embedding
FROM passenger_needs AS n;

CREATE TEMPORARY VIEW retrieved AS
SELECT
    e.*,
    COALESCE(e.need_embedding.error, e.policy_embedding.error) AS embed_error,
    h.flight_hits, h.policy_hits
FROM embedded AS e
CROSS JOIN UNNEST(ARRAY[ROW(
    VECTOR_LOOKUP_JSON('flights', e.need_embedding.embedding, 5, e.flight_filter),
    VECTOR_LOOKUP_JSON('policies', e.policy_embedding.embedding, 3, CAST(NULL AS STRING))
)]) AS h (flight_hits, policy_hits);

CREATE TEMPORARY VIEW with_candidates AS
SELECT
    c.*,
    CASE
        WHEN c.embed_error IS NOT NULL THEN 'embed_error'
        WHEN c.lookup_error IS NOT NULL THEN 'lookup_error'
        WHEN c.candidate_ids IS NULL OR CARDINALITY(c.candidate_ids) = 0 THEN 'no_candidates'
        ELSE CAST(NULL AS STRING)
    END AS retrieval_problem
FROM (
    SELECT
        r.*,
        JSON_QUERY(r.flight_hits, '$.hits[*].id') AS candidate_ids_json,
        JSON_QUERY(r.flight_hits, '$.hits[*].id' RETURNING ARRAY<STRING>) AS candidate_ids,
        JSON_QUERY(r.policy_hits, '$.hits[*].id' RETURNING ARRAY<STRING>) AS policy_ids,
        COALESCE(
            IF(r.flight_hits IS NULL, 'flight lookup gave NULL',
                JSON_VALUE(r.flight_hits, '$.error')),
            IF(r.policy_hits IS NULL, 'policy lookup gave NULL',
                JSON_VALUE(r.policy_hits, '$.error'))) AS lookup_error,
        pc.policy_context
    FROM retrieved AS r
    CROSS JOIN UNNEST(ARRAY[
        RAG_PROMPT(CONCAT('Policy:', CHR(10), '{context}'), r.policy_hits, 800)
    ]) AS pc (policy_context)
) AS c;

-- Enums only (citations: ids of the policy hits, the only hits LLM_COMPLETE_CITED is given):
-- the answer closes within max-tokens, a small model writes no free text. The prompt's UNNEST
-- (in `answers`) reads only columns: a correlate of expressions is not shared by the sinks.
CREATE TEMPORARY VIEW prompt_parts AS
SELECT
    w.*,
    IF(w.retrieval_problem IS NOT NULL, CAST(NULL AS STRING), CONCAT(
        'Flight ', w.flight_id, ' (', w.origin, ' to ', w.destination, ', ',
        w.departure_time, ') is ', IF(w.event_type = 'CANCELLATION', 'cancelled',
        'delayed ' || CAST(w.delay_minutes AS STRING) || ' min'),
        ': ', w.disruption_reason, '.', CHR(10),
        'Passenger booking ', w.booking_id, ': ', w.loyalty_tier, ' member, ',
        w.fare_family, ' fare, ', w.cabin,
        IF(w.special_assistance IS NULL, '', ', needs ' || w.special_assistance), '.', CHR(10),
        'Candidate flights:', CHR(10), '{context}', CHR(10), w.policy_context, CHR(10),
        'Recommend the earliest suitable candidate flight; cite the policies used.'
    )) AS prompt_template,
    CONCAT(
        '{"type":"object","properties":{',
        '"recommended_flight_id":{"type":"string","enum":', w.candidate_ids_json, '},',
        '"reason":{"type":"string","enum":["seat"',
        IF(w.special_assistance IS NULL, '', ',"assistance"'),
        IF(w.loyalty_tier IN ('GOLD', 'PLATINUM'), ',"loyalty"', ''), ']},',
        '"compensation":{"type":"string","enum":["EUR 0","EUR 250","EUR 400","EUR 600"]},',
        '"priority":{"type":"string","enum":["HIGH","MEDIUM","NORMAL"]},',
        '"citations":{"x-citations":true,"minItems":1,"maxItems":2}},"required":',
        '["recommended_flight_id","reason","compensation","priority","citations"],',
        '"additionalProperties":false}'
    ) AS answer_schema
FROM with_candidates AS w;

CREATE TEMPORARY VIEW answers AS
SELECT
    q.event_id, q.booking_id, q.customer_id, q.flight_id, q.origin, q.destination,
    q.departure_ts, q.cabin, q.flight_filter, q.retrieval_problem, q.policy_ids,
    COALESCE(q.embed_error, q.lookup_error) AS retrieval_error, q.prompt, q.candidate_ids,
    q.completion.text AS raw_answer, q.completion.error AS llm_error, q.completion.provenance,
    JSON_VALUE(q.completion.text, '$.recommended_flight_id') AS recommended_flight_id,
    JSON_QUERY(q.completion.text, '$.citations' RETURNING ARRAY<STRING>) AS citations
FROM (
    SELECT
        w.*, x.prompt,
        LLM_COMPLETE_CITED(x.prompt, 'You rebook airline passengers. Answer with JSON only.',
            w.answer_schema, w.policy_hits) AS completion
    FROM prompt_parts AS w
    CROSS JOIN UNNEST(ARRAY[RAG_PROMPT(w.prompt_template, w.flight_hits, 1800)]) AS x (prompt)
) AS q;

-- The recommended flight as the inventory has it when the answer arrives (first version
-- only: later inventory updates do not rewrite the check).
CREATE TEMPORARY VIEW answer_versions AS
SELECT /*+ STATE_TTL('f' = '3650 d') */
    a.*,
    f.flight_id AS inventory_flight_id, f.origin AS inventory_origin,
    f.destination AS inventory_destination, f.departure_ts AS inventory_departure_ts,
    f.departure_time AS inventory_departure_time,
    CASE a.cabin
        WHEN 'economy' THEN f.cabins.economy.seats_left
        WHEN 'premium' THEN f.cabins.premium.seats_left
        WHEN 'business' THEN f.cabins.business.seats_left
    END AS inventory_seats_left
FROM answers AS a
LEFT JOIN flights AS f
    ON f.flight_id = a.recommended_flight_id;

CREATE TEMPORARY VIEW answered AS
SELECT *
FROM (
    SELECT *, ROW_NUMBER() OVER (PARTITION BY event_id, booking_id ORDER BY seen_at) AS version
    FROM (
        SELECT *, PROCTIME() AS seen_at
        FROM TO_CHANGELOG(input => TABLE answer_versions)
        WHERE op IN ('INSERT', 'UPDATE_AFTER')
    )
)
WHERE version = 1;

-- Grounded: a retrieved candidate, citing only policy passages retrieved for the row, that in
-- the inventory at answer time serves the route, departs later and has a seat in the cabin
-- (NULL fails). The rule is GROUNDED_RULES of flink_rag/airline/checks.py;
-- tests/flink/test_grounded_rule.py runs this view against it.
CREATE TEMPORARY VIEW checked AS
SELECT
    a.*,
    CASE
        WHEN a.retrieval_problem IS NOT NULL THEN a.retrieval_problem
        WHEN a.prompt IS NULL THEN 'prompt_error'
        WHEN POSITION('budget_exhausted:' IN a.llm_error) = 1 THEN 'budget_exhausted'
        WHEN a.llm_error IS NOT NULL THEN 'llm_error'
        WHEN a.recommended_flight_id IS NULL THEN 'no_recommendation'
        WHEN NOT ARRAY_CONTAINS(a.candidate_ids, a.recommended_flight_id) THEN 'not_a_candidate'
        WHEN (CARDINALITY(a.citations) > 0 AND CARDINALITY(ARRAY_EXCEPT(a.citations,
            a.policy_ids)) = 0) IS NOT TRUE THEN 'citation_not_retrieved'
        WHEN a.inventory_flight_id IS NULL THEN 'unknown_recommended_flight'
        WHEN a.inventory_origin IS DISTINCT FROM a.origin
            OR a.inventory_destination IS DISTINCT FROM a.destination THEN 'wrong_route'
        WHEN (a.inventory_departure_ts > a.departure_ts) IS NOT TRUE THEN 'not_later'
        WHEN COALESCE(a.inventory_seats_left, 0) <= 0 THEN 'no_seat'
        ELSE CAST(NULL AS STRING)
    END AS problem,
    CASE
        WHEN a.retrieval_problem IS NOT NULL THEN a.retrieval_error
        WHEN a.prompt IS NULL THEN 'RAG_PROMPT gave NULL (a template without {context} or '
            || 'hits that are not VECTOR_LOOKUP_JSON output); see the worker log'
        WHEN a.llm_error IS NOT NULL THEN a.llm_error
        WHEN a.recommended_flight_id IS NULL THEN 'the answer names no recommended_flight_id'
        ELSE CAST(NULL AS STRING)
    END AS error
FROM answered AS a;

-- Outputs: dead letters name only the columns they have (the others are NULL) -----------
EXECUTE STATEMENT SET
BEGIN

INSERT INTO rebooking_recommendations
SELECT
    booking_id, event_id, customer_id, flight_id, recommended_flight_id,
    ARRAY_SLICE(ARRAY_REMOVE(candidate_ids, recommended_flight_id), 1, 3),
    -- The sentence a person reads: facts from the inventory, the model's chosen reason.
    CONCAT('Rebook on ', recommended_flight_id, ' (', inventory_origin, ' to ',
        inventory_destination, ', departs ',
        COALESCE(inventory_departure_time, 'at a time the inventory does not give'), ', ',
        CAST(inventory_seats_left AS STRING), ' ', cabin, ' seats left): ',
        CASE JSON_VALUE(raw_answer, '$.reason')
            WHEN 'assistance' THEN 'suits the special assistance needed'
            WHEN 'loyalty' THEN 'keeps the loyalty tier priority'
            ELSE 'a later departure on the same route with a seat in the booked cabin'
        END, '.'),
    JSON_VALUE(raw_answer, '$.compensation'), JSON_VALUE(raw_answer, '$.priority'), candidate_ids,
    citations, ROW(JSON_QUERY(provenance, '$.ids' RETURNING ARRAY<STRING>), CAST(JSON_QUERY(
        provenance, '$.scores' RETURNING ARRAY<STRING>) AS ARRAY<DOUBLE>), JSON_VALUE(provenance,
        '$.model'), JSON_VALUE(provenance, '$.prompt_sha256'))
FROM checked
WHERE problem IS NULL
ON CONFLICT DO DEDUPLICATE;

INSERT INTO rebooking_dead_letter (dead_letter_id, reason, event_id, input)
SELECT source_ref, problem, event_id, payload
FROM parsed_events
WHERE problem IS NOT NULL
UNION ALL
SELECT source_ref, 'duplicate_event', event_id, payload
FROM numbered_events
WHERE seen > 1
UNION ALL
SELECT source_ref, 'unknown_flight', event_id, payload
FROM unknown_flights
ON CONFLICT DO DEDUPLICATE;

INSERT INTO rebooking_dead_letter (dead_letter_id, reason, input, error)
SELECT dead_letter_id, 'bad_crm_record', payload, error
FROM bad_crm_records
ON CONFLICT DO DEDUPLICATE;

INSERT INTO rebooking_dead_letter (dead_letter_id, reason, event_id, booking_id, input)
SELECT CONCAT('customer@', booking_id, '@', event_id), 'booking_without_customer', event_id,
    booking_id, JSON_OBJECT('booking_id' VALUE booking_id, 'customer_id' VALUE customer_id,
        'flight_id' VALUE flight_id)
FROM customerless
ON CONFLICT DO DEDUPLICATE;

INSERT INTO rebooking_dead_letter
SELECT CONCAT('booking@', booking_id, '@', event_id), problem, event_id, booking_id,
    JSON_OBJECT('booking_id' VALUE booking_id, 'flight_filter' VALUE JSON(flight_filter),
        'candidates' VALUE candidate_ids, 'policies' VALUE policy_ids, 'prompt' VALUE prompt),
    raw_answer, error
FROM checked
WHERE problem IS NOT NULL
ON CONFLICT DO DEDUPLICATE;

END;
