"""Precompute the scikit-learn objectives of the suite on grids (data/ml_grids.json).

One evaluation of these models (3-fold cross-validation) costs 0.1 to 2.5 s, too slow for thousands of
benchmark runs, so each is evaluated once on a grid here and the suite interpolates (see ``suite_ml.py``):

* ``svc_digits``: SVC(C, gamma) on load_digits (pixels / 16), 3-fold stratified CV (shuffled, seed 0);
  log10 C on -2, -5/3, ..., 4 and log10 gamma on -5, -14/3, ..., 1 (19 x 19 points).
* ``gb_wine``: GradientBoostingClassifier(random_state=0) on load_wine, 3-fold stratified CV (shuffled,
  seed 0); n_estimators in {10, 30, 50, 70}, max_depth in {1, 2, 3, 4}, log10 learning_rate on -3, -2.5,
  ..., 0 (7 points), subsample in {0.5, 0.75, 1.0}.

The stored value is the cross-validated error, 1 - mean accuracy. Deterministic (fixed folds and model
seeds); scikit-learn's version is recorded with the grids.

    bench/bo_quality/.venv/bin/python bench/bo_quality/make_ml_grids.py     # about 4 min on 2 cores
"""

from __future__ import annotations

import itertools
import json
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

OUT = Path(__file__).resolve().parent / "data" / "ml_grids.json"

SVC_LOG_C = [round(-2 + i / 3, 6) for i in range(19)]
SVC_LOG_GAMMA = [round(-5 + i / 3, 6) for i in range(19)]
GB_N_ESTIMATORS = [10, 30, 50, 70]
GB_MAX_DEPTH = [1, 2, 3, 4]
GB_LOG_LR = [-3.0, -2.5, -2.0, -1.5, -1.0, -0.5, 0.0]
GB_SUBSAMPLE = [0.5, 0.75, 1.0]


def _cv() -> object:
    from sklearn.model_selection import StratifiedKFold

    return StratifiedKFold(3, shuffle=True, random_state=0)


def svc_error(point: tuple[float, float]) -> float:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import cross_val_score
    from sklearn.svm import SVC

    x, y = load_digits(return_X_y=True)
    log_c, log_gamma = point
    model = SVC(C=10.0**log_c, gamma=10.0**log_gamma)
    return float(1.0 - cross_val_score(model, x / 16.0, y, cv=_cv()).mean())


def gb_error(point: tuple[int, int, float, float]) -> float:
    from sklearn.datasets import load_wine
    from sklearn.ensemble import GradientBoostingClassifier
    from sklearn.model_selection import cross_val_score

    x, y = load_wine(return_X_y=True)
    n, depth, log_lr, subsample = point
    model = GradientBoostingClassifier(n_estimators=n, max_depth=depth, learning_rate=10.0**log_lr,
                                       subsample=subsample, random_state=0)
    return float(1.0 - cross_val_score(model, x, y, cv=_cv()).mean())


def main() -> int:
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import sklearn

    t0 = time.time()
    svc_pts = list(itertools.product(SVC_LOG_C, SVC_LOG_GAMMA))
    gb_pts = list(itertools.product(GB_N_ESTIMATORS, GB_MAX_DEPTH, GB_LOG_LR, GB_SUBSAMPLE))
    with ProcessPoolExecutor(max_workers=int(os.environ.get("WORKERS", "2"))) as pool:
        svc = list(pool.map(svc_error, svc_pts, chunksize=8))
        print(f"svc_digits: {len(svc)} points, best {min(svc):.5f}, {time.time() - t0:.0f} s", file=sys.stderr)
        gb = list(pool.map(gb_error, gb_pts, chunksize=4))
        print(f"gb_wine: {len(gb)} points, best {min(gb):.5f}, {time.time() - t0:.0f} s", file=sys.stderr)
    data = {
        "sklearn": sklearn.__version__,
        "seconds": round(time.time() - t0, 1),
        "svc_digits": {"axes": {"log10_C": SVC_LOG_C, "log10_gamma": SVC_LOG_GAMMA},
                       "error": np.asarray(svc).reshape(len(SVC_LOG_C), len(SVC_LOG_GAMMA)).round(6).tolist()},
        "gb_wine": {"axes": {"n_estimators": GB_N_ESTIMATORS, "max_depth": GB_MAX_DEPTH,
                             "log10_learning_rate": GB_LOG_LR, "subsample": GB_SUBSAMPLE},
                    "error": np.asarray(gb).reshape(len(GB_N_ESTIMATORS), len(GB_MAX_DEPTH), len(GB_LOG_LR),
                                                    len(GB_SUBSAMPLE)).round(6).tolist()},
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(data) + "\n")
    print(f"wrote {OUT}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
