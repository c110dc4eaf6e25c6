"""Fit and evaluate a linear head on embeddings: pure functions on arrays.

The head is logistic regression on L2-normalised embeddings, with balanced class
weights and its regularisation strength chosen by cross-validation. Mutually
exclusive concepts get one softmax (multinomial) head; otherwise each concept
gets its own sigmoid (one-vs-rest) trained on the inputs labelled for it. All the
regressions a head needs (concepts, C values, folds) are fitted together by the
batched solver of :mod:`workers.logistic`.

The parts: :mod:`workers.training_data` (rows, labels, targets),
:mod:`workers.cross_validation` (folds, samples, the choice of C),
:mod:`workers.exclusive_head` and :mod:`workers.one_vs_rest_head` (the two kinds),
:mod:`workers.head_metrics` (evaluation) and :mod:`workers.heads` (the head as
applied).
"""

from __future__ import annotations

from collections.abc import Sequence

from shared.errors import TrainingError
from workers.blas_threads import wide_for
from workers.exclusive_head import train_exclusive
from workers.heads import FittedHead
from workers.one_vs_rest_head import train_one_vs_rest
from workers.training_data import Context, TrainingData


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
            return train_exclusive(data, list(concepts), folds, seed, context)
        return train_one_vs_rest(data, list(concepts), closed_environment, folds, seed,
                                  context)
