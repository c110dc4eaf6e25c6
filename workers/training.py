"""Fit and evaluate a linear head on embeddings: pure functions on arrays.

The head is logistic regression on L2-normalised embeddings, with balanced class
weights and its regularisation strength chosen by cross-validation. Mutually
exclusive concepts get one softmax (multinomial) head; otherwise each concept
gets its own sigmoid (one-vs-rest) trained on the inputs labelled for it. All the
regressions a head needs (concepts, C values, folds) are fitted together by the
batched solver of :mod:`workers.logistic`.

A video is one input with a row per sampled frame: its rows share a group, so
cross-validation never tests a video on frames it trained on, and they share
one input's weight, so a long video does not outvote the images beside it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sklearn.metrics import precision_recall_fscore_support, roc_auc_score
from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold, train_test_split

from shared.errors import TrainingError
from workers.blas_threads import wide_for
from workers.calibration import apply_temperature, expected_calibration_error, fit_temperature
from workers.logistic import fit_many, fit_softmax_many, log_loss
from workers.pr_curve import pr_curve
from workers.prototypes import (
    TAU,
    centred_rows,
    class_sums,
    fit_prototypes,
    prototype_probabilities,
    prototypes_from_rows,
    prototypes_from_sums,
    softmax,
    unit,
)

C_GRID = (0.1, 1.0, 10.0, 100.0)
# Weight of the prototypes in a blended head (the rest: logistic regression). With
# nothing to hold out (one example of some concept, or none), the regression's C is a
# guess and its probabilities are flat: the prototypes alone were as accurate and far
# better calibrated there (docs/benchmarks.md#few-shot-accuracy).
BLEND = 0.5
BLEND_UNEVALUATED = 1.0
DEFAULT_C = 10.0
# C is chosen on at most this many rows: selection cost stays flat on big data. Above
# it, an exclusive model's folds reuse that C rather than choosing their own.
SELECTION_ROWS = 2000
# Cross-validation runs on a stratified sample of at most this many rows.
EVALUATION_ROWS = 20000
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
class FittedHead:
    """A trained head and what it learned from."""

    weight: np.ndarray  # (concepts, dim)
    bias: np.ndarray  # (concepts,)
    activation: str  # "softmax" | "sigmoid"
    params: dict[str, Any]
    metrics: dict[str, Any]
    counts: dict[str, Any]
    prototypes: np.ndarray | None = None  # (concepts, dim): blended heads only
    center: np.ndarray | None = None  # (dim,)
    # Seconds spent choosing C, fitting, and cross-validating (with calibration and metrics).
    timings: dict[str, float] = field(default_factory=dict)

    def tensors(self) -> dict[str, np.ndarray]:
        """The arrays to store (safetensors)."""
        out = {"weight": self.weight, "bias": self.bias}
        if self.prototypes is not None and self.center is not None:
            out.update(prototypes=self.prototypes, center=self.center)
        return out


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


def l2_normalise(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (zero rows stay zero), as float32."""
    return unit(x).astype(np.float32)


def apply_head(weight: np.ndarray, bias: np.ndarray, activation: str, x: np.ndarray,
               prototypes: np.ndarray | None = None, center: np.ndarray | None = None,
               temperature: float = 1.0, blend: float = BLEND) -> np.ndarray:
    """Concept probabilities ``(n, concepts)`` for embeddings ``x``.

    A blended head (exclusive, or one-vs-rest in a closed environment) averages its
    logistic regressions' probabilities with those of its class prototypes, which
    weigh ``blend``. The result is rescaled by the head's temperature
    (:mod:`workers.calibration`).
    """
    logits = l2_normalise(x) @ weight.T + bias
    probs = softmax(logits) if activation == "softmax" else 1.0 / (1.0 + np.exp(-logits))
    if prototypes is not None and center is not None:
        probs = (1 - blend) * probs + blend * prototype_probabilities(prototypes, center, x)
    return apply_temperature(probs, temperature, activation)


