-- Ingest flight inventory for alternative-flight lookup.
--
-- Reads:  Kafka topic ${FLIGHT_TOPIC} (compacted, key = flight_id), one record per
--         scheduled flight with seat inventory per cabin.
--         Bounded: from the earliest offset to the latest offset when the job starts;
--         runs in batch mode, latest record per flight_id.
-- Does:   describes each flight in one sentence (route, times, aircraft, seats left per
--         cabin) -> EMBED(description) -> one row per flight with the filter fields.
-- Writes: the rows of the final SELECT; the ingest runner (flink_rag.airline.ingest)
--         upserts them into MongoDB collection `flights` with _id = flight_id
--         (ReplaceOne upsert): re-running adds no documents and refreshes seats left.
-- Filter fields (declared in the vector index): origin, destination, departure_ts
-- (epoch millis, UTC), seats_left (all cabins), cabins (cabins that still have seats).

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
    cabins ROW<
        economy ROW<capacity INT, seats_left INT>,
        premium ROW<capacity INT, seats_left INT>,
        business ROW<capacity INT, seats_left INT>
    >,
    seats_left INT,
    status STRING,
    kafka_offset BIGINT METADATA FROM 'offset' VIRTUAL
) WITH (
    'connector' = 'kafka',
    'topic' = '${FLIGHT_TOPIC}',
    'properties.bootstrap.servers' = '${KAFKA_BOOTSTRAP_SERVERS}',
    'properties.group.id' = 'flink-rag-ingest-flights',
    'scan.startup.mode' = 'earliest-offset',
    'scan.bounded.mode' = 'latest-offset',
    'format' = 'json',
    'json.ignore-parse-errors' = 'true'
);

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
    cabins.economy.seats_left AS seats_economy,
    cabins.premium.seats_left AS seats_premium,
    cabins.business.seats_left AS seats_business,
    CONCAT(
        'Flight ', flight_number,
        ' from ', origin_city, ' (', origin, ')',
        ' to ', destination_city, ' (', destination, ')',
        ', departs ', departure_time,
        ', arrives ', arrival_time,
        ', ', aircraft,
        '. Seats left: ',
        CONCAT_WS(', ',
            'economy ' || CAST(cabins.economy.seats_left AS STRING),
            'premium ' || CAST(cabins.premium.seats_left AS STRING),
            'business ' || CAST(cabins.business.seats_left AS STRING)),
        '.'
    ) AS content
FROM (
    -- A compacted topic may still hold older copies of a key: keep the latest.
    SELECT
        *,
        ROW_NUMBER() OVER (PARTITION BY flight_id ORDER BY kafka_offset DESC) AS copy_rank
    FROM flight_inventory_src
    WHERE flight_id IS NOT NULL
)
WHERE copy_rank = 1
  AND status = 'SCHEDULED';

SELECT
    flight_id AS _id,
    content,
    EMBED(content) AS embedding,
    flight_id,
    flight_number,
    origin,
    destination,
    departure_time,
    arrival_time,
    departure_ts,
    seats_left,
    ARRAY_REMOVE(
        ARRAY[
            IF(seats_economy > 0, 'economy', CAST(NULL AS STRING)),
            IF(seats_premium > 0, 'premium', CAST(NULL AS STRING)),
            IF(seats_business > 0, 'business', CAST(NULL AS STRING))
        ],
        CAST(NULL AS STRING)
    ) AS cabins,
    seats_economy,
    seats_premium,
    seats_business
FROM flight_docs;
