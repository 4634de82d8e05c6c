"""Running any flink-rag SQL: on a local mini-cluster (`minicluster`), on a session cluster
through `sql-client.sh` (`sql_client`, with the Flink REST helper in `rest`), and reading a
pipeline's Kafka output (`output`). Nothing here knows a particular pipeline."""
