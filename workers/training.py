"""Fit and evaluate a linear head on embeddings: pure functions on arrays.

The head is logistic regression on L2-normalised embeddings, with balanced class
weights and its regularisation strength chosen by cross-validation. Mutually
exclusive concepts get one softmax (multinomial) head; otherwise each concept
gets its own sigmoid (one-vs-rest) trained on the inputs labelled for it.

A video is one input with a row per sampled frame: its rows share a group, so
cross-validation never tests a video on frames it trained on, and they share
one input's weight, so a long video does not outvote the images beside it.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss, precision_recall_fscore_support, roc_auc_score
from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold, train_test_split

from shared.errors import TrainingError
from workers.calibration import apply_temperature, expected_calibration_error, fit_temperature
from workers.pr_curve import pr_curve
from workers.prototypes import fit_prototypes, prototype_probabilities, softmax, unit

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
    model_concepts = set(concepts)
    y = np.full((len(data.positive), len(concepts)), UNLABELLED, dtype=np.int64)
    for row, (positive, negative) in enumerate(zip(data.positive, data.negative)):
        others_positive = bool(positive & model_concepts)
        for col, concept in enumerate(concepts):
            if concept in positive:
                y[row, col] = 1
            elif concept in negative or (closed_environment and others_positive):
                y[row, col] = 0
    return y


# --- fitting -----------------------------------------------------------------------------
def _logreg(c: float, seed: int) -> LogisticRegression:
    return LogisticRegression(C=c, class_weight="balanced", max_iter=2000, random_state=seed)


def _fit(x: np.ndarray, y: np.ndarray, c: float, seed: int,
         weights: np.ndarray | None = None) -> LogisticRegression:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return _logreg(c, seed).fit(x, y, sample_weight=weights)


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


def select_c(x: np.ndarray, y: np.ndarray, folds: int, seed: int,
             groups: np.ndarray | None = None, weights: np.ndarray | None = None,
             ) -> tuple[float, str]:
    """Pick C from ``C_GRID`` by stratified cross-validated log loss.

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
    labels = np.unique(y)
    best_c, best_loss = DEFAULT_C, np.inf
    for c in C_GRID:
        losses = []
        for train, test in splits:
            clf = _fit(x[train], y[train], c, seed, _take(weights, train))
            losses.append(log_loss(y[test], clf.predict_proba(x[test]), labels=labels,
                                   sample_weight=_take(weights, test)))
        loss = float(np.mean(losses))
        if loss < best_loss - 1e-9:
            best_c, best_loss = c, loss
    return best_c, "cv"


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
    (unless ``fixed_c`` is given), or None with too little data."""
    splits = cv_splits(y, folds, seed, groups)
    if not splits or len(np.unique(np.concatenate([test for _, test in splits]))) < len(y):
        return None
    probs = np.zeros((len(y), classes))
    for train, test in splits:
        w = _take(weights, train)
        c = fixed_c or select_c(xs[train], y[train], folds, seed, _take(groups, train), w)[0]
        clf = _fit(xs[train], y[train], c, seed, w)
        lr = np.zeros((len(test), classes))
        lr[:, clf.classes_] = clf.predict_proba(xs[test])
        prototypes = fit_prototypes(raw[train], y[train], classes, center, w, context.names,
                                    context.unlabelled)
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
    clf = _fit(fit_x, fit_y, c, seed, fit_w)
    weight, bias = clf.coef_.astype(np.float32), clf.intercept_.astype(np.float32)
    if len(concepts) == 2:
        # sklearn stores a binary problem as one row; softmax over [0, w] is the same model.
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
    )


def _real_rows(data: TrainingData) -> np.ndarray:
    """Rows of real inputs (not the names standing in for zero-shot concepts)."""
    return np.asarray([not i.startswith(NAME_ROW) for i in data.input_ids] or
                      [True] * len(data.positive), dtype=bool)


def _train_one_vs_rest(data: TrainingData, concepts: Sequence[str], closed_environment: bool,
                       folds: int, seed: int, context: Context) -> FittedHead:
    """One logistic regression per concept; in a closed environment (an input positive
    for one concept is negative for the others) blended with class prototypes, whose
    concepts may then be zero-shot."""
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
    prototypes = center = None
    ex_rows = ex_y = None
    if blend:
        ex_rows, ex_y = exclusive_targets(data, concepts)
        ex_y, ex_rows = ex_y[real[ex_rows]], ex_rows[real[ex_rows]]
        center = _center(raw[labelled_rows[real[labelled_rows]]], context)
        prototypes = fit_prototypes(raw[ex_rows], ex_y, len(concepts), center,
                                    _take(data.weights(), ex_rows), context.names,
                                    context.unlabelled)
    weight = np.zeros((len(concepts), x.shape[1]), dtype=np.float32)
    bias = np.zeros(len(concepts), dtype=np.float32)
    chosen: dict[str, float] = {}
    per_concept: dict[str, dict[str, Any]] = {}
    confusion: dict[str, dict[str, int]] = {}
    insufficient: list[str] = []
    folds_used: list[int] = []
    held_out: dict[str, tuple[np.ndarray, np.ndarray]] = {}  # concept: (rows, oof scores)
    # One sample for all concepts, stratified by each row's first positive concept.
    positive = y_all[labelled_rows] == 1
    first = np.where(positive.any(axis=1), positive.argmax(axis=1), len(concepts))
    evaluated = sample_rows(first, EVALUATION_ROWS, seed)
    evaluated = None if evaluated is None else labelled_rows[evaluated]
    for col, concept in enumerate(concepts):
        rows = np.flatnonzero(y_all[:, col] != UNLABELLED)
        xs, y = x[rows], y_all[rows, col]
        groups, weights = _take(data.groups(), rows), _take(data.weights(), rows)
        c, _ = select_c(xs, y, folds, seed, groups, weights)
        chosen[concept] = c
        clf = _fit(xs, y, c, seed, weights)
        weight[col], bias[col] = clf.coef_[0], clf.intercept_[0]
        if concept in zero_shot:
            insufficient.append(concept)
            continue
        if evaluated is not None:  # a large set: its folds run on a sample
            ev = np.isin(rows, evaluated)
            rows, xs, y = rows[ev], xs[ev], y[ev]
            groups, weights = _take(groups, ev), _take(weights, ev)
        splits = cv_splits(y, folds, seed, groups)
        if not splits or len(np.unique(np.concatenate([t for _, t in splits]))) < len(y):
            insufficient.append(concept)
            continue
        scores_all = np.zeros(len(y))
        for train, test in splits:
            fold = _fit(xs[train], y[train], c, seed, _take(weights, train))
            scores_all[test] = fold.predict_proba(xs[test])[:, 1]
            if blend:
                # The prototypes too are fitted without the held-out rows.
                keep = np.isin(ex_rows, rows[train])
                fold_protos = fit_prototypes(raw[ex_rows[keep]], ex_y[keep], len(concepts),
                                             center, _take(data.weights(), ex_rows[keep]),
                                             context.names, context.unlabelled)
                scores_all[test] = ((1 - BLEND) * scores_all[test] + BLEND *
                                    prototype_probabilities(fold_protos, center,
                                                            raw[rows[test]])[:, col])
        folds_used.append(len(splits))
        held_out[concept] = (rows, scores_all)
    temperature = 1.0
    if held_out and not zero_shot and not insufficient:
        # One temperature for all concepts: a concept has too few examples for its own.
        oof = np.full(y_all.shape, 0.5)
        truth = np.full_like(y_all, UNLABELLED)  # cells held out (rows may be sampled)
        for col, concept in enumerate(concepts):
            rows, scores = held_out[concept]
            oof[rows, col], truth[rows, col] = scores, y_all[rows, col]
        temperature = fit_temperature(oof, truth, "sigmoid", data.weights())
    for col, concept in enumerate(concepts):
        if concept not in held_out:
            continue
        rows, scores_all = held_out[concept]
        scores_all = apply_temperature(scores_all[:, None], temperature, "sigmoid")[:, 0]
        probs, y = per_input(np.column_stack([1 - scores_all, scores_all]), y_all[rows, col],
                             _take(data.groups(), rows))
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
        metrics = {"status": "ok", "folds": min(folds_used),
                   "evaluated_rows": int(len(labelled_rows if evaluated is None
                                             else evaluated)),
                   **_summary(per_concept),
                   "concepts": per_concept, "confusion_matrix": confusion}
    real_labelled = labelled_rows[real[labelled_rows]]
    params: dict[str, Any] = {"head": "logistic_regression", "activation": "sigmoid",
                              "C": chosen, "class_weight": "balanced",
                              "closed_environment": closed_environment,
                              "temperature": temperature}
    if blend:
        params.update(_blend_params(context, metrics["status"] == "ok"))
    return FittedHead(
        weight=weight, bias=bias, activation="sigmoid", prototypes=prototypes, center=center,
        params=params, metrics=metrics,
        counts={"examples": data.inputs_among(real_labelled), "rows": int(len(real_labelled)),
                "positives": {c: data.inputs_among(np.flatnonzero((y_all[:, col] == 1) & real))
                              for col, c in enumerate(concepts)},
                "negatives": {c: data.inputs_among(np.flatnonzero((y_all[:, col] == 0) & real))
                              for col, c in enumerate(concepts)},
                "zero_shot": zero_shot},
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
    if mutually_exclusive:
        return _train_exclusive(data, list(concepts), folds, seed, context)
    return _train_one_vs_rest(data, list(concepts), closed_environment, folds, seed, context)
