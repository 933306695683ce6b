"""The last step of baye_opt's acquisition search: L-BFGS-B on the UCB from the best candidates found.

The batched rounds of :mod:`.gp_ucb` score a few thousand points and then perturb the best ones in
shrinking steps. In 8-10 dimensions such random steps land near the UCB's maximum but rarely on it; a
gradient method climbs the last part exactly. BoTorch ends its acquisition search the same way (multi-start
L-BFGS-B), with gradients from autograd; here the UCB's gradient is written out for the kernel of
:func:`.gp_model.make_kernel` (signal x Matérn-5/2 + noise), so it costs one triangular solve per step.

Only numeric coordinates that need no snapping move (a grid or a choice would be snapped back, undoing the
step); the others keep the candidate's values. The UCB and its kappa are the user's: only how exactly its
maximum is found changes.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from .gp_model import kernel_parts

STEPS = 25  # L-BFGS-B iterations per start


def ucb_and_gradient(gp: object, z: np.ndarray, kappa: float) -> tuple[float, np.ndarray]:
    """bayes_opt's UCB (mean + kappa * std) of a fitted scikit-learn GP with :func:`make_kernel`'s kernel at
    one input ``z``, and its gradient in ``z``, on the targets' own scale (as ``predict`` gives them)."""
    from scipy.linalg import solve_triangular

    signal, scales, noise = kernel_parts(gp.kernel_)  # type: ignore[attr-defined]
    x_train = gp.X_train_  # type: ignore[attr-defined]
    diff = z - x_train
    r = np.sqrt(np.sum((diff / scales) ** 2, axis=1))
    s5r = math.sqrt(5.0) * r
    decay = np.exp(-s5r)
    k = signal * (1.0 + s5r + 5.0 / 3.0 * r ** 2) * decay
    dk = (-5.0 / 3.0 * signal * (1.0 + s5r) * decay)[:, None] * diff / scales ** 2  # n x d
    mean = float(k @ gp.alpha_)  # type: ignore[attr-defined]
    d_mean = gp.alpha_ @ dk  # type: ignore[attr-defined]
    v = solve_triangular(gp.L_, k, lower=True, check_finite=False)  # type: ignore[attr-defined]
    var = signal + noise - float(v @ v)
    w = solve_triangular(gp.L_.T, v, lower=False, check_finite=False)  # type: ignore[attr-defined]  # K^-1 k
    if var <= 1e-12:
        std, d_std = 0.0, np.zeros_like(z)
    else:
        std = math.sqrt(var)
        d_std = -(w @ dk) / std
    y_mean = float(np.ravel(gp._y_train_mean)[0])  # type: ignore[attr-defined]
    y_std = float(np.ravel(gp._y_train_std)[0])  # type: ignore[attr-defined]
    return y_mean + y_std * (mean + kappa * std), y_std * (d_mean + kappa * d_std)


def polish(value_and_gradient: Callable[[np.ndarray], tuple[float, np.ndarray]], starts: np.ndarray,
           lo: np.ndarray, hi: np.ndarray, free: np.ndarray, steps: int = STEPS) -> np.ndarray:
    """Each start climbed by L-BFGS-B on the function (to maximize) within [lo, hi], moving only the
    coordinates in ``free``; the climbed points, one per start."""
    from scipy.optimize import minimize

    free = np.asarray(free, dtype=bool)
    out = np.array(starts, dtype=float)
    if not free.any():
        return out
    bounds = list(zip(lo[free], hi[free], strict=True))
    for i, start in enumerate(out):

        def negative(moving: np.ndarray, start: np.ndarray = start) -> tuple[float, np.ndarray]:
            point = start.copy()
            point[free] = moving
            value, grad = value_and_gradient(point)
            return -value, -grad[free]

        result = minimize(negative, start[free], jac=True, method="L-BFGS-B", bounds=bounds,
                          options={"maxiter": int(steps)})
        if np.all(np.isfinite(result.x)):
            out[i, free] = np.clip(result.x, lo[free], hi[free])
    return out
