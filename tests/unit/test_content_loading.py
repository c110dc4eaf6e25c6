"""Images through ``embed_contents``: decode + preprocess on loader threads, the network fed
batch by batch as batches are ready, order and per-item errors kept (real EfficientNet-Lite0
and a tiny random CLIP)."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from shared.media import MediaError
from shared.media.images import decode_image
from shared.media.limits import image_limits
from shared.settings import Settings
from tests.media import crops, encode, photo
from tests.tiny_clip import save_tiny_clip
from workers import content as content_module
from workers.content import Content, Embedding, _decode_side, _loaded_in_order, embed_contents
from workers.embedders.base import Embedder
from workers.embedders.clip import ClipEmbedder
from workers.embedders.image import EfficientNetLiteEmbedder

CPU = torch.device("cpu")
BATCH = 4


@pytest.fixture(scope="module")
def effnet() -> EfficientNetLiteEmbedder:
    return EfficientNetLiteEmbedder("efficientnet-lite0", CPU)


@pytest.fixture(scope="module")
def jpegs() -> list[bytes]:
    """Eleven distinct JPEGs: crops of two photos, some mirrored."""
    return [encode(c) for c in crops(photo("cat"), 6, seed=0) + crops(photo("coffee"), 5, seed=1)]


def _contents(blobs: list[bytes | None]) -> list[Content]:
    # None: staged bytes that expired (media_expired); b"..." that is no image: a bad item.
    return [Content("image", {"blob": True}, staged_bytes=lambda b=b: b) for b in blobs]


def _decoded(settings: Settings, embedder: Embedder, blobs: list[bytes]) -> list[Any]:
    return [decode_image(b, image_limits(settings), min_side=_decode_side(embedder))[0]
            for b in blobs]


def test_images_keep_their_order_and_errors_stay_in_place(
        settings: Settings, effnet: EfficientNetLiteEmbedder, jpegs: list[bytes]) -> None:
    blobs: list[bytes | None] = [*jpegs[:3], b"not an image", *jpegs[3:8], None, *jpegs[8:]]
    results = embed_contents(settings, effnet, _contents(blobs), batch=BATCH)
    assert len(results) == len(blobs)
    assert isinstance(results[3], MediaError) and isinstance(results[9], MediaError)
    assert results[9].code == "media_expired"
    good = [r for i, r in enumerate(results) if i not in (3, 9)]
    assert all(isinstance(r, Embedding) and r.vectors.shape == (1, 1280) for r in good)
    # The same vectors as embed_images on the worker-decoded images, in input order.
    expected = effnet.embed_images(_decoded(settings, effnet, jpegs))
    got = np.concatenate([r.vectors for r in good])
    assert np.abs(got - expected).max() < 1e-5


def test_the_next_batch_loads_while_the_network_runs(
        settings: Settings, effnet: EfficientNetLiteEmbedder, jpegs: list[bytes],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Loads of the second batch wait for the first pass to start, and the first pass
    waits for one of them to finish: only loading during the pass gets both through."""
    contents = _contents(list(jpegs))
    position = {id(c): k for k, c in enumerate(contents)}
    pass_started, loaded_during_pass = threading.Event(), threading.Event()
    sizes: list[int] = []
    load, embed = content_module._load_image, effnet.embed_preprocessed

    def gated_load(settings: Settings, embedder: Embedder, content: Content) -> Any:
        later = position[id(content)] >= BATCH
        if later and not pass_started.wait(30):
            raise AssertionError("the first pass never started while later images loaded")
        out = load(settings, embedder, content)
        if later:
            loaded_during_pass.set()
        return out

    def waiting_embed(items: list[np.ndarray]) -> np.ndarray:
        sizes.append(len(items))
        if len(sizes) == 1:
            pass_started.set()
            assert loaded_during_pass.wait(30), "nothing loaded during the first pass"
        return embed(items)

    monkeypatch.setattr(content_module, "_load_image", gated_load)
    monkeypatch.setattr(effnet, "embed_preprocessed", waiting_embed)
    results = embed_contents(settings, effnet, contents, batch=BATCH)
    assert all(isinstance(r, Embedding) for r in results)
    assert sizes == [BATCH, BATCH, len(jpegs) - 2 * BATCH]


def test_loads_run_in_order_and_a_bounded_distance_ahead() -> None:
    started: list[int] = []
    lock = threading.Lock()

    def load(i: int) -> int:
        with lock:
            started.append(i)
        return i * i

    loaded = _loaded_in_order(load, list(range(20)), ahead=5)
    assert next(loaded) == (0, 0)
    time.sleep(0.2)  # time for the threads to run everything they were given
    # The five first, and one more for the one taken.
    assert sorted(started) == list(range(6))
    assert list(loaded) == [(i, i * i) for i in range(1, 20)]


def test_a_failing_pass_fails_the_call(settings: Settings, effnet: EfficientNetLiteEmbedder,
                                       jpegs: list[bytes],
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(items: list[np.ndarray]) -> np.ndarray:
        raise RuntimeError("network down")

    monkeypatch.setattr(effnet, "embed_preprocessed", broken)
    with pytest.raises(RuntimeError, match="network down"):
        embed_contents(settings, effnet, _contents(jpegs), batch=BATCH)


def test_an_embedder_without_its_own_preprocessing_gets_the_images(
        settings: Settings, jpegs: list[bytes], tmp_path: Path) -> None:
    """CLIP-style embedders keep their processor: the loaders only decode."""
    clip = ClipEmbedder("tiny-clip", str(save_tiny_clip(tmp_path / "clip")), CPU, batch_size=2)
    blobs: list[bytes | None] = [jpegs[0], b"not an image", *jpegs[1:6]]
    results = embed_contents(settings, clip, _contents(blobs), batch=BATCH)
    assert isinstance(results[1], MediaError)
    got = np.concatenate([r.vectors for i, r in enumerate(results) if i != 1])
    expected = clip.embed_images(_decoded(settings, clip, jpegs[:6]))
    np.testing.assert_allclose(got, expected, atol=1e-5)
