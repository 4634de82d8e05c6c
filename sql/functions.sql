-- flink-rag functions: registers the Python UDFs of the `flink_rag.udfs` package.
--
--   EMBED(text [, profile])           -> ARRAY<FLOAT>            (vectorized)
--   EMBED_RESULT(text [, profile])    -> ROW<embedding ARRAY<FLOAT>, error STRING>
--   VECTOR_LOOKUP(store, query, k, filter)
--       -> TABLE(doc_id, score, content, metadata, error)     (LEFT JOIN LATERAL TABLE ... ON TRUE)
--   VECTOR_LOOKUP_JSON(store, query, k, filter) -> STRING      {"hits":[...],"error":...}
--       (vectorized: a batch's lookups overlap, 'flink-rag.store.<name>.concurrency' at a time)
--   VECTOR_LOOKUP(store, query, k, filter, text), VECTOR_LOOKUP_JSON(..., text): with a query
--       text (not NULL, not empty) a hybrid lookup, $rankFusion of the vector search and a
--       full-text $search on the store's text-index, the filter on both sides; score = the
--       reciprocal rank fusion's, metadata.scoreDetails = each side's rank and weight
--   VECTOR_HITS(lookup_json)
--       -> TABLE(doc_id, score, content, metadata, error)     rows per hit with overlapping lookups:
--       compute VECTOR_LOOKUP_JSON(...) AS answer in a view or subquery, then
--       LEFT JOIN LATERAL TABLE(VECTOR_HITS(a.answer)) AS h(...) ON TRUE
--       (PyFlink cannot nest a vectorized function inside a Python table function)
--   LLM_COMPLETE(prompt [, system [, profile]])
--                                     -> ROW<text, error, prompt_tokens, completion_tokens, latency_ms,
--                                        finish_reason> (finish_reason 'length': cut at max-tokens)
--   LLM_COMPLETE_JSON(prompt, system, json_schema [, context_json [, profile]])
--       -> same ROW, answer validated against the schema; with context_json (VECTOR_LOOKUP_JSON's
--       output, or '[' || a || ',' || b || ']' for several lookups) a schema property
--       {"x-citations": true} becomes an array of the ids of the passages in the prompt, and a
--       citation of anything else is a row error
--   LLM_COMPLETE_CITED(prompt, system, json_schema, context_json [, profile])
--       -> same ROW plus provenance STRING: {"ids":[...],"scores":[...],"model":...,
--       "prompt_sha256":...} (the passages in the prompt; prompt_sha256 = SHA256(prompt))
--   RAG_PROMPT(template, context_json, budget_tokens) -> STRING
--       (one line per passage, '[id] text': the id is what an answer cites)
--   CHUNK(doc_id, text, max_tokens, overlap)
--       -> TABLE(chunk_id, position, content, tokens, error)   (LATERAL TABLE; ids <doc_id>#<n>)
--
-- Reads nothing, writes nothing: it only adds temporary system functions to the session.
--
-- PyFlink 2.3.0 caveats: a vectorized function (EMBED*, VECTOR_LOOKUP_JSON) needs at least one
-- column argument - a call on literals only (EMBED('text')) fails in Flink's Arrow writer;
-- and TableResult.collect() in Python cannot read a ROW holding a NULL array, so select its
-- fields (r.embedding, r.error) rather than the whole EMBED_RESULT row.
--
-- Configuration: one SET per option. The Python workers see only Flink's global job
-- parameters, so each `flink-rag.<section>.<key>` option is set under that prefix:
--
--   SET 'pipeline.global-job-parameters.flink-rag.llm.base-url' = 'http://127.0.0.1:18000/v1';
--   SET 'pipeline.global-job-parameters.flink-rag.llm.model' = 'smollm2';
--   SET 'pipeline.global-job-parameters.flink-rag.store.flights.filter-fields' = 'origin,destination';
--
-- Sections and keys (defaults in connectors/settings.py):
--   flink-rag.embed.*  provider (local|openai), model, base-url, connection, dimensions,
--                      max-batch-inputs, max-batch-tokens, max-input-tokens,
--                      on-overlong (truncate|error), concurrency, timeout, max-retries,
--                      on-error (null|fail), cache-dir (default ~/.cache/flink-rag/responses;
--                      off disables), cache-max-bytes, local-threads, rate-limit-wait
--   flink-rag.llm.*    base-url, model, connection, temperature, max-tokens, seed, timeout,
--                      max-retries, concurrency, on-error, cache-dir, requests-per-minute,
--                      rate-limit-wait, structured-output (auto|json_schema|json_object),
--                      cache-max-bytes, outage-wait (s an outage is waited out, default 120),
--                      adaptive-concurrency (true: calls in flight follow the provider's
--                      rate-limit headers and 429s), min-concurrency (default 1),
--                      tokens-per-minute, tokens-per-hour, tokens-per-day, tokens-per-job
--                      (enforced budgets, per worker process: a call reserves its prompt's
--                      tokens + max-tokens before it is sent, settles with its usage after),
--                      budget-wait (s a row waits for a spent budget, default 60, within the
--                      row's deadline), on-budget (error: the row's error starts with
--                      'budget_exhausted', the rebooking job dead-letters it with that reason;
--                      fail: the job fails). A connection's tpm / tokens-per-* cap them (SQL can
--                      lower a budget, never raise it) and are shared by its profiles.
--                      spend-per-hour, spend-per-day, spend-per-job (currency, enforced the same
--                      way) with price-per-1k-prompt and price-per-1k-completion (the user's
--                      prices of the profile's model, required with any spend-per-*)
--   flink-rag.store.<name>.*  database, collection, index, path, mode (auto|atlas|scan),
--                      similarity, filter-fields, fields, content-field, num-candidates,
--                      min-score, exact, dimensions, timeout, scan-cache-ttl, outage-wait,
--                      concurrency (lookups of a batch in flight, default 8), connection,
--                      text-index (Atlas Search index for hybrid lookups), text-paths
--                      (default: content-field), vector-weight, text-weight (default 1 each,
--                      >= 0, not both 0), hybrid-candidates (hits each side ranks, default 4 x k)
--   flink-rag.stores   store profiles a VECTOR_LOOKUP worker opens and checks at start
--
-- Model profiles: `flink-rag.llm.<profile>.<key>` and `flink-rag.embed.<profile>.<key>` take
-- the same keys as the unnamed section, which is the profile `default`. A profile is declared
-- by its options, is its own options plus the environment's fallbacks (it inherits nothing from
-- the unnamed options) and may name its own connection. A call picks one with its last
-- argument (NULL: the default); to name a profile without context pass NULL. With
-- `flink-rag.llm.escalation.connection` naming an operator's connection (e.g. 'openai-prod'):
--
--   SET 'pipeline.global-job-parameters.flink-rag.llm.escalation.model' = 'gpt-4o';
--   LLM_COMPLETE(prompt, system, 'escalation')
--   LLM_COMPLETE_JSON(prompt, system, schema, CAST(NULL AS STRING), 'escalation')
--   EMBED(text, 'queries')
--
-- Profile names are lower-case letters, digits, '-' and '_', and must not read as an option key
-- (`flink-rag.llm.modle.model` is refused as a typo of `model`). A call naming an undeclared
-- profile gets a row error listing the declared ones (the job fails with on-error=fail).
-- A named profile's metrics are in the group flink_rag.profile.<name>.
-- Lists are separated by ',' or ';'. A key the functions don't know (a typo) or a bad value
-- fails the job when it starts, naming the key and the closest valid one. Unset keys fall
-- back to the environment (FLINK_RAG_LLM_BASE_URL, FLINK_RAG_EMBED_PROVIDER, ...), then to
-- defaults. Do not also SET 'pipeline.global-job-parameters' as a whole (the map form): Flink
-- then drops every per-key SET. A plain `SET 'flink-rag.llm.model'` is a table option the
-- UDFs never see.
--
-- Secrets never go here: `connection` names one the cluster's operator defines (the default:
-- OPENAI_API_KEY_FILE / MONGODB_URI_FILE in the environment of the Flink processes; more in
-- the file named by FLINK_RAG_CONNECTIONS). A key goes only to its connection's endpoint; an
-- option that tries to carry a secret is refused.
--
-- From Python (the package installed where the driver and the workers run):
--
--   from flink_rag.udfs import configure, register
--   configure(t_env, {"flink-rag.llm.model": "smollm2"})   # the same per-key job parameters
--   register(t_env)                                          # runs this file
--
-- From the SQL client: install the package into the interpreter(s) named by
-- `python.executable` (workers) and `python.client.executable` (the client validates the
-- functions), or ship it with -pyfs; run this file as the init file and the job after it:
--
--   sql-client.sh -pyexec /path/to/venv/bin/python -pyclientexec /path/to/venv/bin/python \
--       -i functions.sql -f my_job.sql
--
-- my_job.sql starts with its per-key SETs, as above.

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

CREATE TEMPORARY SYSTEM FUNCTION IF NOT EXISTS LLM_COMPLETE_CITED
    AS 'flink_rag.udfs.llm_complete.LLM_COMPLETE_CITED' LANGUAGE PYTHON;

CREATE TEMPORARY SYSTEM FUNCTION IF NOT EXISTS RAG_PROMPT
    AS 'flink_rag.udfs.prompt.RAG_PROMPT' LANGUAGE PYTHON;

CREATE TEMPORARY SYSTEM FUNCTION IF NOT EXISTS CHUNK
    AS 'flink_rag.udfs.chunk.CHUNK' LANGUAGE PYTHON;
