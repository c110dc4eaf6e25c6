"""ONNX Runtime as the CPU backend of the default embedders: same vectors as torch,
exports cached by key, the setting honoured, torch kept when the export fails."""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path

import numpy as np
import onnxruntime
import pytest
import torch
from PIL import Image
from skimage import data as samples

from shared.settings import Settings
from tests.data import COOKING, SPORTS
from workers.embedders.backends import ExportSpec, OnnxBackend, TorchBackend, select_backend
from workers.embedders.image import EfficientNetLiteEmbedder, preprocess
from workers.embedders.onnx_export import exported_model, input_signature, model_path
from workers.embedders.registry import EmbedderRegistry
from workers.embedders.text import TransformerTextEmbedder, length_groups, minilm_path

CPU = torch.device("cpu")
TOLERANCE = 1e-4
# Different lengths: padding inside a batch, the 256-token cut, empty and non-ASCII.
TEXTS = [SPORTS[0], "short", "", "Ünïcödé ☕!", COOKING[3] + " " + SPORTS[2],
         "the cat sat on the mat " * 80, COOKING[0]]


def _rgb(array: np.ndarray) -> Image.Image:
    return Image.fromarray(array).convert("RGB")


@pytest.fixture(scope="module")
def cache(settings: Settings) -> Path:
    """The session's export folder (tests/conftest.py), shared with the runtime's workers."""
    return settings.onnx_cache_dir


@pytest.fixture(scope="module")
def minilm() -> tuple[TransformerTextEmbedder, TransformerTextEmbedder]:
    """MiniLM in torch, and a second instance moved to ONNX Runtime."""
    return (TransformerTextEmbedder("all-minilm-l6-v2", minilm_path(), CPU),
            TransformerTextEmbedder("all-minilm-l6-v2", minilm_path(), CPU))


@pytest.fixture(scope="module")
def minilm_onnx(minilm, cache: Path) -> TransformerTextEmbedder:
    embedder = minilm[1]
    assert select_backend(embedder, "onnx", CPU, cache) == "onnx"
    return embedder


@pytest.fixture(scope="module")
def effnet(cache: Path) -> tuple[EfficientNetLiteEmbedder, EfficientNetLiteEmbedder]:
    """EfficientNet-Lite0 in torch, and a second instance in ONNX Runtime."""
    onnx = EfficientNetLiteEmbedder("efficientnet-lite0", CPU)
    assert select_backend(onnx, "auto", CPU, cache) == "onnx"
    return EfficientNetLiteEmbedder("efficientnet-lite0", CPU), onnx


@pytest.fixture(scope="module")
def photos() -> list[Image.Image]:
    rng = np.random.default_rng(0)
    cat = _rgb(samples.chelsea())
    return [_rgb(samples.coffee()), cat, cat.crop((100, 20, 400, 280)), _rgb(samples.camera()),
            _rgb(samples.astronaut()), _rgb(rng.integers(0, 256, (90, 160, 3), dtype=np.uint8))]


# --- same vectors -------------------------------------------------------------------------


def test_text_vectors_match_torch(minilm, minilm_onnx) -> None:
    torch_embedder = minilm[0]
    assert isinstance(torch_embedder.backend, TorchBackend)
    assert isinstance(minilm_onnx.backend, OnnxBackend)
    expected = torch_embedder.embed_texts(TEXTS)
    batch = minilm_onnx.embed_texts(TEXTS)
    alone = np.stack([minilm_onnx.embed_texts([t])[0] for t in TEXTS])
    assert batch.shape == (len(TEXTS), 384) and batch.dtype == np.float32
    assert np.abs(batch - expected).max() < TOLERANCE
    assert np.abs(alone - expected).max() < TOLERANCE  # no padding at all
    np.testing.assert_allclose(np.linalg.norm(batch, axis=1), 1.0, atol=1e-5)
    assert minilm_onnx.embed_texts([]).shape == (0, 384)


