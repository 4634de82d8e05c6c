-- Ingest flight inventory for alternative-flight lookup, continuously: every scheduled flight
-- -> one-sentence description -> EMBED -> upsert-kafka topic ${VECTOR_TOPIC}
-- -> (Kafka Connect MongoDB sink) -> MongoDB collection `flights`.
--
-- Runs after kafka_tables.sql (the table shapes). Placeholders: ${FLIGHT_TOPIC} (compacted
-- source, key = flight_id, one record per flight with seats left per cabin); ${VECTOR_TOPIC}
-- (what the sink connector reads, `flink-rag store sink create --store flights`);
-- ${DEAD_LETTER_TOPIC} (flights that could not be embedded, with the reason).
--
-- Reads:  ${FLIGHT_TOPIC} as an upsert table: the latest record per flight. Streaming: a
--         seat change is a new record for the flight and reaches MongoDB within seconds, so
--         the `seats_left` / `cabins` filters of the flights store stay current while the
--         rebooking job runs.
-- Does:   describes each flight in one sentence (route, times, aircraft, seats left per
--         cabin) -> EMBED(description) -> one document per flight with the filter fields.
-- Writes: key = flight_id. A flight that is no longer SCHEDULED (or whose record is
--         deleted) is retracted: a tombstone, and the sink deletes the document. A flight
--         whose EMBED failed goes to ${DEAD_LETTER_TOPIC} (same key, `embed_error` = the
--         reason) and never overwrites the good document, and so does a flight without text
--         to embed (a NULL column makes the description NULL) and a source record that is
--         not a JSON object (key raw@<partition>:<offset>); the delivery topic is chosen per
--         row through the Kafka sink's writable `topic` metadata, so EMBED runs once per row.
-- Changelog: an update reaches EMBED as -U (old text) and +U (new text); the -U vector is
--         discarded by the sink and, with the embedding cache (FLINK_RAG_CACHE_DIR), costs
--         no model call.
-- Filter fields (declared in the vector index): origin, destination, departure_ts
-- (epoch millis, UTC), seats_left (all cabins), cabins (cabins that still have seats).

SET 'execution.checkpointing.interval' = '10 s';
SET 'pipeline.global-job-parameters.flink-rag.store.flights.collection' = 'flights';
SET 'pipeline.global-job-parameters.flink-rag.store.flights.filter-fields' = 'origin,destination,departure_ts,seats_left,cabins';
SET 'pipeline.global-job-parameters.flink-rag.store.flights.fields' = 'departure_time,arrival_time,seats_left';
SET 'pipeline.global-job-parameters.flink-rag.store.flights.content-field' = 'content';

CREATE TEMPORARY TABLE flight_inventory_src (
    flight_id STRING,
    flight_number STRING,
    carrier STRING,
    origin STRING,
    destination STRING,
    origin_city STRING,
    destination_city STRING,
    departure_time STRING,
    arrival_time STRING,
    departure_ts BIGINT,
    arrival_ts BIGINT,
    aircraft STRING,
    long_haul BOOLEAN,
    -- {"economy": {"capacity": .., "seats_left": ..}, "premium": .., "business": ..} as JSON
    -- text: PyFlink 2.3's planner fails (IndexOutOfBoundsException in Calc merging) when
    -- nested ROW fields are read in a query that also calls a Python UDF.
    cabins STRING,
    seats_left INT,
    status STRING,
    PRIMARY KEY (flight_id) NOT ENFORCED
) WITH ('topic' = '${FLIGHT_TOPIC}') LIKE kafka_upsert_json;

-- The same topic record by record: what the upsert table skips as unreadable is dead-lettered.
CREATE TEMPORARY TABLE flight_inventory_raw WITH ('topic' = '${FLIGHT_TOPIC}') LIKE kafka_records;

CREATE TEMPORARY TABLE flights_vectors (
    flight_id STRING,
    flight_number STRING,
    origin STRING,
    destination STRING,
    departure_time STRING,
    arrival_time STRING,
    departure_ts BIGINT,
    seats_left INT,
    cabins ARRAY<STRING>,
    seats_economy INT,
    seats_premium INT,
    seats_business INT,
    PRIMARY KEY (flight_id) NOT ENFORCED
) WITH (
    'topic' = '${VECTOR_TOPIC};${DEAD_LETTER_TOPIC}',
    'value.fields-include' = 'ALL'  -- flight_id stays in the document: checks read it
) LIKE kafka_vectors;

