"""Cross-validation folds and samples, and the choice of a regression's C.

C comes from ``C_GRID`` by held-out log loss, all the splits (and concepts, or folds'
own selections) of a head fitted together by the batched solver of
:mod:`workers.logistic`. Selection and evaluation run on stratified samples of
``SELECTION_ROWS`` and ``EVALUATION_ROWS`` rows, so their cost stays flat on big data.
The head modules read both as attributes of this module, so one setting (or a test's
patch) rules every caller.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold, train_test_split

from workers.logistic import fit_many, fit_softmax_many, log_loss
from workers.prototypes import softmax

C_GRID = (0.1, 1.0, 10.0, 100.0)
DEFAULT_C = 10.0
# C is chosen on at most this many rows: selection cost stays flat on big data. Above
# it, an exclusive model's folds reuse that C rather than choosing their own.
SELECTION_ROWS = 2000
# Cross-validation runs on a stratified sample of at most this many rows.
EVALUATION_ROWS = 20000


def take(values: np.ndarray | None, rows: np.ndarray) -> np.ndarray | None:
    """Some rows of an optional per-row array (groups, weights): None stays None."""
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


def best_c(fit: Callable[[float, Any], Any], held_out_losses: Callable[[Any], np.ndarray],
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
    """Each task's C from ``C_GRID`` by held-out log loss over its splits (:func:`best_c`):
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
                     [np.arange(len(test)), y[test]], take(weights, test))
            for j, (_, _, test) in enumerate(problems)])

    return best_c(lambda c, start: fit_exclusive(x, y, classes, member,
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
        x, y, groups, weights = x[keep], y[keep], take(groups, keep), take(weights, keep)
    splits = cv_splits(y, folds, seed, groups)
    if not splits:
        return DEFAULT_C, "default"
    # Numbered among the classes present: a class the sample missed has no rows, and
    # a softmax column without rows has no optimum (its intercept runs off).
    present, y = np.unique(y, return_inverse=True)
    return choose_c(x, y, len(present), [splits], weights)[0], "cv"
