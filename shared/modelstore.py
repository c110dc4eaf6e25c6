"""Versioned heads on disk: ``{root}/{app}/{model}/{version}/`` holding
``head.safetensors`` (weights) and ``manifest.json`` (everything else). No pickle.

A version is written to a temporary folder beside its final place and renamed
into place in one step, so readers see either nothing or the whole version, and a
redelivered train task finds the version already published. Staging folders a
killed writer left behind are removed by the next publish of that version.
"""

from __future__ import annotations

import json
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from safetensors.numpy import load_file, save_file

HEAD_FILE = "head.safetensors"
MANIFEST_FILE = "manifest.json"
# Versions are written under ``{STAGING_PREFIX}{version}-{random}`` beside their place.
STAGING_PREFIX = ".tmp-"


@dataclass(frozen=True)
class StoredHead:
    """A published head: arrays plus its manifest."""

    weight: np.ndarray  # (concepts, dim)
    bias: np.ndarray  # (concepts,)
    manifest: dict[str, Any]
    prototypes: np.ndarray | None = None  # (concepts, dim), blended heads only
    center: np.ndarray | None = None  # (dim,), blended heads only


class ModelStore:
    """Filesystem model store."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def version_dir(self, app: str, model: str, version: str) -> Path:
        """Folder of one published version."""
        return self.root / app / model / version

    def exists(self, app: str, model: str, version: str) -> bool:
        """True when the version is published."""
        return (self.version_dir(app, model, version) / MANIFEST_FILE).is_file()

    def publish(self, app: str, model: str, version: str, tensors: dict[str, np.ndarray],
                manifest: dict[str, Any]) -> Path:
        """Write a version atomically; a no-op when it is already published.

        Returns:
            The version folder.
        """
        final = self.version_dir(app, model, version)
        if self.exists(app, model, version):
            self._drop_staging(app, model, version)
            return final
        final.parent.mkdir(parents=True, exist_ok=True)
        staging = final.parent / f"{STAGING_PREFIX}{version}-{uuid.uuid4().hex}"
        staging.mkdir()
        try:
            save_file({k: np.ascontiguousarray(v, dtype=np.float32) for k, v in tensors.items()},
                      str(staging / HEAD_FILE))
            (staging / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2, sort_keys=True))
            staging.rename(final)
        except Exception:
            # Lost a race with another delivery that published first (and may have
            # removed this staging folder meanwhile): keep theirs.
            shutil.rmtree(staging, ignore_errors=True)
            if not self.exists(app, model, version):
                raise
        # A delivery killed while writing left its staging folder behind.
        self._drop_staging(app, model, version)
        return final

    def _drop_staging(self, app: str, model: str, version: str) -> None:
        for leftover in self.version_dir(app, model, version).parent.glob(
                f"{STAGING_PREFIX}{version}-*"):
            shutil.rmtree(leftover, ignore_errors=True)

    def load(self, app: str, model: str, version: str) -> StoredHead:
        """Read a published version."""
        folder = self.version_dir(app, model, version)
        tensors = load_file(str(folder / HEAD_FILE))
        manifest = json.loads((folder / MANIFEST_FILE).read_text())
        return StoredHead(weight=tensors["weight"], bias=tensors["bias"], manifest=manifest,
                          prototypes=tensors.get("prototypes"), center=tensors.get("center"))

    def delete(self, app: str, model: str, version: str) -> None:
        """Remove one version's folder (and any staging a killed writer left)."""
        shutil.rmtree(self.version_dir(app, model, version), ignore_errors=True)
        self._drop_staging(app, model, version)
