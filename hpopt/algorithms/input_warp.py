"""Input warping for baye_opt's GP: a Kumaraswamy CDF per numeric coordinate, fitted by marginal likelihood.

A stationary kernel assumes the score changes as fast near one end of a range as near the other. A learning
rate on a log scale, a regularisation strength or a valley whose floor bends (Rosenbrock) break that: the
score is flat over most of the range and steep near one end. Warping each coordinate ``u`` in [0, 1] by the
Kumaraswamy CDF ``w(u) = 1 - (1 - u^a)^b`` (Snoek et al. 2014, "Input Warping for Bayesian Optimization of
Non-Stationary Functions"; HEBO and BoTorch use the same family) stretches the steep end and squeezes the
flat one, so one length scale fits the whole range. ``a = b = 1`` is the identity.

The warp's 2 x d parameters are fitted as a MAP estimate (log-normal priors centred on the identity, so a
few points do not buy a wild warp) of the GP's log marginal likelihood with the kernel held at its fit on
the unwarped inputs. The gradient is analytic (Matérn-5/2 in the inputs, chained through the warp), so the
fit costs a few milliseconds at 64 points. The caller then refits the kernel on the warped inputs.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import numpy as np

from .gp_model import kernel_parts

LOG_BOUNDS = (-2.0, 2.0)  # log a and log b: a, b in [0.14, 7.4]
_LOG_SD = math.sqrt(0.75)  # prior sd of log a and log b (BoTorch's default for its Kumaraswamy warp)
_EPS = 1e-6  # inputs are kept this far inside (0, 1), where the warp's derivatives stay finite
MAX_STEPS = 50  # L-BFGS-B iterations of the warp fit
BIC_FACTOR = 1.0  # a warp is kept when its likelihood gain is at least this x BIC's penalty (0: always)


class InputWarp(NamedTuple):
    """Kumaraswamy CDF parameters per warped coordinate (``mask`` says which coordinates are warped)."""

    mask: np.ndarray  # bool, one per GP input
    a: np.ndarray  # one per warped coordinate
    b: np.ndarray

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """The points ``x`` (n x d, unit box) with the warped coordinates replaced by their warp."""
        out = np.array(x, dtype=float)
        out[:, self.mask] = kumaraswamy(out[:, self.mask], self.a, self.b)
        return out

    def slope(self, point: np.ndarray) -> np.ndarray:
        """The warp's derivative at ``point`` (one per coordinate; 1 where not warped): a length scale of
        the GP in warped inputs is that length scale over the slope in the box's own coordinates."""
        out = np.ones(len(point))
        u = np.clip(np.asarray(point, dtype=float)[self.mask], _EPS, 1.0 - _EPS)
        a, b = self.a, self.b
        out[self.mask] = a * b * u ** (a - 1.0) * (1.0 - u ** a) ** (b - 1.0)
        return out

    @property
    def is_identity(self) -> bool:
        return bool(np.allclose(self.a, 1.0) and np.allclose(self.b, 1.0))


def identity(mask: np.ndarray) -> InputWarp:
    k = int(np.sum(mask))
    return InputWarp(np.asarray(mask, dtype=bool), np.ones(k), np.ones(k))


