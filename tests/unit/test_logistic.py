"""The batched L-BFGS (workers/logistic.py) against scikit-learn's LogisticRegression."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.utils.class_weight import compute_class_weight

from workers.logistic import balanced_weights, fit_many, log_loss


def _data(n: int = 600, dim: int = 32, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Unit rows around a shared mean, in 3 overlapping classes (as embeddings are)."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(3, dim))
    y = rng.integers(0, 3, size=n)
    x = 3.0 + centres[y] + rng.normal(scale=2.0, size=(n, dim))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32), y


def _objective(coef: np.ndarray, intercept: float, x: np.ndarray, target: np.ndarray,
               weights: np.ndarray, c: float) -> float:
    """scikit-learn's objective, scaled as it scales it."""
    z = x.astype(np.float64) @ coef + intercept
    loss = weights * (np.logaddexp(0, z) - target * z)
    return float(loss.sum() / weights.sum() + coef @ coef / (2 * c * weights.sum()))


def _sklearn(x: np.ndarray, target: np.ndarray, c: float, sample_weight=None,
             tol: float = 1e-4) -> LogisticRegression:
    return LogisticRegression(C=c, class_weight="balanced", tol=tol, max_iter=10000).fit(
        x, target, sample_weight=sample_weight)


@pytest.mark.parametrize("c", [0.1, 1.0, 10.0])
def test_matches_sklearn_on_every_column(c: float) -> None:
    x, y = _data()
    targets = (y[:, None] == np.arange(3)).astype(np.float32)
    coef, intercept = fit_many(x, targets, np.ones_like(targets, bool), np.full(3, c))
    for col in range(3):
        ref = _sklearn(x, targets[:, col].astype(int), c)
        tight = _sklearn(x, targets[:, col].astype(int), c, tol=1e-10)
        weights = balanced_weights(targets[:, col:col + 1], np.ones((len(x), 1), bool))[:, 0]
        ours = _objective(coef[col], intercept[col], x, targets[:, col], weights, c)
        best = _objective(tight.coef_[0], tight.intercept_[0], x, targets[:, col], weights, c)
        theirs = _objective(ref.coef_[0], ref.intercept_[0], x, targets[:, col], weights, c)
        # Stopped by the same test as scikit-learn (largest gradient entry < 1e-4), so
        # as near the optimum as its default fit, give or take where the last step fell.
        assert ours - best < 1e-4 and theirs - best < 1e-4
        ours_p = 1 / (1 + np.exp(-(x @ coef[col] + intercept[col])))
        assert np.abs(ours_p - tight.predict_proba(x)[:, 1]).max() < 0.02


def test_balanced_weights_are_sklearns_with_sample_weights() -> None:
    rng = np.random.default_rng(1)
    target = (rng.random(50) < 0.3).astype(np.float32)
    member = rng.random(50) < 0.8
    frames = rng.uniform(0.2, 1.0, size=50)
    ours = balanced_weights(target[:, None], member[:, None], frames)[:, 0]
    classes = np.array([0, 1])
    cw = compute_class_weight("balanced", classes=classes, y=target[member].astype(int),
                              sample_weight=frames[member])
    expected = np.zeros(50)
    expected[member] = frames[member] * cw[target[member].astype(int)]
    np.testing.assert_allclose(ours, expected, rtol=1e-6)


def test_a_column_ignores_rows_outside_its_problem() -> None:
    """Weight 0 is the same as leaving the row out (how folds share one matrix)."""
    x, y = _data(seed=2)
    target = (y == 1).astype(np.float32)
    member = np.arange(len(x)) % 5 != 0  # a fold's training rows
    coef, intercept = fit_many(x, target[:, None], member[:, None], np.array([1.0]), tol=1e-8)
    alone, alone_b = fit_many(x[member], target[member, None], np.ones((member.sum(), 1), bool),
                              np.array([1.0]), tol=1e-8)
    np.testing.assert_allclose(coef, alone, atol=1e-4)
    np.testing.assert_allclose(intercept, alone_b, atol=1e-4)


def test_sample_weights_match_sklearn() -> None:
    x, y = _data(seed=3)
    target = (y == 2).astype(np.float32)
    frames = np.random.default_rng(3).uniform(0.1, 1.0, size=len(x))
    coef, intercept = fit_many(x, target[:, None], np.ones((len(x), 1), bool), np.array([1.0]),
                               frames, tol=1e-8)
    tight = _sklearn(x, target.astype(int), 1.0, frames, tol=1e-10)
    np.testing.assert_allclose(coef[0], tight.coef_[0], atol=2e-3)
    np.testing.assert_allclose(intercept[0], tight.intercept_[0], atol=2e-3)


def test_warm_start_reaches_the_same_optimum() -> None:
    x, y = _data(seed=4)
    targets = (y[:, None] == np.arange(3)).astype(np.float32)
    member = np.ones_like(targets, bool)
    cold = fit_many(x, targets, member, np.full(3, 10.0), tol=1e-8)
    start = fit_many(x, targets, member, np.full(3, 0.1))
    warm = fit_many(x, targets, member, np.full(3, 10.0), tol=1e-8, init=start)
    # Compared by probabilities: float32 products leave ~1e-3 of an ill-conditioned
    # coefficient undetermined.
    def probs(fit: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
        return 1 / (1 + np.exp(-(x @ fit[0].T + fit[1])))
    np.testing.assert_allclose(probs(warm), probs(cold), atol=1e-3)


def test_columns_are_independent() -> None:
    """A column's solution does not depend on which other columns share the run."""
    x, y = _data(seed=5)
    targets = (y[:, None] == np.arange(3)).astype(np.float32)
    together = fit_many(x, targets, np.ones_like(targets, bool), np.array([0.1, 1.0, 100.0]))
    alone = fit_many(x, targets[:, 1:2], np.ones((len(x), 1), bool), np.array([1.0]))
    # Equal but for float32 rounding (the products block differently by width).
    np.testing.assert_allclose(together[0][1], alone[0][0], atol=1e-4)


def test_log_loss_is_sklearns() -> None:
    from sklearn.metrics import log_loss as sklearn_log_loss

    rng = np.random.default_rng(6)
    truth = (rng.random(40) < 0.5).astype(float)
    p = rng.random(40)
    w = rng.random(40)
    expected = sklearn_log_loss(truth, np.column_stack([1 - p, p]), sample_weight=w,
                                labels=[0, 1])
    assert log_loss(np.where(truth == 1, p, 1 - p), w) == pytest.approx(expected)


@pytest.mark.parametrize("c", [0.1, 10.0])
def test_softmax_matches_sklearns_multinomial(c: float) -> None:
    from workers.logistic import fit_softmax_many

    x, y = _data(seed=7)
    frames = np.random.default_rng(7).uniform(0.2, 1.0, size=len(x))
    member = np.ones((len(x), 2), bool)
    member[::4, 1] = False  # the second column: a fold without every 4th row
    coef, intercept = fit_softmax_many(x, y, member, 3, np.full(2, c), frames)
    for col in range(2):
        rows = member[:, col]
        tight = _sklearn(x[rows], y[rows], c, frames[rows], tol=1e-10)
        z = x @ coef[col].T + intercept[col]
        ours = np.exp(z - z.max(axis=1, keepdims=True))
        ours /= ours.sum(axis=1, keepdims=True)
        assert np.abs(ours - tight.predict_proba(x)).max() < 0.02

