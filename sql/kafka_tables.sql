-- The Kafka table shapes of the pipelines, written once. Never read or written
-- themselves: each pipeline table is `CREATE TEMPORARY TABLE t (...) WITH ('topic' = ...)
-- LIKE <shape>` (LIKE's default, INCLUDING ALL OVERWRITING OPTIONS), stating only its columns,
-- its topic and what differs. Run before a pipeline file (`sql-client.sh -i functions.sql -i
-- kafka_tables.sql -f rebooking.sql`; `flink-rag sql-script` puts all three in one script).
-- IF NOT EXISTS: several pipelines may share one session (one job for both ingestions).
-- Placeholder: ${KAFKA_BOOTSTRAP_SERVERS}.

-- A topic record by record, as text, with where it stands (dead-letter keys use it), from
-- the earliest offset: what an upsert table skips as unreadable is still seen here.
CREATE TEMPORARY TABLE IF NOT EXISTS kafka_records (
    payload STRING,
    kafka_partition INT METADATA FROM 'partition' VIRTUAL,
    kafka_offset BIGINT METADATA FROM 'offset' VIRTUAL
) WITH (
    'connector' = 'kafka',
    'properties.bootstrap.servers' = '${KAFKA_BOOTSTRAP_SERVERS}',
    'properties.auto.offset.reset' = 'earliest',
    'scan.startup.mode' = 'earliest-offset',
    'format' = 'raw'
);

-- A compacted topic as a table: key = the primary key as text, value = the row as JSON.
-- As a source it skips a value that is not a JSON object (else one bad record fails the job;
-- the `kafka_records` reader of the same topic dead-letters it); as a sink the option is unused.
CREATE TEMPORARY TABLE IF NOT EXISTS kafka_upsert_json
WITH (
    'connector' = 'upsert-kafka',
    'properties.bootstrap.servers' = '${KAFKA_BOOTSTRAP_SERVERS}',
    'key.format' = 'raw',
    'value.format' = 'json',
    'value.fields-include' = 'ALL',
    'value.json.ignore-parse-errors' = 'true'
);

-- A store's vector records, read by its MongoDB sink connector: the text, its vector (or why
-- there is none) and the store's own fields, which a derived table adds after these (its
-- INSERT names its columns). Each row's writable `topic` metadata picks `<store>_vectors` or
-- its dead-letter topic (both named in 'topic'), so EMBED runs once per row; null fields are
-- left out of the document.
CREATE TEMPORARY TABLE IF NOT EXISTS kafka_vectors (
    content STRING,
    embedding ARRAY<FLOAT>,
    embed_error STRING,
    `topic` STRING METADATA
)
WITH ('value.fields-include' = 'EXCEPT_KEY', 'value.json.encode.ignore-null-fields' = 'true')
LIKE kafka_upsert_json;
