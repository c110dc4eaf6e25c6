"""Image embedders with real weights: EfficientNet-Lite0 (ImageNet) and a tiny random CLIP."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from skimage import data as samples

from shared.errors import InvalidField
from tests.tiny_clip import PROJECTION_DIM, save_tiny_clip
from workers.embedders.clip import ClipEmbedder
from workers.embedders.image import EfficientNetLiteEmbedder, normalise, preprocess

CPU = torch.device("cpu")


def _rgb(array: np.ndarray) -> Image.Image:
    return Image.fromarray(array).convert("RGB")


@pytest.fixture(scope="module")
def effnet() -> EfficientNetLiteEmbedder:
    """The real EfficientNet-Lite0, loaded once for the module."""
    return EfficientNetLiteEmbedder("efficientnet-lite0", CPU)


@pytest.fixture(scope="module")
def images() -> list[Image.Image]:
    """Real photos (coffee, cat), a crop, a grey image and noise: distinct inputs."""
    rng = np.random.default_rng(0)
    cat = _rgb(samples.chelsea())
    return [_rgb(samples.coffee()), cat, cat.crop((100, 20, 400, 280)),
            _rgb(samples.camera()), _rgb(rng.integers(0, 256, (90, 160, 3), dtype=np.uint8))]


# --- EfficientNet-Lite0 -------------------------------------------------------------------


@pytest.mark.parametrize("size", [(600, 400), (300, 451), (10, 5), (224, 224)])
@pytest.mark.parametrize("mode", ["RGB", "L", "RGBA"])
def test_preprocess_shape_dtype(size: tuple[int, int], mode: str) -> None:
    rng = np.random.default_rng(1)
    image = Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8))
    x = preprocess(image.convert(mode))
    # Pixels stay uint8 channels-last: the network normalises them itself.
    assert x.shape == (224, 224, 3) and x.dtype == np.uint8


def test_preprocess_is_resize_shorter_side_then_centre_crop() -> None:
    """The one-resample box equals "shorter side to 256, bicubic, centre 224" up to rounding."""
    image = _rgb(samples.chelsea())  # 451 × 300
    width, height = image.size
    scaled = image.resize((round(width * 256 / height), 256), Image.Resampling.BICUBIC)
    left = (scaled.width - 224) // 2
    expected = np.asarray(scaled.crop((left, 16, left + 224, 240)), dtype=np.float32)
    assert np.abs(preprocess(image).astype(np.float32) - expected).mean() < 0.05 * 128


def test_the_network_normalises_uint8_pixels_to_the_recipe() -> None:
    """Flat colour maps exactly to (p - 127) / 128, channels first."""
    flat = torch.from_numpy(np.stack([preprocess(Image.new("RGB", (300, 200), (0, 127, 255)))]))
    x = normalise(flat)
    assert x.shape == (1, 3, 224, 224) and x.dtype == torch.float32
    # Channels-last memory, as the float arrays of np.stack had: torch's CPU
    # convolutions are faster on it.
    assert x.is_contiguous(memory_format=torch.channels_last)
    np.testing.assert_allclose(x[0, :, 100, 100].numpy(), [-127 / 128, 0, 1], atol=1e-6)


def _old_float_input(image: Image.Image) -> np.ndarray:
    """How preprocessing used to end, in numpy: float32 ``(p - 127) / 128``, channels first."""
    pixels = np.asarray(preprocess(image), dtype=np.float32)
    return ((pixels - 127.0) / 128.0).transpose(2, 0, 1)


def test_uint8_pixels_give_the_vectors_of_the_float_recipe(
        effnet: EfficientNetLiteEmbedder, images: list[Image.Image]) -> None:
    """Normalising inside the network changed no vector: same as the float32 input
    computed in numpy and fed to the bare features (torch here; ONNX Runtime in
    tests/unit/test_onnx_backend.py)."""
    reference = torch.from_numpy(np.stack([_old_float_input(img) for img in images]))
    with torch.inference_mode():
        pooled = effnet.model.extract_features(reference).mean(dim=(2, 3))
        expected = torch.nn.functional.normalize(pooled, dim=-1).numpy()
    got = effnet.embed_images(images)
    assert np.abs(got - expected).max() < 1e-5
    arrays = [preprocess(img) for img in images]
    np.testing.assert_array_equal(effnet.embed_preprocessed(arrays), got)
    assert effnet.embed_preprocessed([]).shape == (0, 1280)


def test_effnet_interface(effnet: EfficientNetLiteEmbedder) -> None:
    assert (effnet.dim, effnet.image_size, effnet.modalities) == (1280, 224, ("image", "video"))
    assert effnet.embed_images([]).shape == (0, 1280)
    with pytest.raises(InvalidField) as err:
        effnet.embed_texts(["a cat"])
    assert err.value.field == "data" and "does not embed text" in err.value.message


def test_effnet_vectors_are_unit_deterministic_and_batch_independent(
        effnet: EfficientNetLiteEmbedder, images: list[Image.Image],
        monkeypatch: pytest.MonkeyPatch) -> None:
    batch = effnet.embed_images(images)
    assert batch.shape == (len(images), 1280) and batch.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(batch, axis=1), 1.0, atol=1e-5)
    np.testing.assert_array_equal(effnet.embed_images(images), batch)
    alone = np.stack([effnet.embed_images([image])[0] for image in images])
    np.testing.assert_allclose(alone, batch, atol=1e-5)
    # Several batches, the last one partial.
    monkeypatch.setattr(effnet, "batch_size", 2)
    np.testing.assert_allclose(effnet.embed_images(images), batch, atol=1e-5)
    # Distinct inputs, distinct vectors.
    assert np.all(np.abs(np.corrcoef(batch) - np.eye(len(images))) < 0.999)


def test_effnet_threads_share_the_model(effnet: EfficientNetLiteEmbedder,
                                        images: list[Image.Image]) -> None:
    expected = effnet.embed_images(images)
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda shift: effnet.embed_images(images[shift:] + images[:shift]),
                                range(4)))
    for shift, result in enumerate(results):
        np.testing.assert_allclose(np.roll(result, shift, axis=0), expected, atol=1e-5)


def test_effnet_imagenet_weights_and_preprocessing(effnet: EfficientNetLiteEmbedder) -> None:
    probs = effnet.classify([_rgb(samples.coffee()), _rgb(samples.chelsea())])
    assert probs.shape == (2, 1000)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-4)
    assert probs[0].argmax() == 967  # espresso
    assert probs[0, 967] > 0.5
    assert probs[1].argmax() in {281, 282, 285}  # tabby, tiger cat, Egyptian cat


def test_effnet_features_separate_concepts(effnet: EfficientNetLiteEmbedder) -> None:
    cat = _rgb(samples.chelsea())  # 451 × 300
    left, right = cat.crop((0, 0, 300, 300)), cat.crop((151, 0, 451, 300))
    v = effnet.embed_images([left, right, _rgb(samples.coffee())])
    same, other = v[0] @ v[1], max(v[0] @ v[2], v[1] @ v[2])
    assert same > other + 0.1, (same, other)


# --- CLIP-style dual encoder (tiny, random) -------------------------------------------------


@pytest.fixture(scope="module")
def clip_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random CLIP saved like a real one."""
    return save_tiny_clip(tmp_path_factory.mktemp("tiny-clip"))


