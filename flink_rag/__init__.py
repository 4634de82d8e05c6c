"""flink-rag: Flink SQL UDFs for embeddings, MongoDB vector lookup and LLM completion."""

__version__ = "0.1.0"