CREATE TEMPORARY VIEW flight_seats AS
SELECT
    flight_id,
    flight_number,
    origin,
    destination,
    origin_city,
    destination_city,
    departure_time,
    arrival_time,
    departure_ts,
    aircraft,
    seats_left,
    JSON_VALUE(cabins, '$.economy.seats_left' RETURNING INT) AS seats_economy,
    JSON_VALUE(cabins, '$.premium.seats_left' RETURNING INT) AS seats_premium,
    JSON_VALUE(cabins, '$.business.seats_left' RETURNING INT) AS seats_business
FROM flight_inventory_src
WHERE status = 'SCHEDULED';

CREATE TEMPORARY VIEW flight_docs AS
SELECT
    flight_id,
    flight_number,
    origin,
    destination,
    departure_time,
    arrival_time,
    departure_ts,
    seats_left,
    seats_economy,
    seats_premium,
    seats_business,
    ARRAY_REMOVE(
        ARRAY[
            IF(seats_economy > 0, 'economy', CAST(NULL AS STRING)),
            IF(seats_premium > 0, 'premium', CAST(NULL AS STRING)),
            IF(seats_business > 0, 'business', CAST(NULL AS STRING))
        ],
        CAST(NULL AS STRING)
    ) AS open_cabins,
    CONCAT(
        'Flight ', flight_number,
        ' from ', origin_city, ' (', origin, ')',
        ' to ', destination_city, ' (', destination, ')',
        ', departs ', departure_time,
        ', arrives ', arrival_time,
        ', ', aircraft,
        '. Seats left: ',
        CONCAT_WS(', ',
            'economy ' || CAST(seats_economy AS STRING),
            'premium ' || CAST(seats_premium AS STRING),
            'business ' || CAST(seats_business AS STRING)),
        '.'
    ) AS content
FROM flight_seats;

CREATE TEMPORARY VIEW flight_embedded AS
SELECT
    *,
    r.embedding AS embedding,
    -- CONCAT is NULL when any column is: such a flight has no text to embed.
    IF(TRIM(content) IS NULL OR TRIM(content) = '',
        'no text to embed: a column of the description (flight_number, cities, airports, '
            || 'times, aircraft, seats) is NULL or empty; fix the inventory record',
        r.error) AS problem
FROM (
    SELECT *, EMBED_RESULT(NULLIF(TRIM(content), '')) AS r
    FROM flight_docs
);

INSERT INTO flights_vectors (
    flight_id, content, embedding, flight_number, origin, destination, departure_time,
    arrival_time, departure_ts, seats_left, cabins, seats_economy, seats_premium,
    seats_business, embed_error, `topic`
)
SELECT
    flight_id,
    content,
    embedding,
    flight_number,
    origin,
    destination,
    departure_time,
    arrival_time,
    departure_ts,
    seats_left,
    open_cabins,
    seats_economy,
    seats_premium,
    seats_business,
    problem,
    IF(problem IS NULL, '${VECTOR_TOPIC}', '${DEAD_LETTER_TOPIC}')
FROM flight_embedded
UNION ALL
SELECT
    CONCAT('raw@', CAST(kafka_partition AS STRING), ':', CAST(kafka_offset AS STRING)),
    payload, CAST(NULL AS ARRAY<FLOAT>), CAST(NULL AS STRING), CAST(NULL AS STRING),
    CAST(NULL AS STRING), CAST(NULL AS STRING), CAST(NULL AS STRING), CAST(NULL AS BIGINT),
    CAST(NULL AS INT), CAST(NULL AS ARRAY<STRING>), CAST(NULL AS INT), CAST(NULL AS INT),
    CAST(NULL AS INT),
    IF(payload IS JSON OBJECT, 'the inventory record has no flight_id',
        'the inventory record is not a JSON object: fix or delete it at the source'),
    '${DEAD_LETTER_TOPIC}'
FROM flight_inventory_raw
WHERE payload IS NOT NULL
  AND (NOT (payload IS JSON OBJECT) OR JSON_VALUE(payload, '$.flight_id') IS NULL)
ON CONFLICT DO DEDUPLICATE;
