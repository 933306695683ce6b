"""How much an epoch costs by config: a small model that lets re-planning see where the search is going.

Re-planning sizes the rest of a run from the mean epoch cost of the last trials it collected. In a space
whose epochs cost several times more for some configs (a width, a number of channels, a batch size), a
search that settles on the dear ones makes that mean lag: on the digits sample's wide space the measured
epoch cost climbed from 1.2x to 4x the plan's over 40 trials, each re-plan's forecast was too low for the
trials after it, and ASHA ran 53-62 % of its planned trials where other seeds ran more than all of them.

So: a ridge regression of a collected trial's log epoch cost (over the plan's) on its config, encoded in the
unit box, with the trial's place in the run as one more input. That input takes up a load that changes
during the run (a CPU burner a third of the way in), so the config's coefficients say what the config
costs at equal load. The forecast then scales the window's mean by how much dearer, by the model, an
epoch of the configs started last is than an epoch of the window's configs: the load cancels.

The model is used only when it predicts: its leave-one-out error (closed form, from the hat matrix) must
be well below that of the same regression on the run's order alone. Where cost does not depend on the
config it stays out (ratio 1), so the forecast is the window mean as before. Pure numpy, no clock.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

MIN_TRIALS = 8  # collected trials with a measured epoch before the model is fitted
MIN_GAIN = 0.3  # the config must cut the leave-one-out squared error of the order-only model by this share
RIDGE = 0.1  # ridge penalty on the centred unit-box inputs: small, the leave-one-out test guards against overfitting
MAX_RATIO = 4.0  # the ratio is clamped to [1 / MAX_RATIO, MAX_RATIO]: a forecast, not an extrapolation


def _loo_sse(x: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
    """Leave-one-out squared error of a ridge fit of centred ``y`` on centred ``x`` (with an intercept), and
    the coefficients of the fit on all rows."""
    n = len(y)
    xc = x - x.mean(axis=0)
    yc = y - y.mean()
    gram = xc.T @ xc + RIDGE * np.eye(x.shape[1])
    coef = np.linalg.solve(gram, xc.T @ yc)
    hat = np.einsum("ij,ji->i", xc, np.linalg.solve(gram, xc.T)) + 1.0 / n  # leverage, intercept included
    resid = (yc - xc @ coef) / np.maximum(1e-9, 1.0 - hat)
    return float(resid @ resid), coef


def epoch_cost_ratio(points: Sequence[np.ndarray], log_scales: Sequence[float], window: Sequence[np.ndarray],
                     recent: Sequence[np.ndarray]) -> float:
    """How many times an epoch of the ``recent`` configs costs an epoch of the ``window``'s, by a model of
    log epoch cost over the config fitted to ``points`` (unit-box configs of collected trials, in the
    order they were collected) and their ``log_scales`` (log of measured epoch seconds over the plan's).

    1.0 when there are fewer than :data:`MIN_TRIALS` points, nothing to compare, or the config does not
    predict the cost better than the run's order alone by :data:`MIN_GAIN`.
    """
    n = len(points)
    if n < MIN_TRIALS or not window or not recent or len(log_scales) != n:
        return 1.0
    configs = np.vstack([np.asarray(p, dtype=float) for p in points])
    y = np.asarray(log_scales, dtype=float)
    if not np.all(np.isfinite(configs)) or not np.all(np.isfinite(y)):
        return 1.0
    order = np.linspace(0.0, 1.0, n)[:, None]
    base_sse, _ = _loo_sse(order, y)
    full_sse, coef = _loo_sse(np.hstack([configs, order]), y)
    if not full_sse < (1.0 - MIN_GAIN) * base_sse:
        return 1.0
    config_coef = coef[:-1]  # the order's coefficient is left out: both sets at the same load

    def mean_cost(rows: Sequence[np.ndarray]) -> float:
        logs = np.vstack([np.asarray(r, dtype=float) for r in rows]) @ config_coef
        top = logs.max()
        return float(np.exp(top) * np.mean(np.exp(logs - top)))

    ratio = mean_cost(recent) / mean_cost(window)
    return float(np.clip(ratio, 1.0 / MAX_RATIO, MAX_RATIO))
