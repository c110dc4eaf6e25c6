"""Where an embedder's network runs: torch (any device) or ONNX Runtime (CPU).

The embedders keep their own preprocessing, tokenising, pooling and normalisation;
a backend runs only the network in between, named tensors in, one tensor out. Both
backends run the same ``torch.nn.Module`` (ONNX Runtime runs its export), so
switching changes speed, not vectors (the export is checked against torch).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import torch

log = logging.getLogger(__name__)

# Largest difference allowed between the exported graph and torch on the export's
# own example, relative to the output's scale; measured differences are ~1e-6.
EXPORT_CHECK_TOLERANCE = 1e-4


class Backend(Protocol):
    """Runs a network: named input tensors (on CPU) → one output tensor."""

    name: str

    def __call__(self, inputs: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """Run the network on a batch."""
        ...


class TorchBackend:
    """The module itself, under ``torch.inference_mode()`` on its device.

    Args:
        module: Takes the inputs as keyword arguments, returns one tensor.
        device: Where the module's weights are; inputs are moved there.
    """

    name = "torch"

    def __init__(self, module: torch.nn.Module, device: torch.device) -> None:
        self.module = module
        self.device = device

    def __call__(self, inputs: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """Run the module; the result stays on the module's device."""
        with torch.inference_mode():
            moved = {k: v.to(self.device, non_blocking=True) for k, v in inputs.items()}
            return self.module(**moved)


class OnnxBackend:
    """An ONNX Runtime session on CPU, graph optimisations on.

    Args:
        path: The ``.onnx`` file.
        threads: Intra-op threads; 0 means the cores this process may use.
        spin_wait: Whether the intra-op threads spin between tasks (ONNX Runtime's
            default) instead of sleeping: quicker to start a short pass, but a spinning
            thread takes a core from whatever else the worker runs meanwhile.
    """

    name = "onnx"

    def __init__(self, path: Path, threads: int = 0, spin_wait: bool = True) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.intra_op_num_threads = threads or available_cores()
        # One pass at a time per embedder: no parallel branches worth a second pool.
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        if not spin_wait:
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.path = path
        self.session = ort.InferenceSession(str(path), options,
                                            providers=["CPUExecutionProvider"])
        self.input_names = [i.name for i in self.session.get_inputs()]

    def __call__(self, inputs: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """Run the session; CPU tensors cross as numpy views, without a copy."""
        feeds = {name: inputs[name].detach().cpu().numpy() for name in self.input_names}
        (output,) = self.session.run(None, feeds)
        return torch.from_numpy(output)


def available_cores() -> int:
    """Cores this process may run on (its CPU affinity, not the machine's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


@dataclass(frozen=True)
class ExportSpec:
    """What to export for an embedder, and what identifies the result.

    Attributes:
        model_id: Names the file (the embedder id).
        fingerprint: Changes whenever the weights do (a hash of the weight files).
        module: The module the torch backend runs; exported as is.
        example: Named example inputs, in the module's argument order. For texts,
            a padded batch: the trace must see the attention mask at work.
        output_name: Name of the single output.
        dynamic_axes: Per input and output name, the axes that vary (batch, sequence).
        check: Other inputs (another batch size and sequence length, other values) the
            export is compared with torch on: tracing bakes in shapes and anything
            computed outside torch, and the trace's own example cannot show that.
        tracing: A context the export runs in (e.g. switching to ops that export to
            a faster graph); the module must be back as it was when it exits.
        spin_wait: Whether ONNX Runtime's threads spin between passes (see
            :class:`OnnxBackend`); False where other CPU work runs beside the network.
    """

    model_id: str
    fingerprint: str
    module: torch.nn.Module
    example: dict[str, torch.Tensor]
    output_name: str
    dynamic_axes: dict[str, dict[int, str]] = field(default_factory=dict)
    check: dict[str, torch.Tensor] | None = None
    tracing: Callable[[], AbstractContextManager[object]] = nullcontext
    spin_wait: bool = True


class Exportable(Protocol):
    """An embedder whose network can run in ONNX Runtime."""

    backend: Backend

    def export_spec(self) -> ExportSpec:
        """What to export (called once, when the backend is chosen)."""
        ...


def check_export(spec: ExportSpec, backend: Backend) -> float:
    """Largest difference between the backend and torch on the spec's check inputs.

    Raises:
        ValueError: The difference is over :data:`EXPORT_CHECK_TOLERANCE` (relative to
            the output's largest value, at least 1).
    """
    inputs = spec.check if spec.check is not None else spec.example
    expected = TorchBackend(spec.module, torch.device("cpu"))(inputs).float()
    got = backend(inputs).float()
    if got.shape != expected.shape:
        raise ValueError(f"exported output has shape {tuple(got.shape)}, "
                         f"torch gives {tuple(expected.shape)}")
    diff = float((got - expected).abs().max())
    scale = max(1.0, float(expected.abs().max()))
    if diff > EXPORT_CHECK_TOLERANCE * scale:
        raise ValueError(f"exported graph differs from torch by {diff:.3g}")
    return diff


def select_backend(embedder: Exportable, choice: str, device: torch.device,
                   cache_dir: Path, threads: int = 0) -> str:
    """Put an embedder on the backend the settings ask for; returns its name.

    On CUDA the embedder stays in torch. On CPU, ``onnx`` and ``auto`` export the
    network (or reuse the cached export), load it in ONNX Runtime and check it against
    torch; any failure (onnxruntime missing, export or check failing) logs a warning
    and keeps torch, so a worker always starts.

    Args:
        embedder: Built with a torch backend.
        choice: ``auto``, ``torch`` or ``onnx`` (``HEADSTART_CPU_BACKEND``).
        device: The embedder's device.
        cache_dir: Folder of exported models.
        threads: ONNX Runtime intra-op threads (0: the cores available).
    """
    if device.type != "cpu" or choice == "torch":
        return embedder.backend.name
    spec = None
    try:
        spec = embedder.export_spec()
        backend, diff = _checked_onnx(spec, cache_dir, threads)
    except Exception as exc:  # any failure here must leave a working torch embedder
        name = spec.model_id if spec is not None else type(embedder).__name__
        log.warning("ONNX Runtime backend unavailable for %s (%s: %s); using torch",
                    name, type(exc).__name__, exc)
        return embedder.backend.name
    embedder.backend = backend
    log.info("%s runs in ONNX Runtime (%s; max abs diff to torch %.2g)",
             spec.model_id, backend.path.name, diff)
    return backend.name


def _checked_onnx(spec: ExportSpec, cache_dir: Path, threads: int) -> tuple[OnnxBackend, float]:
    """The export of ``spec`` loaded and checked; a bad cached file is exported again."""
    from workers.embedders.onnx_export import exported_model, model_path

    cached = model_path(spec, cache_dir).is_file()
    path = exported_model(spec, cache_dir)
    try:
        backend = OnnxBackend(path, threads, spec.spin_wait)
        return backend, check_export(spec, backend)
    except Exception as exc:
        if not cached:
            raise
        # Damaged, or written by something else under the same key: replace it once.
        log.warning("cached ONNX model %s is unusable (%s: %s); exporting it again",
                    path, type(exc).__name__, exc)
        path.unlink(missing_ok=True)
        path = exported_model(spec, cache_dir)
        backend = OnnxBackend(path, threads, spec.spin_wait)
        return backend, check_export(spec, backend)
