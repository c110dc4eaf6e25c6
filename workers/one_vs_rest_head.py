"""The head of a one-vs-rest model: a logistic regression per concept, and in a closed
environment a blend with class prototypes, whose concepts may then be zero-shot.

The concepts' regressions, their C selection and their cross-validation folds are
fitted together, as columns of batched L-BFGS runs (:mod:`workers.logistic`).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from shared.errors import TrainingError
from workers import cross_validation as cv
from workers.calibration import apply_temperature, fit_temperature
from workers.cross_validation import DEFAULT_C, best_c, cv_splits, sample_rows, take
from workers.head_metrics import (
    concept_metrics,
    macro_summary,
    not_evaluated,
    per_input,
    phase_timings,
)
from workers.heads import BLEND, FittedHead, blend_params, l2_normalise
from workers.logistic import fit_many, log_loss
from workers.prototypes import (
    TAU,
    centred_rows,
    class_sums,
    prototypes_from_rows,
    prototypes_from_sums,
    softmax,
    unit,
)
from workers.training_data import (
    UNLABELLED,
    Context,
    TrainingData,
    app_center,
    binary_targets,
    exclusive_targets,
    real_rows,
)


@dataclass
class _FoldColumns:
    """Cross-validation of many concepts at once: one column per (concept, fold).

    Attributes:
        concept: ``(m,)`` the model concept of each column.
        train: ``(n, m)`` bool, each column's training rows (of the row set it was made on).
        test: Each column's held-out rows.
        folds: Concept index → its number of folds, for concepts with a usable split.
    """

    concept: np.ndarray
    train: np.ndarray
    test: list[np.ndarray]
    folds: dict[int, int]


def _fold_columns(y_all: np.ndarray, concepts: Sequence[int], folds: int, seed: int,
                  groups: np.ndarray | None, complete: bool) -> _FoldColumns:
    """Each concept's stratified folds over the rows labelled for it.

    Args:
        y_all: ``(n, concepts)`` targets (1, 0 or ``UNLABELLED``) of the row set.
        concepts: Which concepts to split.
        folds: Folds wanted (fewer for a small concept).
        seed: Shuffle seed.
        groups: Each row's input (a video's frames stay in one fold), or None.
        complete: Keep a concept only if every one of its rows is held out once
            (evaluation needs an out-of-fold score for every row; C selection does not).
    """
    concept_of: list[int] = []
    train_cols: list[np.ndarray] = []
    tests: list[np.ndarray] = []
    used: dict[int, int] = {}
    for col in concepts:
        rows = np.flatnonzero(y_all[:, col] != UNLABELLED)
        splits = cv_splits(y_all[rows, col], folds, seed, take(groups, rows))
        if not splits or (complete and len(np.unique(np.concatenate(
                [test for _, test in splits]))) < len(rows)):
            continue
        used[col] = len(splits)
        for train, test in splits:
            member = np.zeros(len(y_all), dtype=bool)
            member[rows[train]] = True
            concept_of.append(col)
            train_cols.append(member)
            tests.append(rows[test])
    train_matrix = (np.column_stack(train_cols) if train_cols
                    else np.zeros((len(y_all), 0), dtype=bool))
    return _FoldColumns(np.asarray(concept_of, dtype=np.int64), train_matrix, tests, used)


def _column_targets(y_all: np.ndarray, concept_of: np.ndarray) -> np.ndarray:
    """``(n, m)`` 1 where the row is positive for the column's concept, else 0."""
    return (y_all[:, concept_of] == 1).astype(np.float32)


def _held_out_scores(x: np.ndarray, coef: np.ndarray, intercept: np.ndarray,
                     tests: list[np.ndarray]) -> list[np.ndarray]:
    """Each column's probabilities on its own held-out rows."""
    return [1.0 / (1.0 + np.exp(-(x[rows] @ coef[j].astype(np.float32) + intercept[j])))
            for j, rows in enumerate(tests)]


