"""The per-concept precision/recall curve stored with a version's metrics."""

from __future__ import annotations

import numpy as np

from workers.pr_curve import GRID, pr_curve


def test_curve_counts_scores_at_or_above_each_threshold():
    truth = np.array([1, 1, 1, 0, 0, 0, 0, 0])
    scores = np.array([0.9, 0.6, 0.3, 0.7, 0.2, 0.1, 0.05, 0.0])
    curve = pr_curve(truth, scores)
    assert curve["thresholds"] == list(GRID) and len(GRID) == 21
    at = {t: i for i, t in enumerate(GRID)}
    # Everything is predicted at 0: precision is the share of positives.
    assert curve["precision"][at[0.0]] == 0.375 and curve["recall"][at[0.0]] == 1.0
    # At 0.5: 0.9, 0.7 and 0.6 pass, two of them positives.
    assert curve["predicted"][at[0.5]] == 3
    assert curve["precision"][at[0.5]] == 0.6667 and curve["recall"][at[0.5]] == 0.6667
    # A score equal to the threshold counts; above every score nothing is predicted.
    assert curve["predicted"][at[0.3]] == 4
    assert curve["precision"][at[0.95]] is None and curve["recall"][at[0.95]] == 0.0


def test_recall_is_undefined_without_positives():
    curve = pr_curve(np.zeros(4, dtype=int), np.array([0.2, 0.4, 0.6, 0.8]))
    assert all(r is None for r in curve["recall"])
    assert curve["precision"][0] == 0.0


def test_training_metrics_carry_the_curve():
    from workers.head_metrics import concept_metrics

    truth = np.array([1, 0, 1, 0])
    scores = np.array([0.8, 0.3, 0.6, 0.55])
    metrics = concept_metrics(truth, scores, (scores >= 0.5).astype(int))
    assert metrics["pr_curve"] == pr_curve(truth, scores)
