"""Loads each embedder once per worker process, on first use, thread-safely."""

from __future__ import annotations

import threading
from collections.abc import Callable

import torch

from shared.embedders import EMBEDDERS
from shared.errors import InvalidField
from workers.embedders.base import Embedder, pick_device
from workers.embedders.text import TransformerTextEmbedder, minilm_path

Loader = Callable[[torch.device], Embedder]

LOADERS: dict[str, Loader] = {
    "all-minilm-l6-v2": lambda device: TransformerTextEmbedder(
        "all-minilm-l6-v2", minilm_path(), device
    ),
}


class EmbedderRegistry:
    """Process-wide cache of loaded embedders."""

    def __init__(self, device: str = "auto") -> None:
        self.device = pick_device(device)
        self._loaded: dict[str, Embedder] = {}
        self._lock = threading.Lock()

    def get(self, embedder_id: str) -> Embedder:
        """Return the loaded embedder, loading it the first time."""
        embedder = self._loaded.get(embedder_id)
        if embedder is not None:
            return embedder
        if embedder_id not in EMBEDDERS or embedder_id not in LOADERS:
            raise InvalidField("embedder", f"unknown embedder {embedder_id!r}")
        with self._lock:
            if embedder_id not in self._loaded:
                self._loaded[embedder_id] = LOADERS[embedder_id](self.device)
            return self._loaded[embedder_id]
