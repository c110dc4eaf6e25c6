"""Precision and recall of one concept at a fixed grid of score thresholds.

A version's metrics give precision and recall at one operating point (argmax, or
0.5 for one-vs-rest) plus a suggested threshold. A client choosing its own
threshold (the web console's slider) needs the trade-off at other points too; the
out-of-fold scores exist only while training, so the curve is sampled then, on a
fixed grid small enough to store in every version record.
"""

from __future__ import annotations

from typing import Any

import numpy as np

# 0.00, 0.05, ... 1.00: fine enough for a slider, a few hundred bytes per concept.
GRID = tuple(round(i * 0.05, 2) for i in range(21))


def pr_curve(truth: np.ndarray, scores: np.ndarray) -> dict[str, Any]:
    """Precision and recall when "score >= threshold" means "predicted positive".

    Args:
        truth: 1 for the concept's positives, 0 for the rest (one row per input).
        scores: The concept's held-out scores for the same rows.

    Returns:
        ``{"thresholds", "precision", "recall", "predicted"}``, lists over
        :data:`GRID`. Precision is ``None`` where nothing scores that high, recall
        ``None`` when there is no positive; values rounded to 4 decimals.
        ``predicted`` counts the rows at or above each threshold.
    """
    truth = np.asarray(truth).astype(bool)
    scores = np.asarray(scores, dtype=float)
    positives = int(truth.sum())
    precision: list[float | None] = []
    recall: list[float | None] = []
    predicted: list[int] = []
    for threshold in GRID:
        # A hair of tolerance: a score that is the grid value up to rounding reaches it.
        chosen = scores >= threshold - 1e-9
        hits = int((chosen & truth).sum())
        count = int(chosen.sum())
        precision.append(round(hits / count, 4) if count else None)
        recall.append(round(hits / positives, 4) if positives else None)
        predicted.append(count)
    return {"thresholds": list(GRID), "precision": precision, "recall": recall,
            "predicted": predicted}
