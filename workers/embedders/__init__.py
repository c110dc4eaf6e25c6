"""Embedders: pre-trained models turning inputs into vectors, loaded once per process."""

from workers.embedders.base import Embedder
from workers.embedders.registry import EmbedderRegistry

__all__ = ["Embedder", "EmbedderRegistry"]
