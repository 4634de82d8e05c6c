-- Index your own documents: any upsert table -> CHUNK -> EMBED -> upsert-kafka topic
-- ${VECTOR_TOPIC} -> Kafka Connect MongoDB sink (`flink-rag store sink create --store docs`)
-- -> MongoDB collection `docs`. Streaming: inserts, updates and deletes in the source reach
-- MongoDB within seconds, until the job is cancelled.
--
-- Runs after kafka_tables.sql (the table shapes). Placeholders (e.g. `envsubst`):
-- ${DOCS_TOPIC} (the source, key = doc_id, JSON value {doc_id, title, body, category}, a
-- tombstone deletes the document);
-- ${VECTOR_TOPIC} (docs_vectors, read by the sink connector); ${DEAD_LETTER_TOPIC}
-- (docs_vectors_dead_letter: chunks that could not be chunked or embedded, with the reason).
-- Writes one record per chunk, key `<doc_id>#<n>`; a document edited to fewer chunks, or
-- deleted, retracts its chunks (tombstones). A chunk whose CHUNK or EMBED failed goes to the
-- dead-letter topic with the reason and never reaches MongoDB without a vector (an update
-- that fails to embed retracts the chunk's old version); so does a chunk without text, and a
-- source record that is not a JSON object (key raw@<partition>:<offset>). See sql/ingest_policies.sql for the
-- changelog details.

SET 'execution.checkpointing.interval' = '10 s';
SET 'pipeline.global-job-parameters.flink-rag.store.docs.filter-fields' = 'category';
SET 'pipeline.global-job-parameters.flink-rag.store.docs.fields' = 'doc_id,title,category';

CREATE TEMPORARY TABLE docs (
    doc_id STRING,
    title STRING,
    body STRING,
    category STRING,
    PRIMARY KEY (doc_id) NOT ENFORCED
) WITH ('topic' = '${DOCS_TOPIC}') LIKE kafka_upsert_json;

-- The same topic record by record: what the upsert table skips as unreadable is dead-lettered.
CREATE TEMPORARY TABLE docs_raw WITH ('topic' = '${DOCS_TOPIC}') LIKE kafka_records;

CREATE TEMPORARY TABLE docs_vectors (
    chunk_id STRING,
    doc_id STRING,
    title STRING,
    category STRING,
    PRIMARY KEY (chunk_id) NOT ENFORCED
) WITH ('topic' = '${VECTOR_TOPIC};${DEAD_LETTER_TOPIC}') LIKE kafka_vectors;

CREATE TEMPORARY VIEW docs_embedded AS
SELECT
    *,
    COALESCE(chunk_error, IF(TRIM(content) IS NULL OR TRIM(content) = '',
        'no text to embed: the chunk text is NULL or empty; fix the source record',
        r.error)) AS problem,
    r.embedding AS embedding
FROM (
    SELECT
        COALESCE(c.chunk_id, d.doc_id) AS chunk_id,
        c.content,
        d.doc_id,
        d.title,
        d.category,
        c.error AS chunk_error,
        EMBED_RESULT(NULLIF(TRIM(c.content), '')) AS r
    FROM docs AS d,
        LATERAL TABLE(CHUNK(d.doc_id, d.body, 128, 24))
            AS c(chunk_id, `position`, content, tokens, error)
);

INSERT INTO docs_vectors (
    chunk_id, content, embedding, doc_id, title, category, embed_error, `topic`
)
SELECT
    chunk_id,
    content,
    embedding,
    doc_id,
    title,
    category,
    problem,
    IF(problem IS NULL, '${VECTOR_TOPIC}', '${DEAD_LETTER_TOPIC}')
FROM docs_embedded
UNION ALL
SELECT
    CONCAT('raw@', CAST(kafka_partition AS STRING), ':', CAST(kafka_offset AS STRING)),
    payload, CAST(NULL AS ARRAY<FLOAT>), CAST(NULL AS STRING), CAST(NULL AS STRING),
    CAST(NULL AS STRING),
    IF(payload IS JSON OBJECT, 'the document record has no doc_id',
        'the document record is not a JSON object: fix or delete it at the source'),
    '${DEAD_LETTER_TOPIC}'
FROM docs_raw
WHERE payload IS NOT NULL
  AND (NOT (payload IS JSON OBJECT) OR JSON_VALUE(payload, '$.doc_id') IS NULL)
ON CONFLICT DO DEDUPLICATE;
