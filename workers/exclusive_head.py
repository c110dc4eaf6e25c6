"""The head of a mutually exclusive model: one softmax regression blended with class
prototypes, whose concepts may be zero-shot (learnt from their names)."""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np

from shared.errors import TrainingError
from workers import cross_validation as cv
from workers.calibration import apply_temperature, expected_calibration_error, fit_temperature
from workers.cross_validation import (
    choose_c,
    cv_splits,
    exclusive_probabilities,
    fit_exclusive,
    sample_rows,
    select_c,
    take,
)
from workers.head_metrics import (
    concept_metrics,
    macro_summary,
    not_evaluated,
    per_input,
    phase_timings,
)
from workers.heads import BLEND, FittedHead, blend_params, l2_normalise
from workers.prototypes import fit_prototypes, prototype_probabilities
from workers.training_data import Context, TrainingData, app_center, exclusive_targets


def _blended_oof(xs: np.ndarray, raw: np.ndarray, y: np.ndarray, classes: int, folds: int,
                 seed: int, groups: np.ndarray | None, weights: np.ndarray | None,
                 center: np.ndarray, context: Context, fixed_c: float | None = None,
                 ) -> tuple[np.ndarray, int] | None:
    """Out-of-fold probabilities of the whole blended procedure, C selection included
    (unless ``fixed_c`` is given), or None with too little data.

    The folds' regressions are fitted together, and so are all the folds' own C
    selections (nested: each fold chooses C on its training rows alone).
    """
    splits = cv_splits(y, folds, seed, groups)
    if not splits or len(np.unique(np.concatenate([test for _, test in splits]))) < len(y):
        return None
    if fixed_c is not None:
        cs = [fixed_c] * len(splits)
    else:
        # Only small sets get here (at most cv.SELECTION_ROWS rows), so no fold is sampled.
        tasks = [[(train[a], train[b]) for a, b in
                  cv_splits(y[train], folds, seed, take(groups, train))]
                 for train, _ in splits]
        cs = choose_c(xs, y, classes, tasks, weights)
    member = np.zeros((len(y), len(splits)), dtype=bool)
    for j, (train, _) in enumerate(splits):
        member[train, j] = True
    coef, intercept = fit_exclusive(xs, y, classes, member, cs, weights)
    probs = np.zeros((len(y), classes))
    for j, (train, test) in enumerate(splits):
        lr = exclusive_probabilities(xs[test], coef[j], intercept[j])
        prototypes = fit_prototypes(raw[train], y[train], classes, center,
                                    take(weights, train), context.names, context.unlabelled)
        probs[test] = ((1 - BLEND) * lr
                       + BLEND * prototype_probabilities(prototypes, center, raw[test]))
    return probs, len(splits)


