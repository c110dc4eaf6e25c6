"""Many logistic regressions on one matrix, fitted together: a batched L-BFGS.

A one-vs-rest head fits one regression per concept, and its C selection and
cross-validation fit one per concept, C and fold: hundreds of small problems that
share the same rows (an exclusive head's nested C selection, a hundred softmax
ones). Fitted one by one (scikit-learn), each pays Python and validation overhead
on every iteration and streams the matrix through a matrix-vector product. Here
every problem is a column (a binary one) or a block of columns (a softmax one): one
matrix-matrix product per iteration serves them all, and each problem still runs
its own L-BFGS (its own history, step length and stopping test), so no problem's
convergence depends on another's. Problems that are done drop out of the products.

Each problem minimises scikit-learn's objective for ``LogisticRegression(C=c,
class_weight="balanced")`` with sample weights ``s``: ``sum(v * logloss) + ||w||² /
(2c)``, where ``v = s × the balanced weight of the row's class``, the log loss is
the sigmoid's (2 classes) or the softmax's (more), and the intercepts are not
penalised. It is scaled as scikit-learn scales it (divided by ``sum(v)``) so
the gradient tolerance means the same; the coefficients agree with scikit-learn's
to the solvers' tolerance (``tests/unit/test_logistic.py``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# L-BFGS memory (scipy's default), Armijo constant and backtracking bound.
HISTORY = 10
ARMIJO = 1e-4
MAX_HALVINGS = 30
# Columns fitted in one product: bounds the (rows × columns) work arrays.
MAX_COLUMNS = 512


@dataclass
class Problems:
    """Problems on the rows of one matrix, one per column of ``weights``.

    Attributes:
        targets: ``(n, m)`` 1 for a positive row, 0 otherwise (binary problems), or
            ``(n, m, classes)`` one-hot (softmax problems).
        weights: ``(n, m)`` each row's weight in each problem, class balancing
            included (0: the row is not in that problem).
        c: ``(m,)`` inverse regularisation strength of each problem.
    """

    targets: np.ndarray
    weights: np.ndarray
    c: np.ndarray


def balanced_weights(targets: np.ndarray, member: np.ndarray,
                     sample_weight: np.ndarray | None = None) -> np.ndarray:
    """Row weights of ``class_weight="balanced"`` for each column's problem.

    Args:
        targets: ``(n, m)`` 1 positive, 0 negative (where ``member``).
        member: ``(n, m)`` bool, whether the row belongs to the column's problem.
        sample_weight: ``(n,)`` row weights (video frames), or None for 1.

    Returns:
        ``(n, m)`` float32: ``s × total / (2 × its class's total)`` on member rows,
        0 elsewhere (scikit-learn's balanced weights, computed with sample weights).
    """
    s = np.ones(len(targets), np.float32) if sample_weight is None else (
        np.asarray(sample_weight, np.float32))
    base = member * s[:, None]
    positive = targets > 0
    pos_total = (base * positive).sum(axis=0)
    neg_total = base.sum(axis=0) - pos_total
    total = pos_total + neg_total
    with np.errstate(divide="ignore", invalid="ignore"):
        pos_w = np.where(pos_total > 0, total / (2 * pos_total), 0.0)
        neg_w = np.where(neg_total > 0, total / (2 * neg_total), 0.0)
    return (base * np.where(positive, pos_w, neg_w)).astype(np.float32)


def fit_columns(x: np.ndarray, problems: Problems, *, tol: float = 1e-4,
                max_iter: int = 500, init: tuple[np.ndarray, np.ndarray] | None = None,
                ) -> tuple[np.ndarray, np.ndarray]:
    """Fit every problem's L2-regularised logistic regression on ``x``.

    Args:
        x: ``(n, dim)`` rows shared by all problems (float32 is fastest).
        problems: Targets, weights and C of each problem.
        tol: Stop a problem when its largest gradient entry is below this
            (scikit-learn's ``tol`` for lbfgs).
        max_iter: Iterations per problem at most.
        init: ``(coef, intercept)`` shaped as the result, to start from (a warm
            start: the same optimum, fewer iterations when it is close), else zeros.

    Returns:
        ``(coef, intercept)`` as float64: ``(m, dim)`` and ``(m,)`` for binary
        problems, ``(m, classes, dim)`` and ``(m, classes)`` for softmax ones.
    """
    softmax = problems.targets.ndim == 3
    m, dim = problems.c.shape[0], x.shape[1]
    k = problems.targets.shape[2] if softmax else 1
    coef = np.zeros((m, k, dim))
    intercept = np.zeros((m, k))
    x32 = np.ascontiguousarray(x, dtype=np.float32)
    per_run = max(1, MAX_COLUMNS // k)
    for start in range(0, m, per_run):
        cols = slice(start, min(m, start + per_run))
        part = Problems(problems.targets[:, cols], problems.weights[:, cols],
                        problems.c[cols])
        start_at = None
        if init is not None:
            c0 = np.asarray(init[0])[cols].reshape(-1, k, dim)
            b0 = np.asarray(init[1])[cols].reshape(-1, k)
            start_at = np.concatenate([c0.transpose(2, 0, 1), b0[None]], axis=0)
        theta = _Lbfgs(x32, part, tol, max_iter).run(start_at)
        coef[cols], intercept[cols] = theta[:-1].transpose(1, 2, 0), theta[-1]
    if not softmax:
        return coef[:, 0], intercept[:, 0]
    return coef, intercept


def log_loss(true_probs: np.ndarray, weights: np.ndarray | None = None) -> float:
    """Weighted mean log loss from each row's probability of its true class, as
    ``sklearn.metrics.log_loss`` computes it (probabilities clipped at float eps)."""
    eps = np.finfo(np.float64).eps
    losses = -np.log(np.clip(np.asarray(true_probs, np.float64), eps, 1.0))
    return float(np.average(losses, weights=weights))


def _dot(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Each problem's inner product: ``(dim + 1, m, k)`` arrays → ``(m,)``."""
    return np.einsum("ijk,ijk->j", a, b)


class _Lbfgs:
    """L-BFGS with backtracking (Armijo) line search, one independent run per problem.

    The parameters are a ``(dim + 1, m, k)`` array: problem j's ``k`` coefficient
    columns (1 for a binary problem, one per class for a softmax one), the intercepts
    in the last row. Every problem keeps its own curvature pairs (a pair failing the
    curvature test is kept with weight 0, i.e. skipped), initial scaling and step.
    """

    def __init__(self, x: np.ndarray, problems: Problems, tol: float, max_iter: int) -> None:
        self.x = x
        self.v = np.ascontiguousarray(problems.weights, np.float32)  # (n, m)
        targets = np.asarray(problems.targets, np.float32)
        self.softmax = targets.ndim == 3
        if not self.softmax:
            targets = targets[:, :, None]
        self.tv = self.v[:, :, None] * targets  # (n, m, k)
        total = self.v.sum(axis=0).astype(np.float64)
        self.scale = 1.0 / np.maximum(total, 1e-12)
        # The penalty 1/(2C) scaled like the loss: scikit-learn's l2_reg_strength.
        self.l2 = 1.0 / (np.asarray(problems.c, np.float64) * np.maximum(total, 1e-12))
        self.tol = tol
        self.max_iter = max_iter

    def keep(self, rows: np.ndarray) -> None:
        """Drop the problems that are done: only ``rows`` (positions) stay."""
        self.v, self.tv = self.v[:, rows], self.tv[:, rows]
        self.scale, self.l2 = self.scale[rows], self.l2[rows]

    def evaluate(self, theta: np.ndarray, cols: np.ndarray | None = None
                 ) -> tuple[np.ndarray, np.ndarray]:
        """Objective ``(j,)`` and gradient ``(dim + 1, j, k)`` of the given problems
        (positions among those kept; None: all of them)."""
        n, (dim1, count, k) = len(self.x), theta.shape
        w = theta[:-1]
        z = self.x @ w.reshape(dim1 - 1, count * k).astype(np.float32)
        z += theta[-1].reshape(count * k).astype(np.float32)
        every = cols is None
        v = self.v if every else self.v[:, cols]
        tv = (self.tv if every else self.tv[:, cols]).reshape(n, count * k)
        scale = self.scale if every else self.scale[cols]
        l2 = self.l2 if every else self.l2[cols]
        if self.softmax:
            loss, residual = self._softmax_terms(z.reshape(n, count, k), v)
        else:
            loss, residual = self._binary_terms(z, v)
        loss -= (tv * z).sum(axis=0, dtype=np.float64).reshape(count, k).sum(axis=1)
        residual -= tv
        residual *= np.repeat(scale.astype(np.float32), k)
        grad = np.empty_like(theta)
        grad[:-1] = (self.x.T @ residual).reshape(dim1 - 1, count, k) + l2[None, :, None] * w
        grad[-1] = residual.sum(axis=0, dtype=np.float64).reshape(count, k)
        value = loss * scale + 0.5 * l2 * np.einsum("ijk,ijk->j", w, w)
        return value, grad

    @staticmethod
    def _binary_terms(z: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``sum(v log(1 + e^z))`` per problem and ``v sigmoid(z)`` (the loss and its
        derivative, less the target terms). Plain float32 exp/log1p: ~4x faster than
        np.logaddexp and expit here."""
        with np.errstate(over="ignore"):  # exp(-z) = inf gives sigmoid 0, as it should
            softplus = np.maximum(z, 0)
            softplus += np.log1p(np.exp(-np.abs(z)))
            sigmoid = np.exp(-z)
            sigmoid += 1
            np.reciprocal(sigmoid, out=sigmoid)
        sigmoid *= v
        return (v * softplus).sum(axis=0, dtype=np.float64), sigmoid

    @staticmethod
    def _softmax_terms(z: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``sum(v logsumexp(z))`` per problem and ``v softmax(z)``, for ``z (n, j, k)``."""
        top = z.max(axis=2, keepdims=True)
        e = np.exp(z - top)
        total = e.sum(axis=2, keepdims=True)
        lse = (top + np.log(total))[:, :, 0]
        e *= (v[:, :, None] / total)
        return (v * lse).sum(axis=0, dtype=np.float64), e.reshape(len(z), -1)

    def run(self, init: np.ndarray | None = None) -> np.ndarray:
        """The fitted parameters ``(dim + 1, m, k)``, starting from ``init`` or zeros.

        The arrays hold only the problems still running: a problem that is done is
        copied out and dropped from them (not skipped by index on every iteration,
        which would copy the whole history each time).
        """
        m, k = self.v.shape[1], self.tv.shape[2]
        shape = (self.x.shape[1] + 1, m, k)
        result = np.zeros(shape) if init is None else np.array(init, dtype=np.float64)
        running = np.flatnonzero(self.v.sum(axis=0) > 0)
        self.keep(running)
        theta = result[:, running]
        value, grad = self.evaluate(theta)
        s_hist = np.zeros((HISTORY, *theta.shape))
        y_hist = np.zeros((HISTORY, *theta.shape))
        rho = np.zeros((HISTORY, len(running)))
        gamma = np.ones(len(running))
        # A cold start takes scipy's first step, 1/|g|; a warm one a unit step: the
        # Hessian's eigenvalues are below ~0.25 on unit-length rows, so it cannot
        # overshoot far, and 1/|g| near an optimum would.
        first = init is None
        done = self._largest(grad) <= self.tol
        for iteration in range(self.max_iter + 1):
            if done.any():
                result[:, running[done]] = theta[:, done]
                stay = ~done
                running, theta, value, grad = (running[stay], theta[:, stay], value[stay],
                                               grad[:, stay])
                s_hist, y_hist = s_hist[:, :, stay], y_hist[:, :, stay]
                rho, gamma = rho[:, stay], gamma[stay]
                self.keep(np.flatnonzero(stay))
            if not len(running) or iteration == self.max_iter:
                break
            direction = self._direction(grad, s_hist, y_hist, rho, gamma,
                                        min(iteration, HISTORY), iteration)
            slope = _dot(grad, direction)
            uphill = slope >= 0  # only from numerical trouble: restart along -gradient
            if uphill.any():
                direction[:, uphill] = -grad[:, uphill]
                slope[uphill] = -_dot(grad[:, uphill], grad[:, uphill])
            # After the first step, L-BFGS steps are well scaled.
            step = (1.0 / np.maximum(np.sqrt(_dot(grad, grad)), 1e-12) if first
                    else np.ones(len(running)))
            first = False
            new_value, new_grad, accepted = self._line_search(theta, value, slope,
                                                              direction, step)
            s = step[None, :, None] * direction
            s[:, ~accepted] = 0.0
            y = new_grad - grad
            sy, yy = _dot(s, y), _dot(y, y)
            good = accepted & (sy > 1e-10 * np.maximum(yy, 1e-30))
            slot = iteration % HISTORY
            s_hist[slot], y_hist[slot] = s, y
            rho[slot] = np.where(good, 1.0 / np.where(good, sy, 1.0), 0.0)
            gamma = np.where(good, sy / np.where(good, yy, 1.0), gamma)
            theta += s
            old = value
            value = np.where(accepted, new_value, old)
            grad = np.where(accepted[None, :, None], new_grad, grad)
            # scipy's ftol test (factr = 64): no more progress to be had in float64.
            stalled = (old - value) <= 64 * np.finfo(float).eps * np.maximum(
                np.maximum(np.abs(old), np.abs(value)), 1.0)
            done = (self._largest(grad) <= self.tol) | stalled | ~accepted
        result[:, running] = theta
        return result

    @staticmethod
    def _largest(grad: np.ndarray) -> np.ndarray:
        """Each problem's largest gradient entry (scipy's projected-gradient test)."""
        return np.abs(grad).max(axis=(0, 2))

    def _line_search(self, theta: np.ndarray, value: np.ndarray, slope: np.ndarray,
                     direction: np.ndarray, step: np.ndarray,
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Backtrack each problem's step until the Armijo condition holds.

        Returns the new values and gradients, and which problems found a step
        (``step`` is updated in place to the step taken).
        """
        new_value = np.zeros(len(value))
        new_grad = np.zeros_like(theta)
        accepted = np.zeros(len(value), dtype=bool)
        pending = np.arange(len(value))
        for attempt in range(MAX_HALVINGS):
            every = attempt == 0  # all problems: no copies of the weights
            trial = theta + step[None, :, None] * direction if every else (
                theta[:, pending] + step[pending][None, :, None] * direction[:, pending])
            f, g = self.evaluate(trial, None if every else pending)
            ok = f <= value[pending] + ARMIJO * step[pending] * slope[pending]
            done = pending[ok]
            new_value[done], new_grad[:, done], accepted[done] = f[ok], g[:, ok], True
            pending = pending[~ok]
            if not len(pending):
                break
            step[pending] *= 0.5
        return new_value, new_grad, accepted

    @staticmethod
    def _direction(grad: np.ndarray, s_hist: np.ndarray, y_hist: np.ndarray,
                   rho: np.ndarray, gamma: np.ndarray, stored: int, iteration: int
                   ) -> np.ndarray:
        """``-H grad`` by the two-loop recursion, for every problem at once."""
        q = grad.copy()
        order = [(iteration - 1 - k) % HISTORY for k in range(stored)]  # newest first
        alpha = np.zeros((len(order), grad.shape[1]))
        for k, slot in enumerate(order):
            alpha[k] = rho[slot] * _dot(s_hist[slot], q)
            q -= alpha[k][None, :, None] * y_hist[slot]
        r = gamma[None, :, None] * q
        for k in reversed(range(len(order))):
            slot = order[k]
            beta = rho[slot] * _dot(y_hist[slot], r)
            r += s_hist[slot] * (alpha[k] - beta)[None, :, None]
        return -r


def fit_many(x: np.ndarray, targets: np.ndarray,
             member: np.ndarray, c: np.ndarray, sample_weight: np.ndarray | None = None,
             *, tol: float = 1e-4, max_iter: int = 500,
             init: tuple[np.ndarray, np.ndarray] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Balanced-class-weight regressions, one per column: :func:`fit_columns` with the
    weights of :func:`balanced_weights`.

    Args:
        x: ``(n, dim)`` rows.
        targets: ``(n, m)`` 1 positive, 0 negative.
        member: ``(n, m)`` bool, the rows of each column's problem.
        c: ``(m,)`` inverse regularisation strengths.
        sample_weight: ``(n,)`` row weights, or None.
        tol: Gradient tolerance.
        max_iter: Iterations at most.
        init: Warm start ``(coef, intercept)``, or None.

    Returns:
        ``(coef (m, dim), intercept (m,))``.
    """
    targets = np.asarray(targets, np.float32)
    weights = balanced_weights(targets, np.asarray(member, bool), sample_weight)
    return fit_columns(x, Problems(targets, weights, np.asarray(c, np.float64)), tol=tol,
                       max_iter=max_iter, init=init)


def softmax_balanced_weights(labels: np.ndarray, member: np.ndarray, classes: int,
                             sample_weight: np.ndarray | None = None) -> np.ndarray:
    """Row weights of ``class_weight="balanced"`` for each column's multiclass problem:
    ``s × total / (classes present × its class's total)`` on member rows, else 0."""
    s = np.ones(len(labels), np.float32) if sample_weight is None else (
        np.asarray(sample_weight, np.float32))
    base = member * s[:, None]  # (n, m)
    onehot = np.eye(classes, dtype=np.float32)[labels]
    totals = onehot.T @ base  # (classes, m)
    present = (totals > 0).sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        per_class = np.where(totals > 0, totals.sum(axis=0) / (present * totals), 0.0)
    return (base * per_class[labels]).astype(np.float32)


def fit_softmax_many(x: np.ndarray, labels: np.ndarray, member: np.ndarray, classes: int,
                     c: np.ndarray, sample_weight: np.ndarray | None = None, *,
                     tol: float = 1e-4, max_iter: int = 500,
                     init: tuple[np.ndarray, np.ndarray] | None = None,
                     ) -> tuple[np.ndarray, np.ndarray]:
    """Balanced multinomial (softmax) regressions, one per column of ``member``: what
    ``LogisticRegression(C=c, class_weight="balanced")`` fits on 3+ classes.

    Every class must have a member row in every column (with none, its intercept
    would run off to minus infinity).

    Args:
        x: ``(n, dim)`` rows.
        labels: ``(n,)`` class of each row, in ``[0, classes)``.
        member: ``(n, m)`` bool, the rows of each column's problem.
        classes: Number of classes.
        c: ``(m,)`` inverse regularisation strengths.
        sample_weight: ``(n,)`` row weights, or None.
        tol: Gradient tolerance.
        max_iter: Iterations at most.
        init: Warm start ``(coef (m, classes, dim), intercept (m, classes))``, or None.

    Returns:
        ``(coef (m, classes, dim), intercept (m, classes))``.
    """
    member = np.asarray(member, bool)
    onehot = np.eye(classes, dtype=np.float32)[labels]
    targets = np.broadcast_to(onehot[:, None, :], (len(labels), member.shape[1], classes))
    weights = softmax_balanced_weights(labels, member, classes, sample_weight)
    return fit_columns(x, Problems(targets, weights, np.asarray(c, np.float64)), tol=tol,
                       max_iter=max_iter, init=init)
