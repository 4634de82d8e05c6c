-- Ingest policy passages for retrieval.
--
-- Reads:  Kafka topic ${POLICY_TOPIC} (compacted, key = passage_id), one policy passage
--         per record, already chunked by flink_rag.airline.chunking (stable passage ids).
--         Bounded: from the earliest offset to the latest offset when the job starts;
--         runs in batch mode, latest record per passage_id.
-- Does:   EMBED(text) -> one row per passage with the MongoDB document's fields.
-- Writes: the rows of the final SELECT; the ingest runner (flink_rag.airline.ingest)
--         upserts them into MongoDB collection `policies` with _id = passage_id
--         (ReplaceOne upsert), so re-running adds no documents. The pip package of
--         Flink 2.3 has no MongoDB sink, hence the runner.
-- Store profile `policies` (used by VECTOR_LOOKUP / VECTOR_LOOKUP_JSON and by the
-- index set-up): filter on doc_id, return doc_id/title/section as metadata.

SET 'pipeline.global-job-parameters.flink-rag.store.policies.collection' = 'policies';
SET 'pipeline.global-job-parameters.flink-rag.store.policies.filter-fields' = 'doc_id';
SET 'pipeline.global-job-parameters.flink-rag.store.policies.fields' = 'doc_id,title,section';
SET 'pipeline.global-job-parameters.flink-rag.store.policies.content-field' = 'content';

CREATE TEMPORARY TABLE policy_docs_src (
    passage_id STRING,
    doc_id STRING,
    title STRING,
    section STRING,
    `text` STRING,
    kafka_offset BIGINT METADATA FROM 'offset' VIRTUAL
) WITH (
    'connector' = 'kafka',
    'topic' = '${POLICY_TOPIC}',
    'properties.bootstrap.servers' = '${KAFKA_BOOTSTRAP_SERVERS}',
    'properties.group.id' = 'flink-rag-ingest-policies',
    'scan.startup.mode' = 'earliest-offset',
    'scan.bounded.mode' = 'latest-offset',
    'format' = 'json',
    'json.ignore-parse-errors' = 'true'
);

SELECT
    passage_id AS _id,
    `text` AS content,
    EMBED(`text`) AS embedding,
    doc_id,
    title,
    section
FROM (
    -- A compacted topic may still hold older copies of a key: keep the latest.
    SELECT
        *,
        ROW_NUMBER() OVER (PARTITION BY passage_id ORDER BY kafka_offset DESC) AS copy_rank
    FROM policy_docs_src
    WHERE passage_id IS NOT NULL
)
WHERE copy_rank = 1
  AND `text` IS NOT NULL;
