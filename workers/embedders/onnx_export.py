"""Export an embedder's network to ONNX once, into a cache folder shared by workers.

The file name carries a key of everything that changes the graph: the weights (a
hash of their files), the inputs' names, dtypes and shapes, the opset, and the torch,
onnxruntime and recipe versions. A changed key is a new file; an unchanged one is
reused. Files appear by atomic rename, so workers exporting at the same time never
read half a file.
"""

from __future__ import annotations

import hashlib
import os
import re
import uuid
import warnings
from collections.abc import Iterable
from pathlib import Path

import torch

from workers.embedders.backends import ExportSpec

# ONNX opset 17 has LayerNormalization as one op; the legacy exporter goes to 20.
OPSET = 17
# Bump when the export recipe changes (wrapped modules, names, exporter options).
RECIPE = 2


def fingerprint(files: Iterable[Path]) -> str:
    """A short hash of some files' names and contents (the weights)."""
    digest = hashlib.sha256()
    for path in sorted(files):
        digest.update(path.name.encode() + b"\0")
        with path.open("rb") as f:
            while chunk := f.read(1 << 20):
                digest.update(chunk)
    return digest.hexdigest()[:16]


def input_signature(spec: ExportSpec) -> str:
    """The graph's inputs as ``name:dtype[dims]``, dynamic axes by name.

    Part of the key: an embedder that changes what it feeds its network (say float32
    channels-first pixels becoming uint8 channels-last ones) never loads an export
    made for the old inputs.
    """
    parts = []
    for name, tensor in spec.example.items():
        dynamic = spec.dynamic_axes.get(name, {})
        dims = ",".join(dynamic.get(axis, str(n)) for axis, n in enumerate(tensor.shape))
        parts.append(f"{name}:{str(tensor.dtype).removeprefix('torch.')}[{dims}]")
    return ";".join(parts)


def cache_key(spec: ExportSpec, opset: int = OPSET) -> str:
    """What identifies an export: weights, inputs, opset, and the versions that build and
    run it."""
    import onnxruntime

    parts = (spec.model_id, spec.fingerprint, f"inputs={input_signature(spec)}",
             f"opset={opset}", f"torch={torch.__version__}",
             f"onnxruntime={onnxruntime.__version__}", f"recipe={RECIPE}")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


def model_path(spec: ExportSpec, cache_dir: Path, opset: int = OPSET) -> Path:
    """Where the export of ``spec`` lives in ``cache_dir``."""
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", spec.model_id)
    return cache_dir / f"{stem}-{cache_key(spec, opset)}.onnx"


def exported_model(spec: ExportSpec, cache_dir: Path, opset: int = OPSET) -> Path:
    """The cached export of ``spec``, exporting it first when it is not there.

    Args:
        spec: What to export.
        cache_dir: The cache folder (created when missing).
        opset: ONNX opset version.

    Returns:
        The path of the ``.onnx`` file.
    """
    path = model_path(spec, cache_dir, opset)
    if path.is_file():
        return path
    cache_dir.mkdir(parents=True, exist_ok=True)
    # Unique per process and call: concurrent exporters each write their own file and
    # the last rename wins with an identical graph.
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        export(spec, tmp, opset)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def export(spec: ExportSpec, path: Path, opset: int = OPSET) -> None:
    """Write ``spec.module`` as ONNX to ``path`` (legacy TorchScript exporter).

    The TorchScript exporter takes seconds and needs no onnxscript; the dynamo one
    gave the same speed here for ~5x the export time. Tracing bakes Python control
    flow in, which is why the text example is a padded batch.
    """
    names = list(spec.example)
    try:
        with spec.tracing(), warnings.catch_warnings():
            # Deprecation and tracer notes, once per export: not actionable at run time.
            warnings.simplefilter("ignore")
            torch.onnx.export(
                spec.module.eval(), tuple(spec.example.values()), str(path),
                input_names=names, output_names=[spec.output_name],
                dynamic_axes=spec.dynamic_axes, opset_version=opset,
                do_constant_folding=True, dynamo=False)
    finally:
        # The exporter restores the mode it found on the module it was given,
        # recursively: embedders always run in eval mode (batch norm must not use
        # batch statistics), whatever a failed export left.
        spec.module.eval()
