"""The GP that baye_opt (and ASHA's bayes sampler) hand to bayes_opt: kernel and MAP fit of its parameters.

Why not scikit-learn's plain maximum-likelihood fit: with 10-50 points in 2-10 dimensions the likelihood
is flat in the length scales, and its maximum lies at the extremes: most dimensions declared irrelevant
(length scale at the upper bound) and the rest very short, with no noise at all. Such a GP is sure of
itself along the dimensions it switched off and wrong there, and GP-UCB's search follows it (measured on
Hartmann-6, 10 seeds: median regret 0.09 after 50 trials, against 0.006-0.01 with the priors below; see
docs/benchmarks.md). So the kernel parameters are fitted as a maximum a posteriori estimate, the
log-likelihood plus weak priors, through scikit-learn's ``optimizer`` hook (the log-likelihood and its
gradient stay scikit-learn's), which keeps every length scale in a moderate range:

- length scales (inputs in the unit box): log-normal with median ``exp(sqrt(2) + log(d) / 2)`` and log-sd
  ``sqrt(3)``, the dimension-scaled prior of Hvarfner, Hellsten and Nardi (2024), "Vanilla Bayesian
  Optimization Performs Great in High Dimensions": the more dimensions, the longer the length scales a
  few dozen points can support;
- signal variance (targets standardised): Gamma(2, 1);
- noise variance: Gamma(1.1, 200), mode 5e-4 (a noise sd of ~2% of the scores' spread): it prefers
  little noise but lets a noisy score be noisy. A weaker one (rate 30, mode 3e-3) blurred the small
  differences between good points on Rosenbrock-4 (median regret 174 against 65 at rate 200, 10 seeds).

Each prior is a density of the parameter itself, evaluated on the log scale that scikit-learn optimizes
(no Jacobian term), so the estimate is the mode of the parameter's own posterior.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

LENGTH_SCALE_BOUNDS = (1e-2, 1e2)
SIGNAL_BOUNDS = (1e-2, 1e2)
NOISE_BOUNDS = (1e-6, 1e-1)
_LOG_SD2 = 3.0  # variance of log(length scale) under the prior
_SIGNAL_SHAPE, _SIGNAL_RATE = 2.0, 1.0
_NOISE_SHAPE, _NOISE_RATE = 1.1, 200.0


def make_kernel(d: int) -> Any:
    """Signal variance x Matérn-5/2 with one length scale per input, plus a learned noise term."""
    from sklearn.gaussian_process.kernels import ConstantKernel, Matern, WhiteKernel

    return ConstantKernel(1.0, SIGNAL_BOUNDS) * Matern(
        length_scale=np.full(d, 0.3), length_scale_bounds=LENGTH_SCALE_BOUNDS, nu=2.5
    ) + WhiteKernel(1e-3, NOISE_BOUNDS)


def log_prior(theta: np.ndarray) -> tuple[float, np.ndarray]:
    """Log prior density (up to a constant) and its gradient in the kernel's log parameters.

    ``theta`` is scikit-learn's layout for :func:`make_kernel`: log signal variance, the d log length
    scales, log noise variance.
    """
    theta = np.asarray(theta, dtype=float)
    d = len(theta) - 2
    if d < 1:
        raise ValueError(f"expected theta = [log signal, d log length scales, log noise], got {len(theta)} values")
    mu = math.sqrt(2.0) + 0.5 * math.log(d)
    grad = np.empty_like(theta)
    # log-normal length scales: log p(l) = -log l - (log l - mu)^2 / (2 s^2)
    t = theta[1:-1]
    value = float(np.sum(-t - (t - mu) ** 2 / (2 * _LOG_SD2)))
    grad[1:-1] = -1.0 - (t - mu) / _LOG_SD2
    # Gamma(k, r) on a variance v = exp(x): log p(v) = (k - 1) x - r v
    for i, shape, rate in ((0, _SIGNAL_SHAPE, _SIGNAL_RATE), (-1, _NOISE_SHAPE, _NOISE_RATE)):
        v = math.exp(theta[i])
        value += (shape - 1.0) * theta[i] - rate * v
        grad[i] = (shape - 1.0) - rate * v
    return value, grad


def map_optimizer(obj_func: Callable[..., tuple[float, np.ndarray]], initial_theta: np.ndarray,
                  bounds: np.ndarray, max_steps: int | None = None) -> tuple[np.ndarray, float]:
    """scikit-learn's ``optimizer`` hook: minimize -(log-likelihood + log prior) with L-BFGS-B (at most
    ``max_steps`` iterations when given: a fit that starts near the optimum needs only a few)."""
    from scipy.optimize import minimize

    def negative_log_posterior(theta: np.ndarray) -> tuple[float, np.ndarray]:
        nll, nll_grad = obj_func(theta, eval_gradient=True)
        lp, lp_grad = log_prior(theta)
        return nll - lp, nll_grad - lp_grad

    options = {} if max_steps is None else {"maxiter": int(max_steps)}
    result = minimize(negative_log_posterior, initial_theta, jac=True, method="L-BFGS-B", bounds=bounds,
                      options=options)
    return result.x, float(result.fun)
