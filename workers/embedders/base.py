"""The interface every embedder implements."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence

import numpy as np
import torch


def pick_device(preference: str) -> torch.device:
    """``auto`` → CUDA when available else CPU; ``cpu``/``cuda`` as asked."""
    if preference == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(preference)


class Embedder(ABC):
    """Turns a batch of inputs of one modality into L2-normalised float32 vectors."""

    id: str
    dim: int
    modalities: tuple[str, ...]

    @abstractmethod
    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        """Embed texts; returns an array of shape ``(len(texts), dim)``."""
