"""Temperature scaling: one number that makes a head's confidences mean what they say.

A blended head averages a regression's probabilities with its prototypes', which
leaves it under-confident with few examples (bench/fewshot.py measured ECE 0.27 at
two examples per concept on BBC News). Its out-of-fold probabilities, the ones the
version's metrics come from, are rescaled by the temperature that fits them best
(Guo et al., 2017); the argmax never changes, so accuracy does not either.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import minimize_scalar

# The search range of T and the spread of the prior on log T: a handful of held-out
# examples that all came out right would otherwise drive T towards zero (certainty).
T_BOUNDS = (0.1, 10.0)
LOG_T_PRIOR_SD = 1.0
_EPS = 1e-7


def _scores(probs: np.ndarray, activation: str) -> np.ndarray:
    """Log-probabilities (softmax) or logits (sigmoid): what the temperature divides."""
    p = np.clip(probs, _EPS, 1 - _EPS)
    return np.log(p) if activation == "softmax" else np.log(p / (1 - p))


def apply_temperature(probs: np.ndarray, temperature: float, activation: str) -> np.ndarray:
    """Rescale probabilities by a temperature.

    Args:
        probs: ``(n, concepts)`` probabilities: a distribution per row (softmax) or one
            independent probability per cell (sigmoid).
        temperature: Above 1 softens, below 1 sharpens; 1 leaves them as they are.
        activation: ``"softmax"`` or ``"sigmoid"``.

    Returns:
        The rescaled probabilities, same shape.
    """
    if temperature == 1.0:
        return probs
    scores = _scores(probs, activation) / temperature
    if activation == "softmax":
        e = np.exp(scores - scores.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)
    return 1.0 / (1.0 + np.exp(-scores))


def _nll(probs: np.ndarray, truth: np.ndarray, activation: str, weights: np.ndarray,
         ) -> float:
    """Weighted negative log-likelihood; a sigmoid cell with truth -1 counts nothing."""
    p = np.clip(probs, _EPS, 1 - _EPS)
    if activation == "softmax":
        per_row = -np.log(p[np.arange(len(truth)), truth])
    else:
        cells = np.where(truth == 1, np.log(p), np.log(1 - p))
        per_row = -np.where(truth >= 0, cells, 0.0).sum(axis=1)
    return float((weights * per_row).sum())


def fit_temperature(probs: np.ndarray, truth: np.ndarray, activation: str,
                    weights: np.ndarray | None = None) -> float:
    """The temperature that minimises held-out log loss, with a prior around 1.

    Args:
        probs: ``(n, concepts)`` out-of-fold probabilities.
        truth: ``(n,)`` class indices (softmax) or ``(n, concepts)`` 0/1 targets with
            -1 for cells that are not labelled (sigmoid).
        activation: ``"softmax"`` or ``"sigmoid"``.
        weights: Row weights (a video's frames share one input's weight).

    Returns:
        The temperature, rounded to 4 decimals (1.0 with no held-out rows).
    """
    if not len(probs):
        return 1.0
    w = np.ones(len(probs)) if weights is None else np.asarray(weights, dtype=float)

    def loss(log_t: float) -> float:
        scaled = apply_temperature(probs, float(np.exp(log_t)), activation)
        return _nll(scaled, truth, activation, w) + 0.5 * (log_t / LOG_T_PRIOR_SD) ** 2

    result = minimize_scalar(loss, bounds=tuple(np.log(T_BOUNDS)), method="bounded",
                             options={"xatol": 1e-4})
    return round(float(np.exp(result.x)), 4)


def expected_calibration_error(probs: np.ndarray, truth: np.ndarray, bins: int = 15) -> float:
    """ECE of the top class: the mean gap between confidence and accuracy over bins.

    Args:
        probs: ``(n, classes)`` probabilities, a distribution per row.
        truth: ``(n,)`` class indices.
        bins: Equal-width confidence bins.
    """
    confidence, correct = probs.max(axis=1), probs.argmax(axis=1) == truth
    edges = np.linspace(0, 1, bins + 1)
    total = 0.0
    for lo, hi in zip(edges[:-1], edges[1:]):
        in_bin = (confidence > lo) & (confidence <= hi)
        if in_bin.any():
            total += in_bin.mean() * abs(correct[in_bin].mean() - confidence[in_bin].mean())
    return float(total)
