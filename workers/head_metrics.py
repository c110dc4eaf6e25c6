"""A head's evaluation: per-input out-of-fold scores turned into metrics."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.metrics import precision_recall_fscore_support, roc_auc_score

from workers.pr_curve import pr_curve


def per_input(probs: np.ndarray, y: np.ndarray, groups: np.ndarray | None
              ) -> tuple[np.ndarray, np.ndarray]:
    """Out-of-fold probabilities averaged over each input's rows, one row per input.

    A video is scored as predict scores it (the mean over its frames), so metrics
    count inputs, not frames. Without groups every row is an input already.
    """
    if groups is None:
        return probs, y
    _, index = np.unique(groups, return_inverse=True)
    sums = np.zeros((int(index.max()) + 1, probs.shape[1]))
    np.add.at(sums, index, probs)
    labels = np.empty(len(sums), dtype=y.dtype)
    labels[index] = y  # an input's rows share its label
    return sums / np.bincount(index)[:, None], labels


def suggest_threshold(truth: np.ndarray, scores: np.ndarray) -> float:
    """The score threshold with the best F1 on held-out predictions."""
    order = np.argsort(-scores)
    sorted_truth = truth[order]
    tp = np.cumsum(sorted_truth)
    fp = np.cumsum(1 - sorted_truth)
    positives = max(int(truth.sum()), 1)
    f1 = 2 * tp / (tp + fp + positives)
    best = int(np.argmax(f1))
    return round(float(scores[order][best]), 4)


def concept_metrics(truth: np.ndarray, scores: np.ndarray, predicted: np.ndarray
                    ) -> dict[str, Any]:
    """One concept's held-out metrics: precision, recall, F1, ROC AUC, support, the
    suggested threshold and the precision-recall curve (AUC and threshold need both
    classes among ``truth``)."""
    p, r, f, _ = precision_recall_fscore_support(truth, predicted, average="binary",
                                                 zero_division=0)
    both = len(np.unique(truth)) == 2
    return {
        "precision": round(float(p), 4),
        "recall": round(float(r), 4),
        "f1": round(float(f), 4),
        "roc_auc": round(float(roc_auc_score(truth, scores)), 4) if both else None,
        "support": int(truth.sum()),
        "suggested_threshold": suggest_threshold(truth, scores) if both else None,
        "pr_curve": pr_curve(truth, scores),
    }


def not_evaluated(reason: str) -> dict[str, Any]:
    """The metrics of a head the data did not allow to cross-validate, and why."""
    return {"status": "insufficient_data", "reason": reason}


def macro_summary(per_concept: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Macro averages of the concepts' ROC AUC (those that have one) and F1."""
    aucs = [m["roc_auc"] for m in per_concept.values() if m["roc_auc"] is not None]
    return {
        "macro_roc_auc": round(float(np.mean(aucs)), 4) if aucs else None,
        "macro_f1": round(float(np.mean([m["f1"] for m in per_concept.values()])), 4),
    }


def phase_timings(started: float, selected: float, fitted: float, done: float) -> dict[str, float]:
    """Phase durations from ``time.perf_counter`` marks."""
    return {"select_c_seconds": round(selected - started, 4),
            "fit_seconds": round(fitted - selected, 4),
            "evaluation_seconds": round(done - fitted, 4)}
