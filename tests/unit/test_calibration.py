"""Temperature scaling (workers/calibration.py) and how heads use it."""

import numpy as np
import pytest

from workers.calibration import apply_temperature, expected_calibration_error, fit_temperature


def _overconfident(n: int = 2000, classes: int = 4, seed: int = 0
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Scores whose true probabilities are softmax(logits), reported as softmax(3 × logits)."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(n, classes)) * 1.5
    true = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    truth = np.array([rng.choice(classes, p=p) for p in true])
    reported = np.exp(3 * logits) / np.exp(3 * logits).sum(axis=1, keepdims=True)
    return reported, truth, true


def test_fit_temperature_recovers_the_true_softening():
    reported, truth, _ = _overconfident()
    temperature = fit_temperature(reported, truth, "softmax")
    assert 2.5 < temperature < 3.5
    fixed = apply_temperature(reported, temperature, "softmax")
    assert np.allclose(fixed.sum(axis=1), 1.0)
    assert (fixed.argmax(axis=1) == reported.argmax(axis=1)).all()  # accuracy unchanged
    assert expected_calibration_error(fixed, truth) < 0.5 * expected_calibration_error(
        reported, truth)


def test_under_confident_probabilities_get_sharpened():
    reported, truth, true = _overconfident()
    flat = apply_temperature(true, 4.0, "softmax")
    assert fit_temperature(flat, truth, "softmax") < 0.4


def test_sigmoid_temperature_ignores_unlabelled_cells_and_keeps_the_half_point():
    rng = np.random.default_rng(1)
    logits = rng.normal(size=(3000, 2)) * 2
    truth = (rng.random((3000, 2)) < 1 / (1 + np.exp(-logits))).astype(int)
    truth[:1500, 1] = -1  # half of the second concept's cells are not labelled
    reported = 1 / (1 + np.exp(-3 * logits))
    # Garbage in the unlabelled cells must not move the fit.
    reported[:1500, 1] = rng.random(1500)
    assert 2.4 < fit_temperature(reported, truth, "sigmoid") < 3.6
    scaled = apply_temperature(np.array([[0.5, 0.9]]), 2.0, "sigmoid")
    assert scaled[0, 0] == pytest.approx(0.5) and 0.5 < scaled[0, 1] < 0.9


def test_a_few_perfect_examples_do_not_make_a_head_certain():
    probs = np.array([[0.6, 0.4], [0.3, 0.7], [0.55, 0.45], [0.2, 0.8]])
    temperature = fit_temperature(probs, np.array([0, 1, 0, 1]), "softmax")
    # The log-T prior keeps it off the lower bound that pure NLL would reach.
    assert 0.1 < temperature < 1.0
    assert fit_temperature(np.zeros((0, 2)), np.zeros(0, int), "softmax") == 1.0
