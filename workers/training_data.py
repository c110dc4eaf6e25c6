"""What a head learns from: labelled rows, what else the app offers, and targets.

A video is one input with a row per sampled frame: its rows share a group, so
cross-validation never tests a video on frames it trained on, and they share
one input's weight, so a long video does not outvote the images beside it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

UNLABELLED = -1
# Input ids of the rows that stand in for zero-shot concepts (no input id has a ':').
NAME_ROW = "concept:"


@dataclass
class TrainingData:
    """Labelled vectors: row i has vector ``vectors[i]`` and its label sets."""

    vectors: np.ndarray
    positive: list[frozenset[str]]
    negative: list[frozenset[str]]
    input_ids: list[str] = field(default_factory=list)
    frames: list[int] = field(default_factory=list)  # rows of the row's input; empty: all 1

    def groups(self) -> np.ndarray | None:
        """Input of each row, when some input has several rows (video frames)."""
        if not self.frames or max(self.frames) <= 1:
            return None
        return np.asarray(self.input_ids)

    def with_name_examples(self, concepts: Sequence[str], vectors: np.ndarray,
                           ) -> "TrainingData":
        """These data plus one positive example per concept: its name, embedded.

        How a concept with no example is learnt zero-shot, by an embedder that puts
        texts and inputs in one space.
        """
        rows = np.asarray(vectors, dtype=np.float32)
        old = self.vectors if len(self.vectors) else np.zeros((0, rows.shape[1]), np.float32)
        ids = self.input_ids or [f"row-{i}" for i in range(len(self.positive))]
        return TrainingData(
            vectors=np.vstack([old, rows]),
            positive=self.positive + [frozenset([c]) for c in concepts],
            negative=self.negative + [frozenset()] * len(concepts),
            input_ids=ids + [NAME_ROW + c for c in concepts],
            frames=self.frames + [1] * len(concepts) if self.frames else [],
        )

    def inputs_among(self, rows: np.ndarray) -> int:
        """How many distinct inputs the given rows come from."""
        if not self.input_ids or self.groups() is None:
            return int(len(rows))
        return len({self.input_ids[i] for i in rows})

    def weights(self) -> np.ndarray | None:
        """Row weights giving every input a total weight of 1 (None: all rows weigh 1)."""
        if not self.frames or max(self.frames) <= 1:
            return None
        return 1.0 / np.asarray(self.frames, dtype=np.float64)


@dataclass
class Context:
    """What a head may learn from besides the labelled examples.

    Attributes:
        names: ``(concepts, dim)`` the model's concept names embedded by its embedder
            (None when the embedder cannot embed text).
        unlabelled: ``(m, dim)`` the app's embeddings not labelled for the model.
    """

    names: np.ndarray | None = None
    unlabelled: np.ndarray | None = None


def exclusive_targets(data: TrainingData, concepts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Rows positive for exactly one model concept, and that concept's index."""
    index = {c: i for i, c in enumerate(concepts)}
    rows, labels = [], []
    for row, positive in enumerate(data.positive):
        hits = [index[c] for c in positive if c in index]
        if len(hits) == 1:
            rows.append(row)
            labels.append(hits[0])
    return np.asarray(rows, dtype=np.int64), np.asarray(labels, dtype=np.int64)


def binary_targets(data: TrainingData, concepts: Sequence[str], closed_environment: bool) -> np.ndarray:
    """``(n, concepts)`` matrix of 1 (positive), 0 (negative) or -1 (not labelled).

    An explicit negative always counts. With a closed environment an input
    positive for another of the model's concepts is a negative too.
    """
    index = {c: i for i, c in enumerate(concepts)}
    y = np.full((len(data.positive), len(concepts)), UNLABELLED, dtype=np.int64)
    # One pass over the labels a row has (not rows x concepts): 100k rows x 100
    # concepts would be 10M Python steps.
    for row, negative in enumerate(data.negative):
        for concept in negative:
            if concept in index:
                y[row, index[concept]] = 0
    for row, positive in enumerate(data.positive):
        for concept in positive:
            if concept in index:
                y[row, index[concept]] = 1
    if closed_environment:
        y[(y == 1).any(axis=1)[:, None] & (y == UNLABELLED)] = 0
    return y


def real_rows(data: TrainingData) -> np.ndarray:
    """Rows of real inputs (not the names standing in for zero-shot concepts)."""
    return np.asarray([not i.startswith(NAME_ROW) for i in data.input_ids] or
                      [True] * len(data.positive), dtype=bool)


def app_center(labelled: np.ndarray, context: Context) -> np.ndarray:
    """The app's mean embedding: of the labelled and unlabelled inputs, else the names."""
    seen = [m for m in (labelled, context.unlabelled) if m is not None and len(m)]
    return (np.vstack(seen) if seen else context.names).mean(axis=0).astype(np.float32)