def kumaraswamy(u: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``1 - (1 - u^a)^b`` elementwise (``a``, ``b`` broadcast along the last axis), u clipped into (0, 1)."""
    u = np.clip(u, _EPS, 1.0 - _EPS)
    return 1.0 - (1.0 - u ** a) ** b


def _warp_and_grads(u: np.ndarray, log_a: np.ndarray, log_b: np.ndarray
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The warped values and their derivatives in log a and log b (all n x k)."""
    a, b = np.exp(log_a), np.exp(log_b)
    u = np.clip(u, _EPS, 1.0 - _EPS)
    ua = u ** a
    rest = np.clip(1.0 - ua, 1e-300, 1.0)
    rest_b = rest ** b
    w = 1.0 - rest_b
    d_log_a = b * rest_b / rest * ua * np.log(u) * a  # dw/da * a
    d_log_b = -rest_b * np.log(rest) * b  # dw/db * b
    return w, d_log_a, d_log_b


def _matern_lml_and_input_grad(x: np.ndarray, y: np.ndarray, signal: float, scales: np.ndarray, noise: float
                               ) -> tuple[float, np.ndarray]:
    """Log marginal likelihood of ``y`` under signal x Matérn-5/2(scales) + noise at inputs ``x``, and its
    gradient in ``x`` (n x d)."""
    from scipy.linalg import cho_factor, cho_solve

    n = len(x)
    diff = (x[:, None, :] - x[None, :, :]) / scales  # n x n x d
    r = np.sqrt(np.sum(diff ** 2, axis=-1))
    s5r = math.sqrt(5.0) * r
    decay = np.exp(-s5r)
    k = signal * (1.0 + s5r + 5.0 / 3.0 * r ** 2) * decay
    k[np.diag_indices(n)] += noise + 1e-8
    try:
        factor = cho_factor(k, lower=True, check_finite=False)
    except np.linalg.LinAlgError:
        return -math.inf, np.zeros_like(x)
    alpha = cho_solve(factor, y, check_finite=False)
    lml = -0.5 * float(y @ alpha) - float(np.sum(np.log(np.diag(factor[0])))) - 0.5 * n * math.log(2 * math.pi)
    inner = np.outer(alpha, alpha) - cho_solve(factor, np.eye(n), check_finite=False)  # 2 dLML/dK
    # dK_ij/dx_ik = -(5/3) signal (1 + sqrt5 r) exp(-sqrt5 r) (x_ik - x_jk) / l_k^2; K_ij and K_ji both hold x_i
    m = inner * (-5.0 / 3.0 * signal * (1.0 + s5r) * decay)
    grad = (x * m.sum(axis=1)[:, None] - m @ x) / scales ** 2
    return lml, grad


def fit(x: np.ndarray, y: np.ndarray, kernel: Any, mask: np.ndarray, max_steps: int = MAX_STEPS) -> InputWarp:
    """The MAP warp of the coordinates in ``mask`` for inputs ``x`` (unit box) and targets ``y`` (as the GP
    sees them before its own standardisation), with ``kernel`` (a fitted :func:`make_kernel`) held fixed."""
    from scipy.optimize import minimize

    mask = np.asarray(mask, dtype=bool)
    k = int(np.sum(mask))
    if k == 0 or len(x) < 3:
        return identity(mask)
    y = np.asarray(y, dtype=float)
    spread = float(np.std(y))
    y = (y - float(np.mean(y))) / (spread if spread > 0 else 1.0)  # scikit-learn's normalize_y
    signal, scales, noise = kernel_parts(kernel)
    scales = np.broadcast_to(scales, (x.shape[1],))
    base = np.array(x, dtype=float)
    u = base[:, mask]

    def objective(theta: np.ndarray) -> tuple[float, np.ndarray]:
        log_a, log_b = theta[:k], theta[k:]
        w, da, db = _warp_and_grads(u, log_a, log_b)
        base[:, mask] = w
        lml, grad_x = _matern_lml_and_input_grad(base, y, signal, scales, noise)
        if not math.isfinite(lml):
            return 1e10, np.zeros_like(theta)
        g = grad_x[:, mask]
        prior = -0.5 * float(np.sum(theta ** 2)) / _LOG_SD ** 2
        grad = np.concatenate([np.sum(g * da, axis=0), np.sum(g * db, axis=0)]) - theta / _LOG_SD ** 2
        return -(lml + prior), -grad

    start = np.zeros(2 * k)
    result = minimize(objective, start, jac=True, method="L-BFGS-B", bounds=[LOG_BOUNDS] * (2 * k),
                      options={"maxiter": int(max_steps)})
    theta = result.x if np.all(np.isfinite(result.x)) else start
    # BIC: the warp's 2k parameters must buy k log n of likelihood, else it only fits the noise of few points
    gain = -float(result.fun) + 0.5 * float(np.sum(theta ** 2)) / _LOG_SD ** 2 + objective(start)[0]
    if gain < BIC_FACTOR * k * math.log(len(x)):
        return identity(mask)
    return InputWarp(mask, np.exp(theta[:k]), np.exp(theta[k:]))
