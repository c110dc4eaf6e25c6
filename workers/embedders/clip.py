"""CLIP-style dual encoders (CLIP, SigLIP, …) through plain ``transformers``.

Texts and images land in one space, so a head trained on images can score texts
and the other way round. Any model with ``get_text_features`` and
``get_image_features`` loads, from a local folder or a hub id.
"""

from __future__ import annotations

import inspect
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from transformers import AutoImageProcessor, AutoModel, AutoTokenizer

from workers.embedders.base import Embedder


def _features(output: object) -> torch.Tensor:
    """The projected embeddings out of a ``get_*_features`` result.

    transformers 4.x returns the tensor itself; 5.x returns a
    ``BaseModelOutputWithPooling`` whose ``pooler_output`` holds the projection.
    """
    if isinstance(output, torch.Tensor):
        return output
    pooled = getattr(output, "pooler_output", None)
    if pooled is None:
        raise TypeError(f"no pooled features in {type(output).__name__}")
    return pooled


class ClipEmbedder(Embedder):
    """Texts and images embedded by a CLIP-style model into one L2-normalised space.

    Args:
        embedder_id: The catalog id this instance answers to.
        source: A local folder (loaded with ``local_files_only``) or a hub id.
        device: Where the model runs.
        batch_size: Inputs per forward pass.
    """

    modalities = ("text", "image", "video")

    def __init__(self, embedder_id: str, source: str, device: torch.device,
                 batch_size: int = 32) -> None:
        self.id = embedder_id
        self.device = device
        self.batch_size = batch_size
        local = {"local_files_only": True} if Path(source).is_dir() else {}
        self.model = AutoModel.from_pretrained(source, **local).to(device).eval()
        self.tokenizer = AutoTokenizer.from_pretrained(source, **local)
        self.processor = AutoImageProcessor.from_pretrained(source, **local)
        config = self.model.config
        text_config = getattr(config, "text_config", config)
        # Tokenizers saved without model_max_length report a huge sentinel: the
        # position table is the real limit.
        positions = getattr(text_config, "max_position_embeddings", None)
        limits = [n for n in (self.tokenizer.model_max_length, positions)
                  if isinstance(n, int) and 0 < n < 1_000_000]
        self.max_tokens = min(limits) if limits else 77
        # SigLIP was trained on texts padded to the full length (it pools the last
        # position, not an eos token); CLIP pools at the eos so any padding works.
        self._pad = "max_length" if "siglip" in str(config.model_type) else True
        # Only pass the tokenizer outputs the text tower takes (some add token_type_ids).
        self._text_inputs = {
            name for name, param in inspect.signature(self.model.get_text_features).parameters.items()
            if param.kind not in (param.VAR_KEYWORD, param.VAR_POSITIONAL)}
        self.image_size = _crop_size(self.processor)
        # One batch at a time: the worker's threads share this model, and the lock
        # covers tokenising too (a fast tokenizer is not safe to call from several
        # threads at once: "Already borrowed").
        self._lock = threading.Lock()
        dim = getattr(config, "projection_dim", None)
        self.dim = int(dim) if dim else int(self._embed_text_batch(["a"]).shape[1])

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        """Embed texts in batches; returns ``(n, dim)`` float32 unit vectors."""
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        # Sorting by length keeps padding small inside each batch.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        for start in range(0, len(order), self.batch_size):
            idx = order[start:start + self.batch_size]
            out[idx] = self._embed_text_batch([texts[i] for i in idx])
        return out

    def embed_images(self, images: Sequence[Image.Image]) -> np.ndarray:
        """Embed RGB images in batches; returns ``(n, dim)`` float32 unit vectors."""
        out = np.empty((len(images), self.dim), dtype=np.float32)
        for start in range(0, len(images), self.batch_size):
            batch = list(images[start:start + self.batch_size])
            # The image processor is stateless: it runs outside the lock so threads
            # overlap their CPU work with another batch's forward pass.
            pixels = self.processor(images=batch, return_tensors="pt")["pixel_values"]
            with self._lock, torch.inference_mode():
                features = _features(self.model.get_image_features(
                    pixel_values=pixels.to(self.device, dtype=self.model.dtype)))
                features = torch.nn.functional.normalize(features.float(), dim=-1)
                out[start:start + len(batch)] = features.cpu().numpy()
        return out

    def _embed_text_batch(self, texts: list[str]) -> np.ndarray:
        with self._lock, torch.inference_mode():
            batch = self.tokenizer(texts, padding=self._pad, truncation=True,
                                   max_length=self.max_tokens, return_tensors="pt")
            inputs = {k: v.to(self.device) for k, v in batch.items() if k in self._text_inputs}
            features = _features(self.model.get_text_features(**inputs))
            features = torch.nn.functional.normalize(features.float(), dim=-1)
        return features.cpu().numpy()


def _crop_size(processor: object) -> int | None:
    """The square side the image processor hands the model, when it says.

    Processors that centre-crop (CLIP) name it in ``crop_size``; those that resize
    straight to the input (SigLIP) in ``size``. Both are dicts in transformers 4.x
    and ``SizeDict`` objects in 5.x.
    """
    attrs = ("crop_size", "size") if getattr(processor, "do_center_crop", False) else ("size",)
    for attr in attrs:
        value = getattr(processor, attr, None)
        for key in ("height", "shortest_edge"):
            side = value.get(key) if isinstance(value, dict) else getattr(value, key, None)
            if isinstance(side, int):
                return side
    return None