@pytest.fixture(scope="module")
def clip(clip_folder: Path) -> ClipEmbedder:
    """The tiny CLIP loaded through ``ClipEmbedder`` (Auto* classes, local folder)."""
    return ClipEmbedder("tiny-clip", str(clip_folder), CPU, batch_size=2)


TEXTS = ["the cat", "a photo of a dog", "", "the cat sat on the mat " * 20, "Ünïcödé ☕!"]


def test_clip_embeds_texts_and_images_into_one_space(clip: ClipEmbedder,
                                                     images: list[Image.Image]) -> None:
    assert clip.dim == PROJECTION_DIM and clip.image_size == 32
    assert clip.modalities == ("text", "image", "video")
    texts, pictures = clip.embed_texts(TEXTS), clip.embed_images(images)
    assert texts.shape == (len(TEXTS), PROJECTION_DIM) and texts.dtype == np.float32
    assert pictures.shape == (len(images), PROJECTION_DIM) and pictures.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(texts, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(pictures, axis=1), 1.0, atol=1e-5)
    assert clip.embed_texts([]).shape == (0, PROJECTION_DIM)
    assert clip.embed_images([]).shape == (0, PROJECTION_DIM)


def test_clip_takes_loader_work_through_the_generic_fallback(clip: ClipEmbedder,
                                                             images: list[Image.Image]) -> None:
    """No per-image preprocessing of its own: the worker's loaders hand it the images."""
    prepared = [clip.preprocess_image(image) for image in images]
    assert all(p is image for p, image in zip(prepared, images))
    np.testing.assert_array_equal(clip.embed_preprocessed(prepared), clip.embed_images(images))


def _unit(features: object) -> np.ndarray:
    tensor = features if isinstance(features, torch.Tensor) else features.pooler_output
    return torch.nn.functional.normalize(tensor, dim=-1).numpy()


def test_clip_matches_the_model_run_directly(clip: ClipEmbedder, clip_folder: Path,
                                             images: list[Image.Image]) -> None:
    """Batched, padded, sorted embedding equals the model's own features, one input at a time."""
    from transformers import AutoImageProcessor, AutoTokenizer, CLIPModel

    model = CLIPModel.from_pretrained(clip_folder).eval()
    tokenizer = AutoTokenizer.from_pretrained(clip_folder)
    processor = AutoImageProcessor.from_pretrained(clip_folder)
    with torch.inference_mode():
        texts = np.concatenate([
            _unit(model.get_text_features(**tokenizer([text], truncation=True, return_tensors="pt")))
            for text in TEXTS])
        pictures = np.concatenate([
            _unit(model.get_image_features(**processor(images=[image], return_tensors="pt")))
            for image in images])
    np.testing.assert_allclose(clip.embed_texts(TEXTS), texts, atol=1e-5)
    np.testing.assert_allclose(clip.embed_images(images), pictures, atol=1e-5)


def test_clip_is_deterministic_and_tells_texts_apart(clip: ClipEmbedder,
                                                     images: list[Image.Image]) -> None:
    first = clip.embed_texts(TEXTS)
    np.testing.assert_array_equal(clip.embed_texts(TEXTS), first)
    np.testing.assert_array_equal(clip.embed_images(images), clip.embed_images(images))
    similarity = first @ first.T
    assert np.all(similarity[~np.eye(len(TEXTS), dtype=bool)] < 0.9999)


def test_clip_threads_share_the_model(clip: ClipEmbedder, images: list[Image.Image]) -> None:
    texts, pictures = clip.embed_texts(TEXTS), clip.embed_images(images)
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(
            lambda i: clip.embed_texts(TEXTS) if i % 2 else clip.embed_images(images), range(8)))
    for i, result in enumerate(results):
        np.testing.assert_allclose(result, texts if i % 2 else pictures, atol=1e-6)
