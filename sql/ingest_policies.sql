-- Ingest policy passages for retrieval, continuously: every section of the policy documents
-- -> CHUNK -> EMBED -> upsert-kafka topic ${VECTOR_TOPIC} -> (Kafka Connect MongoDB sink)
-- -> MongoDB collection `policies`.
--
-- Runs after kafka_tables.sql (the table shapes). Placeholders: ${POLICY_TOPIC} (compacted
-- source, key = section_id, value = {section_id, doc_id, title, section, text});
-- ${VECTOR_TOPIC} (what the sink connector reads, `flink-rag store sink create --store
-- policies`); ${DEAD_LETTER_TOPIC} (chunks that could not be embedded, with the reason).
--
-- Reads:  ${POLICY_TOPIC} as an upsert table: the latest record per section, a tombstone
--         deletes the section. Streaming: runs until cancelled.
-- Does:   CHUNK(section_id, text, 200, 30) with MiniLM's token count; each chunk's content
--         starts with "<title> - <section>:" so a chunk is understandable alone.
-- Writes: one record per chunk, key = chunk id `<section_id>#<n>` (stable: a re-run or a
--         replay rewrites the same keys). A section edited to fewer chunks retracts the
--         chunks it lost and a deleted section retracts all of its chunks: each becomes a
--         tombstone, and the sink deletes the document. A chunk whose EMBED failed goes to
--         ${DEAD_LETTER_TOPIC} instead (same key, `embed_error` = the reason) and never
--         reaches MongoDB without a vector; the delivery topic is chosen per row through the
--         Kafka sink's writable `topic` metadata, so EMBED runs once per row.
-- Chunk keys come out of a table function, so Flink adds its upsert materializer (state:
--         the latest row per chunk): it turns a chunk's -U/+U into a delete and an insert
--         (the document is briefly absent while it is replaced), and a chunk no longer
--         produced into a delete. So an update whose EMBED fails removes that chunk's old
--         version from MongoDB; the dead-letter record holds the new one.
-- Known issue: a delete arriving alone waits in the vectorized EMBED_RESULT operator until
--         the next source record (PyFlink 2.3; without EMBED it passes at once).
-- Changelog: the upsert source is normalised (ChangelogNormalize), so an update reaches
--         CHUNK and EMBED as -U (old text) and +U (new text). The -U rows only retract and
--         their vectors are discarded by the sink; with the embedding cache
--         (flink-rag.embed.cache-dir / FLINK_RAG_CACHE_DIR) they cost no model call, since
--         that text was embedded when it was inserted.
-- Store profile `policies` (read by VECTOR_LOOKUP and `flink-rag index create`).

SET 'execution.checkpointing.interval' = '10 s';
SET 'pipeline.global-job-parameters.flink-rag.store.policies.collection' = 'policies';
SET 'pipeline.global-job-parameters.flink-rag.store.policies.filter-fields' = 'doc_id';
SET 'pipeline.global-job-parameters.flink-rag.store.policies.fields' = 'doc_id,title,section';
SET 'pipeline.global-job-parameters.flink-rag.store.policies.content-field' = 'content';

CREATE TEMPORARY TABLE policy_sections (
    section_id STRING,
    doc_id STRING,
    title STRING,
    section STRING,
    `text` STRING,
    PRIMARY KEY (section_id) NOT ENFORCED
) WITH ('topic' = '${POLICY_TOPIC}') LIKE kafka_upsert_json;

-- The same topic record by record: what the upsert table skips as unreadable is dead-lettered.
CREATE TEMPORARY TABLE policy_sections_raw WITH ('topic' = '${POLICY_TOPIC}') LIKE kafka_records;

CREATE TEMPORARY TABLE policies_vectors (
    chunk_id STRING,
    doc_id STRING,
    title STRING,
    section STRING,
    section_id STRING,
    `position` INT,
    PRIMARY KEY (chunk_id) NOT ENFORCED
) WITH ('topic' = '${VECTOR_TOPIC};${DEAD_LETTER_TOPIC}') LIKE kafka_vectors;

CREATE TEMPORARY VIEW policy_chunks AS
SELECT
    COALESCE(c.chunk_id, s.section_id) AS chunk_id,
    CONCAT(s.title, ' - ', s.section, ': ', c.content) AS content,
    s.doc_id,
    s.title,
    s.section,
    s.section_id,
    c.`position`,
    c.error AS chunk_error
FROM policy_sections AS s,
    LATERAL TABLE(CHUNK(s.section_id, s.`text`, 200, 30))
        AS c(chunk_id, `position`, content, tokens, error);

CREATE TEMPORARY VIEW policy_embedded AS
SELECT
    *,
    -- CONCAT is NULL when any column is: such a chunk has no text to embed.
    COALESCE(chunk_error, IF(TRIM(content) IS NULL OR TRIM(content) = '',
        'no text to embed: the title, section or text is NULL or empty; '
            || 'fix the source record', r.error)) AS problem,
    r.embedding AS embedding
FROM (
    SELECT *, EMBED_RESULT(NULLIF(TRIM(content), '')) AS r
    FROM policy_chunks
);

INSERT INTO policies_vectors (
    chunk_id, content, embedding, doc_id, title, section, section_id, `position`, embed_error,
    `topic`
)
SELECT
    chunk_id,
    content,
    embedding,
    doc_id,
    title,
    section,
    section_id,
    `position`,
    problem,
    IF(problem IS NULL, '${VECTOR_TOPIC}', '${DEAD_LETTER_TOPIC}')
FROM policy_embedded
UNION ALL
SELECT
    CONCAT('raw@', CAST(kafka_partition AS STRING), ':', CAST(kafka_offset AS STRING)),
    payload, CAST(NULL AS ARRAY<FLOAT>), CAST(NULL AS STRING), CAST(NULL AS STRING),
    CAST(NULL AS STRING), CAST(NULL AS STRING), CAST(NULL AS INT),
    IF(payload IS JSON OBJECT, 'the policy record has no section_id',
        'the policy record is not a JSON object: fix or delete it at the source'),
    '${DEAD_LETTER_TOPIC}'
FROM policy_sections_raw
WHERE payload IS NOT NULL
  AND (NOT (payload IS JSON OBJECT) OR JSON_VALUE(payload, '$.section_id') IS NULL)
ON CONFLICT DO DEDUPLICATE;
