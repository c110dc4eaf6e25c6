"""A trained head as the worker applies it: its arrays and its probabilities.

A head is a linear layer over L2-normalised embeddings (softmax for mutually exclusive
concepts, a sigmoid each otherwise), optionally blended with class prototypes
(:mod:`workers.prototypes`) and rescaled by a temperature (:mod:`workers.calibration`).
:mod:`workers.training` fits one; predict and label suggestions apply it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from workers.calibration import apply_temperature
from workers.prototypes import prototype_probabilities, softmax, unit
from workers.training_data import Context

# Weight of the prototypes in a blended head (the rest: logistic regression). With
# nothing to hold out (one example of some concept, or none), the regression's C is a
# guess and its probabilities are flat: the prototypes alone were as accurate and far
# better calibrated there (docs/benchmarks.md#few-shot-accuracy).
BLEND = 0.5
BLEND_UNEVALUATED = 1.0


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


def blend_params(context: Context, evaluated: bool) -> dict[str, Any]:
    """What a blended head records about its prototypes; ``evaluated``: whether the
    data allowed cross-validation (which sets the blend)."""
    return {"head": "logistic_regression+prototypes",
            "blend": BLEND if evaluated else BLEND_UNEVALUATED,
            "names_prior": context.names is not None,
            "unlabelled": 0 if context.unlabelled is None else int(len(context.unlabelled))}
