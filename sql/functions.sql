-- flink-rag functions: registers the Python UDFs of the `flink_rag.udfs` package.
--
--   EMBED(text)                       -> ARRAY<FLOAT>            (vectorized)
--   EMBED_RESULT(text)                -> ROW<embedding ARRAY<FLOAT>, error STRING>
--   VECTOR_LOOKUP(store, query, k, filter)
--       -> TABLE(doc_id, score, content, metadata, error)     (LEFT JOIN LATERAL TABLE ... ON TRUE)
--   VECTOR_LOOKUP_JSON(store, query, k, filter) -> STRING      {"hits":[...],"error":...}
--       (vectorized: a batch's lookups overlap, 'flink-rag.store.<name>.concurrency' at a time)
--   VECTOR_HITS(lookup_json)
--       -> TABLE(doc_id, score, content, metadata, error)     rows per hit with overlapping lookups:
--       compute VECTOR_LOOKUP_JSON(...) AS answer in a view or subquery, then
--       LEFT JOIN LATERAL TABLE(VECTOR_HITS(a.answer)) AS h(...) ON TRUE
--       (PyFlink cannot nest a vectorized function inside a Python table function)
--   LLM_COMPLETE(prompt [, system])   -> ROW<text, error, prompt_tokens, completion_tokens, latency_ms>
--   LLM_COMPLETE_JSON(prompt, system, json_schema) -> same ROW, answer validated against the schema
--   RAG_PROMPT(template, context_json, budget_tokens) -> STRING
--
-- Reads nothing, writes nothing: it only adds temporary system functions to the session.
--
-- PyFlink 2.3.0 caveats: a vectorized function (EMBED*, LLM_COMPLETE*) needs at least one
-- column argument - a call on literals only (EMBED('text')) fails in Flink's Arrow writer;
-- and TableResult.collect() in Python cannot read a ROW holding a NULL array, so select its
-- fields (r.embedding, r.error) rather than the whole EMBED_RESULT row.
--
-- Configuration. The Python workers see only Flink's *global job parameters*, so the
-- `flink-rag.*` keys (see the README) go into `pipeline.global-job-parameters`; a plain
-- `SET 'flink-rag.llm.model' = '...'` is NOT seen by the UDFs. Map syntax: entries split on
-- ',' and each entry on ':'; quote an entry as a whole with '...' and its key and value with
-- "..." (needed for URLs). Inside a SQL string literal every ' is doubled:
--
--   SET 'pipeline.global-job-parameters' =
--     '''"flink-rag.llm.base-url":"http://127.0.0.1:18000/v1"'',''"flink-rag.llm.model":"smollm2"'',''"flink-rag.store.flights.filter-fields":"origin,destination"''';
--
-- One SET holds all keys (a second SET replaces the first). Unset keys fall back to the
-- environment (FLINK_RAG_LLM_BASE_URL, FLINK_RAG_EMBED_PROVIDER, ...), then to defaults.
-- Secrets never go here: API keys come from OPENAI_API_KEY (or the variable named by
-- `flink-rag.<section>.api-key-env`, or <VAR>_FILE), MongoDB from MONGODB_URI (or its _FILE),
-- all read in the worker's environment.
--
-- From Python (the package installed where the driver and the workers run):
--
--   from flink_rag.udfs import configure, register
--   configure(t_env, {"flink-rag.llm.model": "smollm2"})   # quotes the map option for you
--   register(t_env)                                          # runs this file
--
-- From the SQL client: install the package into the interpreter(s) named by
-- `python.executable` (workers) and `python.client.executable` (the client validates the
-- functions), then run this file as the init file and the job after it:
--
--   sql-client.sh -pyexec /path/to/venv/bin/python -pyclientexec /path/to/venv/bin/python \
--       -i functions.sql -f my_job.sql
--
-- my_job.sql starts with the SET 'pipeline.global-job-parameters' above. On a standalone
-- session cluster, install the package on every TaskManager host and set
-- `python.executable` / `python.client.executable` in the cluster's config.yaml; the same two
-- files then run unchanged (`-pyfs` can ship extra Python files or archives to the workers).

CREATE TEMPORARY SYSTEM FUNCTION IF NOT EXISTS EMBED
    AS 'flink_rag.udfs.embed.EMBED' LANGUAGE PYTHON;

CREATE TEMPORARY SYSTEM FUNCTION IF NOT EXISTS EMBED_RESULT
    AS 'flink_rag.udfs.embed.EMBED_RESULT' LANGUAGE PYTHON;

CREATE TEMPORARY SYSTEM FUNCTION IF NOT EXISTS VECTOR_LOOKUP
    AS 'flink_rag.udfs.vector_lookup.VECTOR_LOOKUP' LANGUAGE PYTHON;

CREATE TEMPORARY SYSTEM FUNCTION IF NOT EXISTS VECTOR_LOOKUP_JSON
    AS 'flink_rag.udfs.vector_lookup.VECTOR_LOOKUP_JSON' LANGUAGE PYTHON;

CREATE TEMPORARY SYSTEM FUNCTION IF NOT EXISTS VECTOR_HITS
    AS 'flink_rag.udfs.vector_lookup.VECTOR_HITS' LANGUAGE PYTHON;

CREATE TEMPORARY SYSTEM FUNCTION IF NOT EXISTS LLM_COMPLETE
    AS 'flink_rag.udfs.llm_complete.LLM_COMPLETE' LANGUAGE PYTHON;

CREATE TEMPORARY SYSTEM FUNCTION IF NOT EXISTS LLM_COMPLETE_JSON
    AS 'flink_rag.udfs.llm_complete.LLM_COMPLETE_JSON' LANGUAGE PYTHON;

CREATE TEMPORARY SYSTEM FUNCTION IF NOT EXISTS RAG_PROMPT
    AS 'flink_rag.udfs.prompt.RAG_PROMPT' LANGUAGE PYTHON;
