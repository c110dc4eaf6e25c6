"""Cross-task micro-batching: concurrent small calls share forward passes of the real
models, each caller gets its own rows, and one caller's bad item fails only that call."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image
from skimage import data as samples

from tests.data import COOKING, HELD_OUT_COOKING, HELD_OUT_SPORTS, SPORTS
from workers.embedders.batching import MicroBatcher
from workers.embedders.image import EfficientNetLiteEmbedder, preprocess
from workers.embedders.text import TransformerTextEmbedder, minilm_path

CPU = torch.device("cpu")
TEXTS = SPORTS + COOKING + HELD_OUT_SPORTS + HELD_OUT_COOKING  # 22 texts, 9-16 tokens


def _together(calls: Sequence[Callable[[], Any]]) -> list[Any]:
    """Run each call in its own thread, released at once; results or exceptions, in order."""
    barrier = threading.Barrier(len(calls))
    results: list[Any] = [None] * len(calls)

    def run(i: int) -> None:
        barrier.wait()
        try:
            results[i] = calls[i]()
        except Exception as exc:
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    return results


def _wait_until(condition: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


@pytest.fixture(scope="module")
def minilm() -> TransformerTextEmbedder:
    return TransformerTextEmbedder("all-minilm-l6-v2", minilm_path(), CPU)


@pytest.fixture(scope="module")
def effnet() -> EfficientNetLiteEmbedder:
    return EfficientNetLiteEmbedder("efficientnet-lite0", CPU)


# --- real models ----------------------------------------------------------------------------


def test_concurrent_single_texts_share_passes_and_get_their_own_vectors(minilm) -> None:
    sequential = np.stack([minilm.embed_texts([t])[0] for t in TEXTS])
    before = minilm.batcher.stats
    # Released together: the first call runs a pass alone, those arriving meanwhile
    # share the next ones.
    rounds = [_together([lambda t=t: minilm.embed_texts([t]) for t in TEXTS]) for _ in range(2)]
    after = minilm.batcher.stats
    for results in rounds:
        vectors = np.concatenate(results)  # an exception here fails the concatenation
        # Same vectors whatever the batch-mates (padding changes float rounding only).
        np.testing.assert_allclose(vectors, sequential, atol=1e-5)
    calls = after.calls - before.calls
    assert calls == 2 * len(TEXTS)
    assert after.passes - before.passes < calls
    assert after.shared_passes > before.shared_passes


def test_a_linger_gathers_every_caller_into_one_pass(minilm) -> None:
    embedder = TransformerTextEmbedder("all-minilm-l6-v2", minilm_path(), CPU, linger_s=1.0)
    texts = TEXTS[:8] + ["the cat sat on the mat " * 40]  # one long text among short ones
    results = _together([lambda t=t: embedder.embed_texts([t]) for t in texts])
    stats = embedder.batcher.stats
    assert (stats.calls, stats.passes, stats.shared_passes) == (len(texts), 1, 1)
    # The long text is encoded in its own length group: same vectors as alone.
    alone = np.stack([minilm.embed_texts([t])[0] for t in texts])
    np.testing.assert_allclose(np.concatenate(results), alone, atol=1e-5)


def test_batching_off_runs_each_call_alone(minilm) -> None:
    minilm.batcher.enabled = False
    try:
        before = minilm.batcher.stats
        results = _together([lambda t=t: minilm.embed_texts([t]) for t in TEXTS[:6]])
        after = minilm.batcher.stats
    finally:
        minilm.batcher.enabled = True
    assert after.passes - before.passes == after.calls - before.calls == 6
    np.testing.assert_allclose(np.concatenate(results), minilm.embed_texts(TEXTS[:6]), atol=1e-5)


def test_a_bad_text_fails_only_its_caller(minilm) -> None:
    # Not a string: the tokenizer refuses the whole pass it lands in.
    calls = [lambda t=t: minilm.embed_texts([t]) for t in TEXTS[:5]]
    calls.insert(2, lambda: minilm.embed_texts([b"bytes, not text"]))
    results = _together(calls)
    assert isinstance(results[2], (TypeError, ValueError))
    good = [r for i, r in enumerate(results) if i != 2]
    np.testing.assert_allclose(np.concatenate(good), minilm.embed_texts(TEXTS[:5]), atol=1e-5)


def _photos() -> list[Image.Image]:
    cat = Image.fromarray(samples.chelsea())
    return [Image.fromarray(samples.coffee()), cat, cat.crop((100, 20, 400, 280)),
            Image.fromarray(samples.astronaut())]


def test_concurrent_images_share_a_pass_and_a_bad_one_fails_alone(effnet) -> None:
    photos = _photos()
    sequential = np.stack([effnet.embed_images([p])[0] for p in photos])
    before = effnet.batcher.stats
    # Hold the model: the first call's pass waits on it, the others queue behind it.
    with effnet._lock:
        first = threading.Thread(target=effnet.embed_images, args=([photos[0]],))
        first.start()
        _wait_until(lambda: effnet.batcher.running)
        results: list[Any] = [None] * 4

        def call(i: int, item: np.ndarray) -> None:
            try:
                results[i] = effnet.batcher.submit([item])
            except Exception as exc:
                results[i] = exc

        # A wrong-shaped array cannot be stacked with the others: their pass fails.
        items = [preprocess(photos[1]), np.zeros((10, 10, 3), np.uint8),
                 preprocess(photos[2]), preprocess(photos[3])]
        threads = [threading.Thread(target=call, args=(i, item)) for i, item in enumerate(items)]
        for i, t in enumerate(threads):
            t.start()
            _wait_until(lambda i=i: effnet.batcher.waiting == i + 1)
    first.join(timeout=60)
    for t in threads:
        t.join(timeout=60)
    after = effnet.batcher.stats
    # Alone it fails in the network (too small for its kernels); the others never see it.
    assert isinstance(results[1], Exception)
    np.testing.assert_allclose(np.concatenate([results[0], results[2], results[3]]),
                               sequential[1:], atol=1e-5)
    # The first call alone, then the four together (failed), then each alone again.
    assert after.calls - before.calls == 5
    assert after.retries - before.retries == 1
    assert after.passes - before.passes == 1 + 1 + 4


# --- the batcher itself, on a plain function ------------------------------------------------


class Doubler:
    """A forward pass that doubles numbers, refuses negatives, and records its batches."""

    def __init__(self, delay: float = 0.0) -> None:
        self.delay = delay
        self.batches: list[list[int]] = []

    def __call__(self, items: list[int]) -> np.ndarray:
        self.batches.append(list(items))
        time.sleep(self.delay)
        if any(x < 0 for x in items):
            raise ValueError(f"negative item in {items}")
        return np.array([[2 * x] for x in items])


def test_rows_go_back_in_order_and_passes_respect_the_size_limit() -> None:
    forward = Doubler(delay=0.02)
    batcher = MicroBatcher(forward, max_items=5)
    calls = [list(range(10 * k, 10 * k + n)) for k, n in enumerate([1, 3, 2, 4, 1, 2, 7])]
    results = _together([lambda c=c: batcher.submit(c) for c in calls])
    for call, rows in zip(calls, results):
        assert rows.tolist() == [[2 * x] for x in call]
    sizes = [len(b) for b in forward.batches]
    assert all(size <= 5 for size in sizes if size != 7)  # the 7-item call runs alone
    assert sum(sizes) == sum(map(len, calls)) and batcher.stats.passes == len(sizes)


def test_a_lone_call_runs_at_once() -> None:
    forward = Doubler()
    batcher = MicroBatcher(forward, max_items=8)
    started = time.perf_counter()
    assert batcher.submit([1, 2]).tolist() == [[2], [4]]
    assert time.perf_counter() - started < 0.5  # no wait window
    assert batcher.stats == batcher.stats.__class__(calls=1, items=2, passes=1)


def test_a_linger_ends_as_soon_as_the_batch_is_full() -> None:
    forward = Doubler()
    batcher = MicroBatcher(forward, max_items=4, linger_s=30.0)
    started = time.perf_counter()
    results = _together([lambda x=x: batcher.submit([x]) for x in range(4)])
    assert time.perf_counter() - started < 10
    assert [r.tolist() for r in results] == [[[0]], [[2]], [[4]], [[6]]]
    assert forward.batches and sorted(forward.batches[0]) == [0, 1, 2, 3]


def test_errors_reach_only_the_callers_whose_items_failed() -> None:
    forward = Doubler(delay=0.05)
    batcher = MicroBatcher(forward, max_items=16, linger_s=0.5)
    calls = [[1], [2, -3], [4], [-5]]
    results = _together([lambda c=c: batcher.submit(c) for c in calls])
    assert results[0].tolist() == [[2]] and results[2].tolist() == [[8]]
    assert isinstance(results[1], ValueError) and "-3" in str(results[1])
    assert isinstance(results[3], ValueError) and "-5" in str(results[3])
    # One shared pass failed, then each caller alone.
    assert batcher.stats.retries == 1 and batcher.stats.passes == 5
    # The batcher still works afterwards.
    assert batcher.submit([6]).tolist() == [[12]]


def test_a_lone_callers_error_is_its_own() -> None:
    batcher = MicroBatcher(Doubler(), max_items=4)
    with pytest.raises(ValueError, match="-1"):
        batcher.submit([-1])
    assert batcher.stats.retries == 0


def test_max_items_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_items"):
        MicroBatcher(Doubler(), max_items=0)