def test_effnet_vectors_match_torch(effnet, photos) -> None:
    torch_embedder, onnx_embedder = effnet
    expected = torch_embedder.embed_images(photos)
    batch = onnx_embedder.embed_images(photos)
    alone = np.stack([onnx_embedder.embed_images([p])[0] for p in photos])
    assert batch.shape == (len(photos), 1280) and batch.dtype == np.float32
    assert np.abs(batch - expected).max() < TOLERANCE
    assert np.abs(alone - expected).max() < TOLERANCE
    # The classifier check still runs (in torch) next to the ONNX features.
    assert onnx_embedder.classify([photos[0]])[0].argmax() == 967  # espresso


def test_effnet_uint8_graph_gives_the_vectors_of_the_float_recipe(effnet, photos) -> None:
    """The graph normalises uint8 pixels itself: same vectors as the float32
    ``(p - 127) / 128`` channels-first input the embedder used to compute in numpy."""
    torch_embedder, onnx_embedder = effnet
    floats = [((np.asarray(preprocess(p), np.float32) - 127.0) / 128.0).transpose(2, 0, 1)
              for p in photos]
    with torch.inference_mode():
        pooled = torch_embedder.model.extract_features(torch.from_numpy(np.stack(floats)))
        expected = torch.nn.functional.normalize(pooled.mean(dim=(2, 3)), dim=-1).numpy()
    assert np.abs(onnx_embedder.embed_images(photos) - expected).max() < 1e-5
    inputs = onnxruntime.InferenceSession(str(onnx_embedder.backend.path)).get_inputs()
    assert [(i.name, i.type) for i in inputs] == [("pixels", "tensor(uint8)")]
    # ... and the cache key says so: a float-input export of the same weights has another.
    assert input_signature(onnx_embedder.export_spec()) == "pixels:uint8[batch,224,224,3]"


def test_length_groups_bound_padding() -> None:
    lengths = [12, 250, 9, 30, 256, 14]
    groups = length_groups(lengths, slack=32)
    assert sorted(i for g in groups for i in g) == list(range(len(lengths)))
    assert groups == [[2, 0, 5, 3], [1, 4]]  # shortest first; 250 > 2 * 9 + 32
    assert length_groups([]) == []


# --- the cache ----------------------------------------------------------------------------


