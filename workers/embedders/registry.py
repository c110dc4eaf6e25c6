"""Loads each embedder once per worker process, on first use, thread-safely."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, cast

import torch

from shared.embedders import EmbedderSpec, embedder_catalog
from shared.errors import InvalidField
from shared.settings import Settings
from workers.embedders.backends import Exportable, select_backend
from workers.embedders.base import Embedder, pick_device

Loader = Callable[[EmbedderSpec, torch.device, Settings], Embedder]


def _batching(settings: Settings) -> dict[str, Any]:
    return {"batching": settings.embed_batching, "linger_s": settings.embed_linger_ms / 1000}


def _minilm(spec: EmbedderSpec, device: torch.device, settings: Settings) -> Embedder:
    from workers.embedders.text import TransformerTextEmbedder, minilm_path

    return TransformerTextEmbedder(spec.id, minilm_path(), device, **_batching(settings))


def _efficientnet(spec: EmbedderSpec, device: torch.device, settings: Settings) -> Embedder:
    from workers.embedders.image import EfficientNetLiteEmbedder

    return EfficientNetLiteEmbedder(spec.id, device, **_batching(settings))


def _clip(spec: EmbedderSpec, device: torch.device, settings: Settings) -> Embedder:
    from workers.embedders.clip import ClipEmbedder

    return ClipEmbedder(spec.id, spec.source or "", device)


# By the catalog's `kind`; imports stay inside so a worker loads only what it uses.
LOADERS: dict[str, Loader] = {
    "minilm": _minilm,
    "efficientnet-lite0": _efficientnet,
    "clip": _clip,
}
# Kinds whose network can run in ONNX Runtime on CPU (HEADSTART_CPU_BACKEND).
EXPORTABLE = frozenset({"minilm", "efficientnet-lite0"})


class EmbedderRegistry:
    """Process-wide cache of loaded embedders."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.device = pick_device(settings.device)
        self.catalog = embedder_catalog(settings)
        self._loaded: dict[str, Embedder] = {}
        self._lock = threading.Lock()

    def get(self, embedder_id: str) -> Embedder:
        """Return the loaded embedder, loading it the first time."""
        embedder = self._loaded.get(embedder_id)
        if embedder is not None:
            return embedder
        spec = self.catalog.get(embedder_id)
        if spec is None or spec.kind not in LOADERS:
            raise InvalidField("embedder", f"unknown embedder {embedder_id!r}")
        with self._lock:
            if embedder_id not in self._loaded:
                embedder = LOADERS[spec.kind](spec, self.device, self.settings)
                if spec.kind in EXPORTABLE:
                    # Before it is published: no task sees the backend change.
                    select_backend(cast(Exportable, embedder), self.settings.cpu_backend,
                                   self.device, self.settings.onnx_cache_dir,
                                   self.settings.onnx_threads)
                self._loaded[embedder_id] = embedder
            return self._loaded[embedder_id]