def head_probabilities(head: Any, x: np.ndarray) -> np.ndarray:
    """:func:`apply_head` for a stored or fitted head (anything with its arrays)."""
    params = getattr(head, "params", None) or head.manifest["params"]
    activation = getattr(head, "activation", None) or head.manifest["activation"]
    return apply_head(head.weight, head.bias, activation, x, head.prototypes, head.center,
                      params.get("temperature", 1.0), params.get("blend", BLEND))


# --- targets ---------------------------------------------------------------------------
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


# --- fitting -----------------------------------------------------------------------------
def _take(values: np.ndarray | None, rows: np.ndarray) -> np.ndarray | None:
    return None if values is None else values[rows]


def cv_splits(y: np.ndarray, folds: int, seed: int, groups: np.ndarray | None = None
              ) -> list[tuple[np.ndarray, np.ndarray]]:
    """Stratified k-fold splits that keep each group (an input's frames) in one fold.

    k is lowered to the smallest class's number of examples (inputs, with
    groups); a split whose training side lacks a class is dropped.

    Returns:
        ``(train, test)`` row indices; empty when no class has 2 examples to split.
    """
    classes = np.unique(y)
    if groups is None:
        k = int(min(folds, min((y == cls).sum() for cls in classes)))
        splitter: StratifiedKFold | StratifiedGroupKFold = StratifiedKFold(
            n_splits=max(k, 2), shuffle=True, random_state=seed)
    else:
        k = int(min(folds, min(len(np.unique(groups[y == cls])) for cls in classes)))
        splitter = StratifiedGroupKFold(n_splits=max(k, 2), shuffle=True, random_state=seed)
    if k < 2 or len(classes) < 2:
        return []
    splits = splitter.split(np.zeros(len(y)), y, groups)
    return [(train, test) for train, test in splits if len(np.unique(y[train])) == len(classes)]


def sample_rows(y: np.ndarray, limit: int, seed: int) -> np.ndarray | None:
    """Sorted row indices of a stratified sample of ``limit`` rows, or None when there
    are no more rows than that.

    Stratified, so a rare class keeps its share (plain random when some class has a
    single row, which stratification cannot split).
    """
    if len(y) <= limit:
        return None
    stratify = y if np.unique(y, return_counts=True)[1].min() >= 2 else None
    keep, _ = train_test_split(np.arange(len(y)), train_size=limit, stratify=stratify,
                               random_state=seed)
    return np.sort(keep)


