"""GP-UCB surface of a fitted scikit-learn GP, batched and with its analytic gradient.

Why not ``gp.predict``: the acquisition search scores thousands of points and then climbs the best few
with L-BFGS-B. ``predict`` validates its input and solves a triangular system on every call, and has no
gradient (finite differences would need d + 1 calls per step). For the kernel that ``smbo`` fits,
``C * Matern(nu=2.5, one length scale per dimension) + White``, the posterior and its gradient are a few
matrix products:

    k(x, x_i) = C (1 + sqrt5 r + 5/3 r^2) exp(-sqrt5 r),   r = |(x - x_i) / l|
    dk/dx     = -C 5/3 (1 + sqrt5 r) exp(-sqrt5 r) (x - x_i) / l^2
    mean(x)   = s k^T alpha + m,                dmean = s dk^T alpha
    var(x)    = s^2 (C + w - k^T K^-1 k),       dvar  = -2 s^2 dk^T K^-1 k

with alpha, K (noise and jitter on its diagonal), the white noise w, and the target scaling m, s
(``normalize_y``) taken from the fitted GP, so the values equal ``predict``'s.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.linalg import solve_triangular
from scipy.spatial.distance import cdist

_SQRT5 = np.sqrt(5.0)


class UcbSurface:
    """mean + kappa * std of a fitted GP with the kernel ``C * Matern(nu=2.5) + White``."""

    def __init__(self, gp: Any, kappa: float) -> None:
        from sklearn.gaussian_process.kernels import ConstantKernel, Matern, Product, Sum, WhiteKernel

        kernel = gp.kernel_
        if not (isinstance(kernel, Sum) and isinstance(kernel.k1, Product) and isinstance(kernel.k2, WhiteKernel)
                and isinstance(kernel.k1.k1, ConstantKernel) and isinstance(kernel.k1.k2, Matern)
                and kernel.k1.k2.nu == 2.5):
            raise TypeError(f"kernel must be ConstantKernel * Matern(nu=2.5) + WhiteKernel, got {kernel}")
        x_train = np.asarray(gp.X_train_, dtype=float)
        self.kappa = float(kappa)
        self._scale = np.broadcast_to(np.asarray(kernel.k1.k2.length_scale, dtype=float), x_train.shape[1:]).copy()
        self._x_train = x_train
        self._x = x_train / self._scale
        self._c = float(kernel.k1.k1.constant_value)
        self._prior_var = self._c + float(kernel.k2.noise_level)
        self._alpha = np.asarray(gp.alpha_, dtype=float).reshape(-1)
        self._chol = np.asarray(gp.L_, dtype=float)  # lower Cholesky factor of K
        self._y_mean = float(np.reshape(gp._y_train_mean, -1)[0]) if np.size(gp._y_train_mean) else 0.0
        self._y_std = float(np.reshape(gp._y_train_std, -1)[0]) if np.size(gp._y_train_std) else 1.0

    def _cross(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Kernel between points and the training inputs, and the scaled distances r."""
        r = cdist(np.atleast_2d(points) / self._scale, self._x)
        return self._c * (1.0 + _SQRT5 * r + 5.0 / 3.0 * r**2) * np.exp(-_SQRT5 * r), r

    def mean_std(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Posterior mean and standard deviation at each row of ``points`` (as ``gp.predict``)."""
        k, _ = self._cross(points)
        mean = self._y_std * (k @ self._alpha) + self._y_mean
        v = solve_triangular(self._chol, k.T, lower=True, check_finite=False)
        var = self._prior_var - np.einsum("ij,ij->j", v, v)
        return mean, self._y_std * np.sqrt(np.maximum(var, 0.0))

    def __call__(self, points: np.ndarray) -> np.ndarray:
        """UCB at each row of ``points``."""
        mean, std = self.mean_std(points)
        return mean + self.kappa * std

    def mean_std_grad(self, x: np.ndarray) -> tuple[float, float, np.ndarray, np.ndarray]:
        """Mean, std and their gradients with respect to the single point ``x``."""
        k, r = self._cross(x)
        k, r = k[0], r[0]
        # dk/dx, one row per training point (smooth at r = 0: no division by r)
        dk = (-self._c * 5.0 / 3.0 * (1.0 + _SQRT5 * r) * np.exp(-_SQRT5 * r))[:, None] \
            * (x[None, :] - self._x_train) / self._scale**2
        v = solve_triangular(self._chol, k, lower=True, check_finite=False)
        var = self._prior_var - float(v @ v)
        mean = self._y_std * float(k @ self._alpha) + self._y_mean
        d_mean = self._y_std * (dk.T @ self._alpha)
        if var <= 1e-12:  # at a training point of a noise-free fit: std is 0 and not differentiable
            return mean, 0.0, d_mean, np.zeros_like(x)
        std = self._y_std * np.sqrt(var)
        k_inv_k = solve_triangular(self._chol, v, lower=True, trans="T", check_finite=False)
        d_std = -self._y_std * (dk.T @ k_inv_k) / np.sqrt(var)  # d sqrt(var) = dvar / (2 sqrt(var))
        return mean, std, d_mean, d_std

    def value_and_grad(self, x: np.ndarray) -> tuple[float, np.ndarray]:
        """UCB at ``x`` and its gradient."""
        mean, std, d_mean, d_std = self.mean_std_grad(np.asarray(x, dtype=float))
        return mean + self.kappa * std, d_mean + self.kappa * d_std