def _select_c_per_concept(x: np.ndarray, y_all: np.ndarray, labelled_rows: np.ndarray,
                          folds: int, seed: int, groups: np.ndarray | None,
                          weights: np.ndarray | None) -> dict[int, float]:
    """Each concept's C from ``C_GRID`` by cross-validated log loss, all concepts at once.

    As :func:`select_c` does for one problem: on a stratified sample of at most
    ``cv.SELECTION_ROWS`` rows, the mean held-out log loss over folds, the smallest C
    among equals (:func:`best_c`). Every (concept, fold) is a column of one batched
    fit per C. Concepts without a split keep ``DEFAULT_C``.
    """
    positive = y_all[labelled_rows] == 1
    first = np.where(positive.any(axis=1), positive.argmax(axis=1), y_all.shape[1])
    keep = sample_rows(first, cv.SELECTION_ROWS, seed)
    rows = labelled_rows if keep is None else labelled_rows[keep]
    y_s, g_s, w_s = y_all[rows], take(groups, rows), take(weights, rows)
    columns = _fold_columns(y_s, range(y_all.shape[1]), folds, seed, g_s, complete=False)
    if not len(columns.concept):
        return {col: DEFAULT_C for col in range(y_all.shape[1])}
    xs, targets = x[rows], _column_targets(y_s, columns.concept)

    def held_out_losses(fitted: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
        scores = _held_out_scores(xs, *fitted, columns.test)
        return np.asarray([
            log_loss(np.where(y_s[test, columns.concept[j]] == 1, p, 1 - p), take(w_s, test))
            for j, (test, p) in enumerate(zip(columns.test, scores))])

    best = best_c(lambda c, start: fit_many(xs, targets, columns.train,
                                             np.full(len(columns.concept), c), w_s, init=start),
                   held_out_losses, columns.concept, y_all.shape[1])
    return dict(enumerate(best))


class _FoldPrototypes:
    """Class prototypes refitted without each fold's held-out rows, from one
    precomputed set: the sums of the kept rows are the total minus the held-out ones.

    Args:
        ex_centred: :func:`centred_rows` of the rows positive for exactly one concept.
        ex_rows: Their row indices.
        ex_y: Their concept.
        raw: Every row's embedding.
        scored: The rows that will be held out (the others are never scored).
    """

    def __init__(self, ex_centred: np.ndarray, ex_rows: np.ndarray, ex_y: np.ndarray,
                 raw: np.ndarray, scored: np.ndarray, classes: int, center: np.ndarray,
                 context: Context) -> None:
        self.position = np.full(len(raw), -1)
        self.position[ex_rows] = np.arange(len(ex_rows))
        self.rows, self.y, self.classes = ex_centred, ex_y, classes
        self.center, self.context = center, context
        self.total = class_sums(ex_centred, ex_y, classes)
        self.scored = np.full(len(raw), -1)
        self.scored[scored] = np.arange(len(scored))
        self.centred = unit(raw[scored] - center)

    def probabilities(self, held_out: np.ndarray) -> np.ndarray:
        """Prototype probabilities of the held-out rows, from prototypes fitted without them."""
        out = self.position[held_out]
        out = out[out >= 0]
        sums = self.total - class_sums(self.rows[out], self.y[out], self.classes)
        prototypes = prototypes_from_sums(sums, self.center, self.context.names,
                                          self.context.unlabelled)
        return softmax(TAU * self.centred[self.scored[held_out]] @ prototypes.T)


def train_one_vs_rest(data: TrainingData, concepts: Sequence[str], closed_environment: bool,
                       folds: int, seed: int, context: Context) -> FittedHead:
    """One logistic regression per concept; in a closed environment (an input positive
    for one concept is negative for the others) blended with class prototypes, whose
    concepts may then be zero-shot.

    The concepts' regressions, their C selection and their cross-validation folds are
    fitted together, as columns of batched L-BFGS runs (:mod:`workers.logistic`).
    """
    started = time.perf_counter()
    blend = closed_environment and len(concepts) >= 2
    zero_shot: list[str] = []
    labelled = set().union(*data.positive) if data.positive else set()
    missing = [c for c in concepts if c not in labelled]
    if missing and context.names is not None and (blend or len(missing) == len(concepts)):
        # Names stand in for concepts without examples: all of them, or (with the
        # prototypes to carry them) some.
        index = [list(concepts).index(c) for c in missing]
        data, zero_shot = data.with_name_examples(missing, context.names[index]), missing
    raw = np.asarray(data.vectors, dtype=np.float32)
    x = l2_normalise(raw)
    y_all = binary_targets(data, concepts, closed_environment)
    positives = (y_all == 1).sum(axis=0)
    negatives = (y_all == 0).sum(axis=0)
    no_pos = [c for c, n in zip(concepts, positives) if n == 0]
    if no_pos:
        raise TrainingError(f"no positive examples for {', '.join(no_pos)}",
                            code="no_positives", details={"concepts": no_pos})
    no_neg = [c for c, n in zip(concepts, negatives) if n == 0]
    if no_neg:
        hint = "" if closed_environment else " (label negatives or set closed_environment)"
        raise TrainingError(f"no negative examples for {', '.join(no_neg)}{hint}",
                            code="no_negatives", details={"concepts": no_neg})
    labelled_rows = np.flatnonzero((y_all != UNLABELLED).any(axis=1))
    real = real_rows(data)
    groups, weights = data.groups(), data.weights()
    prototypes = center = None
    ex_rows = ex_y = ex_centred = None
    if blend:
        ex_rows, ex_y = exclusive_targets(data, concepts)
        ex_y, ex_rows = ex_y[real[ex_rows]], ex_rows[real[ex_rows]]
        center = app_center(raw[labelled_rows[real[labelled_rows]]], context)
        ex_centred = centred_rows(raw[ex_rows], center, take(weights, ex_rows))
        prototypes = prototypes_from_rows(ex_centred, ex_y, len(concepts), center,
                                          context.names, context.unlabelled)
    chosen_c = _select_c_per_concept(x, y_all, labelled_rows, folds, seed, groups, weights)
    selected = time.perf_counter()
    c_values = np.asarray([chosen_c[col] for col in range(len(concepts))])
    all_concepts = np.arange(len(concepts))
    coef, intercept = fit_many(x, _column_targets(y_all, all_concepts), y_all != UNLABELLED,
                               c_values, weights)
    weight, bias = coef.astype(np.float32), intercept.astype(np.float32)
    fitted = time.perf_counter()

    # Cross-validation, on one stratified sample of at most cv.EVALUATION_ROWS rows for
    # all concepts (by each row's first positive concept).
    positive = y_all[labelled_rows] == 1
    first = np.where(positive.any(axis=1), positive.argmax(axis=1), len(concepts))
    evaluated = sample_rows(first, cv.EVALUATION_ROWS, seed)
    ev_rows = labelled_rows if evaluated is None else labelled_rows[evaluated]
    y_ev = np.full_like(y_all, UNLABELLED)
    y_ev[ev_rows] = y_all[ev_rows]
    real_concepts = [col for col, c in enumerate(concepts) if c not in zero_shot]
    columns = _fold_columns(y_ev[ev_rows], real_concepts, folds, seed, take(groups, ev_rows),
                            complete=True)
    insufficient = [c for col, c in enumerate(concepts) if col not in columns.folds]
    held_out: dict[str, tuple[np.ndarray, np.ndarray]] = {}  # concept: (rows, oof scores)
    if len(columns.concept):
        xe = x[ev_rows]
        # Cold starts: a fold warm-started from the fit on all rows starts from a
        # model that saw its held-out rows, and stopping at the tolerance leaves some of
        # that in (measured: held-out AUC 0.986 -> 0.998 at tol 1e-3).
        fold_coef, fold_intercept = fit_many(
            xe, _column_targets(y_all[ev_rows], columns.concept), columns.train,
            c_values[columns.concept], take(weights, ev_rows))
        scores = _held_out_scores(xe, fold_coef, fold_intercept, columns.test)
        fold_prototypes = (_FoldPrototypes(ex_centred, ex_rows, ex_y, raw, ev_rows,
                                           len(concepts), center, context) if blend else None)
        parts: dict[int, list[tuple[np.ndarray, np.ndarray]]] = {}
        for j, (test, p) in enumerate(zip(columns.test, scores)):
            col, rows = int(columns.concept[j]), ev_rows[test]
            if fold_prototypes is not None:
                # The prototypes too are fitted without the held-out rows.
                p = (1 - BLEND) * p + BLEND * fold_prototypes.probabilities(rows)[:, col]
            parts.setdefault(col, []).append((rows, p))
        for col, pieces in parts.items():
            rows = np.concatenate([r for r, _ in pieces])
            order = np.argsort(rows)
            held_out[concepts[col]] = (rows[order],
                                       np.concatenate([p for _, p in pieces])[order])
    temperature = 1.0
    if held_out and not zero_shot and not insufficient:
        # One temperature for all concepts: a concept has too few examples for its own.
        oof = np.full(y_all.shape, 0.5)
        truth = np.full_like(y_all, UNLABELLED)  # cells held out (rows may be sampled)
        for col, concept in enumerate(concepts):
            rows, scores_all = held_out[concept]
            oof[rows, col], truth[rows, col] = scores_all, y_all[rows, col]
        temperature = fit_temperature(oof, truth, "sigmoid", weights)
    per_concept: dict[str, dict[str, Any]] = {}
    confusion: dict[str, dict[str, int]] = {}
    for col, concept in enumerate(concepts):
        if concept not in held_out:
            continue
        rows, scores_all = held_out[concept]
        scores_all = apply_temperature(scores_all[:, None], temperature, "sigmoid")[:, 0]
        probs, y = per_input(np.column_stack([1 - scores_all, scores_all]), y_all[rows, col],
                             take(groups, rows))
        scores = probs[:, 1]
        predicted = (scores >= 0.5).astype(int)
        per_concept[concept] = concept_metrics(y, scores, predicted)
        confusion[concept] = {
            "tp": int(((predicted == 1) & (y == 1)).sum()),
            "fp": int(((predicted == 1) & (y == 0)).sum()),
            "fn": int(((predicted == 0) & (y == 1)).sum()),
            "tn": int(((predicted == 0) & (y == 0)).sum()),
        }
    if zero_shot:
        metrics = not_evaluated(f"zero-shot concepts have no example to hold out: "
                                f"{', '.join(zero_shot)}")
    elif insufficient:
        metrics = not_evaluated(
            "each concept needs at least 2 positive and 2 negative examples for "
            f"cross-validation: {', '.join(insufficient)}"
        )
    else:
        metrics = {"status": "ok", "folds": min(columns.folds.values()),
                   "evaluated_rows": int(len(ev_rows)),
                   **macro_summary(per_concept),
                   "concepts": per_concept, "confusion_matrix": confusion}
    real_labelled = labelled_rows[real[labelled_rows]]
    params: dict[str, Any] = {"head": "logistic_regression", "activation": "sigmoid",
                              "C": {c: float(chosen_c[col]) for col, c in enumerate(concepts)},
                              "class_weight": "balanced",
                              "closed_environment": closed_environment,
                              "temperature": temperature}
    if blend:
        params.update(blend_params(context, metrics["status"] == "ok"))
    done = time.perf_counter()
    return FittedHead(
        weight=weight, bias=bias, activation="sigmoid", prototypes=prototypes, center=center,
        params=params, metrics=metrics,
        counts={"examples": data.inputs_among(real_labelled), "rows": int(len(real_labelled)),
                "positives": {c: data.inputs_among(np.flatnonzero((y_all[:, col] == 1) & real))
                              for col, c in enumerate(concepts)},
                "negatives": {c: data.inputs_among(np.flatnonzero((y_all[:, col] == 0) & real))
                              for col, c in enumerate(concepts)},
                "zero_shot": zero_shot},
        timings=phase_timings(started, selected, fitted, done),
    )