def fit_exclusive(x: np.ndarray, y: np.ndarray, classes: int, member: np.ndarray,
                  c: Sequence[float] | np.ndarray, weights: np.ndarray | None = None,
                  init: tuple[np.ndarray, np.ndarray] | None = None,
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Balanced logistic regressions of ``y``, one per column of ``member``, fitted
    together (:mod:`workers.logistic`): multinomial for 3+ classes, one sigmoid for 2,
    as scikit-learn's ``LogisticRegression`` fits them.

    Every class needs a member row in every column.

    Returns:
        ``(coef (m, k, dim), intercept (m, k))``; ``k`` is 1 for two classes (the
        positive class's logit), else ``classes``.
    """
    c = np.asarray(c, np.float64)
    if classes == 2:
        targets = np.broadcast_to((y == 1)[:, None], member.shape)
        start = None if init is None else (init[0][:, 0], init[1][:, 0])
        coef, intercept = fit_many(x, targets, member, c, weights, init=start)
        return coef[:, None], intercept[:, None]
    return fit_softmax_many(x, y, member, classes, c, weights, init=init)


def exclusive_probabilities(x: np.ndarray, coef: np.ndarray, intercept: np.ndarray
                            ) -> np.ndarray:
    """``(n, classes)`` probabilities of one regression from :func:`fit_exclusive`."""
    z = np.asarray(x, np.float32) @ coef.T.astype(np.float32) + intercept.astype(np.float32)
    if coef.shape[0] == 1:
        positive = 1.0 / (1.0 + np.exp(-z[:, 0].astype(np.float64)))
        return np.column_stack([1 - positive, positive])
    return softmax(z.astype(np.float64))


def _best_c(fit: Callable[[float, Any], Any], held_out_losses: Callable[[Any], np.ndarray],
            group_of: np.ndarray, groups: int) -> list[float]:
    """Each group's C from ``C_GRID``: the lowest mean held-out loss over its problems
    (the smallest C among equals; ``DEFAULT_C`` for a group without problems).

    The grid is walked from the strongest regularisation up, each C's batched fit
    warm-started from the last: the same optima, reached in fewer iterations.

    Args:
        fit: ``fit(c, start)`` fits every problem at C from ``start`` (None: cold).
        held_out_losses: Each problem's held-out log loss under a fit.
        group_of: Each problem's group (a task, or a concept).
        groups: Number of groups.
    """
    losses = np.zeros((len(C_GRID), len(group_of)))
    fitted = None
    for k, c in enumerate(C_GRID):
        fitted = fit(c, fitted)
        losses[k] = held_out_losses(fitted)
    return [C_GRID[int(np.argmin(losses[:, group_of == g].mean(axis=1)))]
            if (group_of == g).any() else DEFAULT_C for g in range(groups)]


def choose_c(x: np.ndarray, y: np.ndarray, classes: int,
             tasks: Sequence[Sequence[tuple[np.ndarray, np.ndarray]]],
             weights: np.ndarray | None = None) -> list[float]:
    """Each task's C from ``C_GRID`` by held-out log loss over its splits (:func:`_best_c`):
    every split of every task is one problem of a batched fit per C.

    Args:
        x: Rows of every task.
        y: Their classes.
        classes: Number of classes (each split's training side has all of them).
        tasks: Each task's ``(train, test)`` row indices.
        weights: Row weights, or None.
    """
    problems = [(task, train, test) for task, splits in enumerate(tasks)
                for train, test in splits]
    if not problems:
        return [DEFAULT_C] * len(tasks)
    member = np.zeros((len(y), len(problems)), dtype=bool)
    for j, (_, train, _) in enumerate(problems):
        member[train, j] = True

    def held_out_losses(fitted: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
        return np.asarray([
            log_loss(exclusive_probabilities(x[test], fitted[0][j], fitted[1][j])
                     [np.arange(len(test)), y[test]], _take(weights, test))
            for j, (_, _, test) in enumerate(problems)])

    return _best_c(lambda c, start: fit_exclusive(x, y, classes, member,
                                                  np.full(len(problems), c), weights,
                                                  init=start),
                   held_out_losses, np.asarray([task for task, _, _ in problems]), len(tasks))


def select_c(x: np.ndarray, y: np.ndarray, folds: int, seed: int,
             groups: np.ndarray | None = None, weights: np.ndarray | None = None,
             ) -> tuple[float, str]:
    """Pick C from ``C_GRID`` by stratified cross-validated log loss (:func:`choose_c`),
    on a stratified sample of at most ``SELECTION_ROWS`` rows.

    Args:
        x: Unit-length rows.
        y: Class indices.

    Returns:
        The chosen C and how it was chosen (``"cv"``, or ``"default"`` when some
        class has fewer than 2 examples and no fold split exists).
    """
    keep = sample_rows(y, SELECTION_ROWS, seed)
    if keep is not None:
        x, y, groups, weights = x[keep], y[keep], _take(groups, keep), _take(weights, keep)
    splits = cv_splits(y, folds, seed, groups)
    if not splits:
        return DEFAULT_C, "default"
    # Numbered among the classes present: a class the sample missed has no rows, and
    # a softmax column without rows has no optimum (its intercept runs off).
    present, y = np.unique(y, return_inverse=True)
    return choose_c(x, y, len(present), [splits], weights)[0], "cv"


# --- evaluation ---------------------------------------------------------------------------
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


def _concept_metrics(truth: np.ndarray, scores: np.ndarray, predicted: np.ndarray) -> dict[str, Any]:
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


def _insufficient(reason: str) -> dict[str, Any]:
    return {"status": "insufficient_data", "reason": reason}


def _summary(per_concept: dict[str, dict[str, Any]]) -> dict[str, Any]:
    aucs = [m["roc_auc"] for m in per_concept.values() if m["roc_auc"] is not None]
    return {
        "macro_roc_auc": round(float(np.mean(aucs)), 4) if aucs else None,
        "macro_f1": round(float(np.mean([m["f1"] for m in per_concept.values()])), 4),
    }


# --- the two head kinds -------------------------------------------------------------------
def _timings(started: float, selected: float, fitted: float, done: float) -> dict[str, float]:
    """Phase durations from ``time.perf_counter`` marks."""
    return {"select_c_seconds": round(selected - started, 4),
            "fit_seconds": round(fitted - selected, 4),
            "evaluation_seconds": round(done - fitted, 4)}


def _center(labelled: np.ndarray, context: Context) -> np.ndarray:
    """The app's mean embedding: of the labelled and unlabelled inputs, else the names."""
    seen = [m for m in (labelled, context.unlabelled) if m is not None and len(m)]
    return (np.vstack(seen) if seen else context.names).mean(axis=0).astype(np.float32)


def _blend_params(context: Context, evaluated: bool) -> dict[str, Any]:
    """What a blended head records about its prototypes; ``evaluated``: whether the
    data allowed cross-validation (which sets the blend)."""
    return {"head": "logistic_regression+prototypes",
            "blend": BLEND if evaluated else BLEND_UNEVALUATED,
            "names_prior": context.names is not None,
            "unlabelled": 0 if context.unlabelled is None else int(len(context.unlabelled))}


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
        # Only small sets get here (at most SELECTION_ROWS rows), so no fold is sampled.
        tasks = [[(train[a], train[b]) for a, b in
                  cv_splits(y[train], folds, seed, _take(groups, train))]
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
                                    _take(weights, train), context.names, context.unlabelled)
        probs[test] = ((1 - BLEND) * lr
                       + BLEND * prototype_probabilities(prototypes, center, raw[test]))
    return probs, len(splits)


def _train_exclusive(data: TrainingData, concepts: Sequence[str], folds: int, seed: int,
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
    groups, weights = _take(data.groups(), rows), _take(data.weights(), rows)
    center = _center(raw, context)
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
    ev = sample_rows(y, EVALUATION_ROWS, seed)
    ev = np.arange(len(y)) if ev is None else ev
    y_ev, groups_ev, weights_ev = y[ev], _take(groups, ev), _take(weights, ev)
    oof = None if zero_shot else _blended_oof(
        xs[ev], raw[ev], y_ev, len(concepts), folds, seed, groups_ev, weights_ev, center,
        context, fixed_c=c if len(y) > SELECTION_ROWS else None)
    temperature = 1.0
    if zero_shot:
        metrics = _insufficient(f"zero-shot concepts have no example to hold out: "
                                f"{', '.join(zero_shot)}")
    elif oof is None:
        metrics = _insufficient("every concept needs at least 2 examples for cross-validation")
    else:
        temperature = fit_temperature(oof[0], y_ev, "softmax", weights_ev)
        probs, y_eval = per_input(apply_temperature(oof[0], temperature, "softmax"), y_ev,
                                  groups_ev)
        predicted = probs.argmax(axis=1)
        per_concept = {
            concept: _concept_metrics((y_eval == i).astype(int), probs[:, i],
                                      (predicted == i).astype(int))
            for i, concept in enumerate(concepts)
        }
        confusion = np.zeros((len(concepts), len(concepts)), dtype=int)
        np.add.at(confusion, (y_eval, predicted), 1)
        metrics = {
            "status": "ok", "folds": oof[1], "evaluated_rows": int(len(ev)),
            "accuracy": round(float((predicted == y_eval).mean()), 4),
            "ece": round(expected_calibration_error(probs, y_eval), 4),
            **_summary(per_concept), "concepts": per_concept,
            "confusion_matrix": {"labels": list(concepts), "matrix": confusion.tolist()},
        }
    done = time.perf_counter()
    return FittedHead(
        weight=weight, bias=bias, activation="softmax", prototypes=prototypes, center=center,
        params={**_blend_params(context, oof is not None), "activation": "softmax", "C": c,
                "C_selection": how, "class_weight": "balanced", "temperature": temperature},
        metrics=metrics,
        counts={"examples": data.inputs_among(rows), "rows": int(len(rows)),
                "positives": {cn: data.inputs_among(rows[y == i])
                              for i, cn in enumerate(concepts)},
                "ignored_ambiguous": int(sum(1 for p in data.positive
                                             if len(p & set(concepts)) > 1)),
                "zero_shot": zero_shot},
        timings=_timings(started, selected, fitted, done),
    )


def _real_rows(data: TrainingData) -> np.ndarray:
    """Rows of real inputs (not the names standing in for zero-shot concepts)."""
    return np.asarray([not i.startswith(NAME_ROW) for i in data.input_ids] or
                      [True] * len(data.positive), dtype=bool)


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
        splits = cv_splits(y_all[rows, col], folds, seed, _take(groups, rows))
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
    ``SELECTION_ROWS`` rows, the mean held-out log loss over folds, the smallest C
    among equals (:func:`_best_c`). Every (concept, fold) is a column of one batched
    fit per C. Concepts without a split keep ``DEFAULT_C``.
    """
    positive = y_all[labelled_rows] == 1
    first = np.where(positive.any(axis=1), positive.argmax(axis=1), y_all.shape[1])
    keep = sample_rows(first, SELECTION_ROWS, seed)
    rows = labelled_rows if keep is None else labelled_rows[keep]
    y_s, g_s, w_s = y_all[rows], _take(groups, rows), _take(weights, rows)
    columns = _fold_columns(y_s, range(y_all.shape[1]), folds, seed, g_s, complete=False)
    if not len(columns.concept):
        return {col: DEFAULT_C for col in range(y_all.shape[1])}
    xs, targets = x[rows], _column_targets(y_s, columns.concept)

    def held_out_losses(fitted: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
        scores = _held_out_scores(xs, *fitted, columns.test)
        return np.asarray([
            log_loss(np.where(y_s[test, columns.concept[j]] == 1, p, 1 - p), _take(w_s, test))
            for j, (test, p) in enumerate(zip(columns.test, scores))])

    best = _best_c(lambda c, start: fit_many(xs, targets, columns.train,
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


def _train_one_vs_rest(data: TrainingData, concepts: Sequence[str], closed_environment: bool,
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
    real = _real_rows(data)
    groups, weights = data.groups(), data.weights()
    prototypes = center = None
    ex_rows = ex_y = ex_centred = None
    if blend:
        ex_rows, ex_y = exclusive_targets(data, concepts)
        ex_y, ex_rows = ex_y[real[ex_rows]], ex_rows[real[ex_rows]]
        center = _center(raw[labelled_rows[real[labelled_rows]]], context)
        ex_centred = centred_rows(raw[ex_rows], center, _take(weights, ex_rows))
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

    # Cross-validation, on one stratified sample of at most EVALUATION_ROWS rows for
    # all concepts (by each row's first positive concept).
    positive = y_all[labelled_rows] == 1
    first = np.where(positive.any(axis=1), positive.argmax(axis=1), len(concepts))
    evaluated = sample_rows(first, EVALUATION_ROWS, seed)
    ev_rows = labelled_rows if evaluated is None else labelled_rows[evaluated]
    y_ev = np.full_like(y_all, UNLABELLED)
    y_ev[ev_rows] = y_all[ev_rows]
    real_concepts = [col for col, c in enumerate(concepts) if c not in zero_shot]
    columns = _fold_columns(y_ev[ev_rows], real_concepts, folds, seed, _take(groups, ev_rows),
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
            c_values[columns.concept], _take(weights, ev_rows))
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
                             _take(groups, rows))
        scores = probs[:, 1]
        predicted = (scores >= 0.5).astype(int)
        per_concept[concept] = _concept_metrics(y, scores, predicted)
        confusion[concept] = {
            "tp": int(((predicted == 1) & (y == 1)).sum()),
            "fp": int(((predicted == 1) & (y == 0)).sum()),
            "fn": int(((predicted == 0) & (y == 1)).sum()),
            "tn": int(((predicted == 0) & (y == 0)).sum()),
        }
    if zero_shot:
        metrics = _insufficient(f"zero-shot concepts have no example to hold out: "
                                f"{', '.join(zero_shot)}")
    elif insufficient:
        metrics = _insufficient(
            "each concept needs at least 2 positive and 2 negative examples for "
            f"cross-validation: {', '.join(insufficient)}"
        )
    else:
        metrics = {"status": "ok", "folds": min(columns.folds.values()),
                   "evaluated_rows": int(len(ev_rows)),
                   **_summary(per_concept),
                   "concepts": per_concept, "confusion_matrix": confusion}
    real_labelled = labelled_rows[real[labelled_rows]]
    params: dict[str, Any] = {"head": "logistic_regression", "activation": "sigmoid",
                              "C": {c: float(chosen_c[col]) for col, c in enumerate(concepts)},
                              "class_weight": "balanced",
                              "closed_environment": closed_environment,
                              "temperature": temperature}
    if blend:
        params.update(_blend_params(context, metrics["status"] == "ok"))
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
        timings=_timings(started, selected, fitted, done),
    )


def train_head(data: TrainingData, concepts: Sequence[str], *, mutually_exclusive: bool,
               closed_environment: bool, folds: int = 5, seed: int = 0,
               context: Context | None = None) -> FittedHead:
    """Fit a head for ``concepts`` and evaluate it by k-fold cross-validation.

    Exclusive models get logistic regression blended with class prototypes (which
    also learn from concept names and the app's unlabelled inputs); one-vs-rest
    models get one logistic regression per concept, blended with the same prototypes
    in a closed environment. Metrics come from cross-validating the same procedure
    (an exclusive model's C choice included; a one-vs-rest concept's C is chosen once).

    Args:
        data: Labelled vectors (labels may mention concepts outside the model).
        concepts: The model's concepts, in output order.
        mutually_exclusive: Softmax over concepts instead of one sigmoid each.
        closed_environment: Positives of other model concepts count as negatives.
        folds: Cross-validation folds (fewer when a class is smaller).
        seed: Seed for fold shuffles and solvers.
        context: Concept names and unlabelled inputs, when there are any.

    Returns:
        The fitted head with params, metrics and data counts (``zero_shot``: the
        concepts learnt from their names alone).

    Raises:
        TrainingError: With code ``no_data``, ``too_few_concepts``, ``no_positives``
            or ``no_negatives``.
    """
    context = context or Context()
    if len(data.vectors) == 0 and context.names is None:
        raise TrainingError("no embedded inputs are labelled with the model's concepts",
                            code="no_data", details={"concepts": list(concepts)})
    with wide_for(len(data.vectors) * len(concepts)):
        if mutually_exclusive:
            return _train_exclusive(data, list(concepts), folds, seed, context)
        return _train_one_vs_rest(data, list(concepts), closed_environment, folds, seed,
                                  context)
