"""The interface every embedder implements."""

from __future__ import annotations

from abc import ABC
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from shared.errors import InvalidField

if TYPE_CHECKING:
    from PIL import Image


def pick_device(preference: str) -> torch.device:
    """``auto`` → CUDA when available else CPU; ``cpu``/``cuda`` as asked."""
    if preference == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(preference)


class Embedder(ABC):
    """Turns a batch of inputs of one modality into L2-normalised float32 vectors.

    Subclasses override the ``embed_*`` methods of the modalities they list in
    ``modalities``; the others refuse with :class:`InvalidField` on ``data``, so a
    request that slipped past the API's modality check still fails as a client error.
    An image embedder may also override ``preprocess_image`` and ``embed_preprocessed``,
    so the worker's loader threads do its per-image work ahead of the forward pass.

    Attributes:
        id: The embedder id of the catalog.
        dim: Size of the vectors.
        modalities: Input kinds accepted (``"text"``, ``"image"``, ``"video"``).
        image_size: Side of the square the embedder crops images to, so decoders can
            downscale large images before handing them over; None for text-only ones.
    """

    id: str
    dim: int
    modalities: tuple[str, ...]
    image_size: int | None = None

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        """Embed texts; returns an array of shape ``(len(texts), dim)``.

        Raises:
            InvalidField: The embedder does not embed text.
        """
        raise InvalidField("data", f"embedder {self.id!r} does not embed text")

    def embed_images(self, images: Sequence[Image.Image]) -> np.ndarray:
        """Embed RGB images; returns float32 unit vectors of shape ``(len(images), dim)``.

        Raises:
            InvalidField: The embedder does not embed images.
        """
        raise InvalidField("data", f"embedder {self.id!r} does not embed images")

    def preprocess_image(self, image: Image.Image) -> Any:
        """The per-image CPU work that can run ahead of the forward pass, in a loader thread.

        The default does nothing: :meth:`embed_preprocessed` then gets the images
        themselves and hands them to :meth:`embed_images` (CLIP-style embedders, whose
        processor works on a whole batch).
        """
        return image

    def embed_preprocessed(self, items: Sequence[Any]) -> np.ndarray:
        """Embed what :meth:`preprocess_image` returned; same vectors as ``embed_images``.

        Raises:
            InvalidField: The embedder does not embed images.
        """
        return self.embed_images(items)