class Scale(torch.nn.Module):
    """A tiny network: exports in milliseconds."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = torch.nn.Linear(4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.linear(x))


def _tiny_spec(fingerprint: str = "weights-a") -> ExportSpec:
    torch.manual_seed(0)
    return ExportSpec("tiny/model", fingerprint, Scale().eval(), {"x": torch.randn(2, 4)}, "y",
                      {"x": {0: "batch"}, "y": {0: "batch"}})


def test_export_is_reused_and_rebuilt_when_the_key_changes(tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    spec = _tiny_spec()
    first = exported_model(spec, tmp_path / "onnx")
    assert first.parent == tmp_path / "onnx" and first.name.startswith("tiny_model-")
    written = first.stat().st_mtime_ns
    assert exported_model(spec, tmp_path / "onnx") == first  # a hit: not written again
    assert first.stat().st_mtime_ns == written
    # Each part of the key makes a new file: weights, opset, onnxruntime version.
    other_weights = exported_model(_tiny_spec("weights-b"), tmp_path / "onnx")
    other_opset = exported_model(spec, tmp_path / "onnx", opset=18)
    monkeypatch.setattr(onnxruntime, "__version__", "0.0.0-test")
    other_runtime = exported_model(spec, tmp_path / "onnx")
    monkeypatch.undo()
    # Other inputs (here float64 instead of float32) are another graph, whatever the
    # weights: an embedder that changes what it feeds never loads the old export.
    other_inputs = exported_model(replace(spec, example={"x": torch.randn(2, 4).double()},
                                          module=Scale().double().eval()), tmp_path / "onnx")
    paths = {first, other_weights, other_opset, other_runtime, other_inputs}
    assert len(paths) == 5
    # Only finished files: the temporary ones were renamed into place.
    assert sorted((tmp_path / "onnx").iterdir()) == sorted(paths)
    out = OnnxBackend(other_opset)({"x": torch.ones(5, 4)})
    expected = spec.module(torch.ones(5, 4)).detach()
    assert out.shape == (5, 3) and torch.allclose(out, expected, atol=1e-6)


def test_the_default_embedders_reuse_the_session_export(minilm_onnx, effnet, cache: Path) -> None:
    for embedder in (minilm_onnx, effnet[1]):
        spec = embedder.export_spec()
        path = model_path(spec, cache)
        written = path.stat().st_mtime_ns
        assert exported_model(spec, cache) == path == embedder.backend.path
        assert path.stat().st_mtime_ns == written


def _spins(backend: OnnxBackend) -> str:
    """The session's ``allow_spinning`` entry ("" where ONNX Runtime's default holds)."""
    options = backend.session.get_session_options()
    try:
        return options.get_session_config_entry("session.intra_op.allow_spinning")
    except RuntimeError:  # not set
        return ""


def test_the_image_network_sleeps_between_passes_and_the_text_one_spins(minilm_onnx, effnet
                                                                        ) -> None:
    # The image embedder's loader threads need the core a spinning thread would hold; a
    # one-text predict is ~0.65 ms quicker with spinning (docs/benchmarks.md).
    assert _spins(effnet[1].backend) == "0"
    assert _spins(minilm_onnx.backend) in ("", "1")


class TinyEmbedder:
    """An exportable embedder around :class:`Scale`, in torch until a backend is chosen."""

    def __init__(self) -> None:
        self.spec = _tiny_spec()
        self.backend = TorchBackend(self.spec.module, CPU)

    def export_spec(self) -> ExportSpec:
        return self.spec


def test_a_damaged_cached_file_is_exported_again(tmp_path: Path) -> None:
    embedder = TinyEmbedder()
    path = model_path(embedder.spec, tmp_path)
    path.write_bytes(b"not an onnx model")
    assert select_backend(embedder, "onnx", CPU, tmp_path) == "onnx"
    assert path.read_bytes() != b"not an onnx model"
    x = {"x": torch.randn(3, 4)}
    assert torch.allclose(embedder.backend(x), TorchBackend(embedder.spec.module, CPU)(x),
                          atol=1e-6)


# --- the setting and the fallback ---------------------------------------------------------


@pytest.mark.parametrize("choice, expected", [("torch", "torch"), ("onnx", "onnx"),
                                              ("auto", "onnx")])
def test_the_backend_setting_is_honoured(choice: str, expected: str, cache: Path,
                                         minilm_onnx) -> None:
    settings = Settings(_env_file=None, device="cpu", cpu_backend=choice, onnx_cache_dir=cache)
    assert EmbedderRegistry(settings).get("all-minilm-l6-v2").backend.name == expected


def test_cuda_keeps_torch() -> None:
    embedder = TinyEmbedder()
    # Decided from the device type alone: nothing is exported, nothing moves.
    assert select_backend(embedder, "onnx", torch.device("cuda"), Path("/nonexistent")) == "torch"
    assert isinstance(embedder.backend, TorchBackend)


def test_a_failing_export_falls_back_to_torch(tmp_path: Path,
                                              caplog: pytest.LogCaptureFixture) -> None:
    # The cache folder cannot be created (a file is in the way), as on a read-only disk.
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    embedder = TinyEmbedder()
    with caplog.at_level(logging.WARNING, logger="workers.embedders.backends"):
        assert select_backend(embedder, "auto", CPU, blocker / "onnx") == "torch"
    assert isinstance(embedder.backend, TorchBackend)
    assert "tiny/model" in caplog.text and "using torch" in caplog.text


def test_an_unexportable_network_falls_back_to_torch(tmp_path: Path,
                                                     caplog: pytest.LogCaptureFixture) -> None:
    """A network whose trace is wrong (numpy inside: baked in as a constant) keeps torch:
    the export is checked on other inputs than it was traced with."""

    class Untraceable(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.from_numpy(np.tanh(x.numpy()))

    class Embedder:
        backend = TorchBackend(Untraceable(), CPU)

        def export_spec(self) -> ExportSpec:
            return ExportSpec("untraceable", "w", Untraceable(), {"x": torch.ones(2, 3)}, "y",
                              {"x": {0: "batch"}, "y": {0: "batch"}}, {"x": torch.zeros(3, 3)})

    embedder = Embedder()
    with caplog.at_level(logging.WARNING, logger="workers.embedders.backends"):
        assert select_backend(embedder, "onnx", CPU, tmp_path) == "torch"
    assert "untraceable" in caplog.text and "using torch" in caplog.text
    assert isinstance(embedder.backend, TorchBackend)