def train_exclusive(data: TrainingData, concepts: Sequence[str], folds: int, seed: int,
                     context: Context) -> FittedHead:
    """Logistic regression blended with class prototypes; concepts without examples
    learn from their names when there are names (zero-shot)."""
    if len(concepts) < 2:
        raise TrainingError("a mutually exclusive model needs at least 2 concepts",
                            code="too_few_concepts", details={"concepts": list(concepts)})
    started = time.perf_counter()
    rows, y = exclusive_targets(data, concepts)
    counts = np.bincount(y, minlength=len(concepts))
    zero_shot = [c for c, n in zip(concepts, counts) if n == 0]
    if zero_shot and context.names is None:
        raise TrainingError(f"no positive examples for {', '.join(zero_shot)}",
                            code="no_positives", details={"concepts": zero_shot})
    vectors = np.asarray(data.vectors, dtype=np.float32)
    if not len(rows) and context.names is not None:
        vectors = np.zeros((0, context.names.shape[1]), np.float32)  # nothing labelled yet
    raw = vectors[rows]
    xs = l2_normalise(raw)
    groups, weights = take(data.groups(), rows), take(data.weights(), rows)
    center = app_center(raw, context)
    # Logistic regression needs every class: a zero-shot concept's name is its example.
    fit_x, fit_y, fit_w = xs, y, weights
    if zero_shot:
        missing = [concepts.index(c) for c in zero_shot]
        fit_x = np.vstack([xs, l2_normalise(context.names[missing])])
        fit_y = np.concatenate([y, missing])
        fit_w = None if weights is None else np.concatenate([weights, np.ones(len(missing))])
    c, how = select_c(fit_x, fit_y, folds, seed, None if zero_shot else groups, fit_w)
    selected = time.perf_counter()
    coef, intercept = fit_exclusive(fit_x, fit_y, len(concepts),
                                    np.ones((len(fit_y), 1), dtype=bool), [c], fit_w)
    fitted = time.perf_counter()
    weight, bias = coef[0].astype(np.float32), intercept[0].astype(np.float32)
    if len(concepts) == 2:
        # A binary problem is one logit; softmax over [0, w] is the same model.
        weight = np.vstack([np.zeros_like(weight), weight])
        bias = np.concatenate([np.zeros_like(bias), bias])
    prototypes = fit_prototypes(raw, y, len(concepts), center, weights, context.names,
                                context.unlabelled)
    # A large set is evaluated on a sample, with the C chosen above: both choices only
    # matter with little data, and cost a fit per fold and C on every row.
    ev = sample_rows(y, cv.EVALUATION_ROWS, seed)
    ev = np.arange(len(y)) if ev is None else ev
    y_ev, groups_ev, weights_ev = y[ev], take(groups, ev), take(weights, ev)
    oof = None if zero_shot else _blended_oof(
        xs[ev], raw[ev], y_ev, len(concepts), folds, seed, groups_ev, weights_ev, center,
        context, fixed_c=c if len(y) > cv.SELECTION_ROWS else None)
    temperature = 1.0
    if zero_shot:
        metrics = not_evaluated(f"zero-shot concepts have no example to hold out: "
                                f"{', '.join(zero_shot)}")
    elif oof is None:
        metrics = not_evaluated("every concept needs at least 2 examples for cross-validation")
    else:
        temperature = fit_temperature(oof[0], y_ev, "softmax", weights_ev)
        probs, y_eval = per_input(apply_temperature(oof[0], temperature, "softmax"), y_ev,
                                  groups_ev)
        predicted = probs.argmax(axis=1)
        per_concept = {
            concept: concept_metrics((y_eval == i).astype(int), probs[:, i],
                                      (predicted == i).astype(int))
            for i, concept in enumerate(concepts)
        }
        confusion = np.zeros((len(concepts), len(concepts)), dtype=int)
        np.add.at(confusion, (y_eval, predicted), 1)
        metrics = {
            "status": "ok", "folds": oof[1], "evaluated_rows": int(len(ev)),
            "accuracy": round(float((predicted == y_eval).mean()), 4),
            "ece": round(expected_calibration_error(probs, y_eval), 4),
            **macro_summary(per_concept), "concepts": per_concept,
            "confusion_matrix": {"labels": list(concepts), "matrix": confusion.tolist()},
        }
    done = time.perf_counter()
    return FittedHead(
        weight=weight, bias=bias, activation="softmax", prototypes=prototypes, center=center,
        params={**blend_params(context, oof is not None), "activation": "softmax", "C": c,
                "C_selection": how, "class_weight": "balanced", "temperature": temperature},
        metrics=metrics,
        counts={"examples": data.inputs_among(rows), "rows": int(len(rows)),
                "positives": {cn: data.inputs_among(rows[y == i])
                              for i, cn in enumerate(concepts)},
                "ignored_ambiguous": int(sum(1 for p in data.positive
                                             if len(p & set(concepts)) > 1)),
                "zero_shot": zero_shot},
        timings=phase_timings(started, selected, fitted, done),
    )
