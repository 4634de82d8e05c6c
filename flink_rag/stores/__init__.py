"""The vector stores' administration: index admin (`flink-rag index`, index_cli) and the Kafka
Connect MongoDB sink that writes ingestion topics into collections (`flink-rag store`, sink
and sink_cli)."""
