"""Which embedder a profile names. A module of its own because the providers import the
`Embedder` contract from connectors/embedding.py: the factory there made an import cycle."""

from __future__ import annotations

from .embedding import Embedder
from .errors import ConfigError
from .metrics import Metrics, NullMetrics
from .settings import EmbedSettings


def create_embedder(settings: EmbedSettings, metrics: Metrics | None = None) -> Embedder:
    """The embedder `settings.provider` names (not opened yet)."""
    if settings.provider == "local":
        from .local_embedding import SentenceTransformerEmbedder

        return SentenceTransformerEmbedder(settings)
    if settings.provider == "openai":
        from .openai_embedding import OpenAIEmbedder

        return OpenAIEmbedder(settings, metrics or NullMetrics())
    raise ConfigError(
        f"embed provider {settings.provider!r} is unknown; set flink-rag.embed.provider "
        "to 'local' or 'openai'"
    )
