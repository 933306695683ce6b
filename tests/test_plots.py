"""Pictures of a run: every kind writes a PNG matplotlib reads back at the size asked for, importance ranks
the parameter that drives the score first, and the errors say what is wrong (kind, empty run, too few)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

import hpopt
from hpopt import cli
from hpopt.views import plot as views_plot
from hpopt.views.figures import figure_inches
from hpopt.views.importance import MIN_TRIALS, importances
from hpopt.views.plot_params import plot_slice

pytest.importorskip("matplotlib")
pytest.importorskip("sklearn")
from matplotlib.image import imread  # noqa: E402

DPI = 40
SPACE = {"x": hpopt.search_space("uniform", [0, 1]), "y": hpopt.search_space("uniform", [0, 1]),
         "lr": hpopt.search_space("loguniform", [1e-4, 1e-1]), "opt": hpopt.search_space("choice", ["sgd", "adam"])}


def score(params, epoch):
    """Depends on x only (peak at x = 0.3), a little on the epoch; never on y, lr or opt."""
    return 1.0 - 4 * (params["x"] - 0.3) ** 2 + 0.01 * epoch


def run(save_path, num_trials, space=SPACE, **kw):
    hpo = hpopt.create(full_dataset_size=0, num_full_iterations=2, search_space=space, search_alg="random",
                       num_trials=num_trials, max_iterations=2, seed=7, save_path=str(save_path), **kw)
    while (cfg := hpo.get_next_sample()) is not None:
        for epoch in range(cfg["iterations"]):
            hpopt.report(config=cfg, score=score(cfg["params"], epoch))
    return hpo


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    save = tmp_path_factory.mktemp("plots") / "run"
    run(save, 30).close()
    return save


@pytest.mark.parametrize("kind", [k for k in views_plot.KINDS if k != "all"])
def test_each_kind_writes_a_png_of_the_expected_size(synthetic, tmp_path, kind):
    out = tmp_path / f"{kind}.png"
    assert views_plot.plot(synthetic, kind, out, dpi=DPI) == [str(out)]
    width, height = figure_inches(kind, len(SPACE))
    image = imread(out)
    assert image.shape[:2] == (round(height * DPI), round(width * DPI))
    assert image[..., :3].std() > 0.05  # something is drawn, not a blank canvas


def test_all_kinds_into_a_folder_through_the_command(synthetic, tmp_path, capsys):
    folder = tmp_path / "pics"
    assert cli.main(["plot", str(synthetic), "--kind", "all", "--out", str(folder), "--dpi", str(DPI)]) == 0
    names = ["curves", "history", "slice", "parallel", "contour", "importance"]
    assert sorted(p.name for p in folder.iterdir()) == sorted(f"{n}.png" for n in names)
    assert all((folder / f"{n}.png").stat().st_size > 2000 for n in names)
    assert capsys.readouterr().out.count("hpopt: wrote ") == 6


def test_importance_ranks_the_parameter_that_drives_the_score(synthetic):
    shares = importances(synthetic)
    assert list(shares)[0] == "x" and set(shares) == set(SPACE)
    assert shares["x"] > shares["y"] and shares["x"] > 0.6
    assert sum(shares.values()) == pytest.approx(1.0)


def test_pictures_of_a_live_controller_on_the_memory_store(tmp_path):
    hpo = run(tmp_path / "mem", 6, storage="memory")
    out = plot_slice(hpo, str(tmp_path / "slice.png"), dpi=DPI)
    width, height = figure_inches("slice", 4)
    assert imread(out).shape[:2] == (round(height * DPI), round(width * DPI))
    assert set(importances(hpo)) == set(SPACE)
    hpo.close()


def test_clear_errors(tmp_path, capsys):
    with pytest.raises(ValueError, match="unknown plot kind 'pie'; the kinds are overview, curves"):
        views_plot.plot(tmp_path, "pie", tmp_path / "x.png")
    assert cli.main(["plot", str(tmp_path), "--kind", "pie"]) == 2
    assert capsys.readouterr().err.startswith("hpopt: error: unknown plot kind 'pie'")

    hpo = hpopt.create(full_dataset_size=0, num_full_iterations=2, search_space=SPACE, search_alg="random",
                       num_trials=3, max_iterations=2, save_path=str(tmp_path / "empty"))
    hpo.close()
    for kind in ("slice", "parallel", "curves", "history"):
        with pytest.raises(ValueError, match="none yet"):
            views_plot.plot(tmp_path / "empty", kind, tmp_path / "x.png", dpi=DPI)
    assert cli.main(["plot", str(tmp_path / "empty"), "--kind", "all", "-o", str(tmp_path / "none")]) == 2
    assert "no picture could be drawn" in capsys.readouterr().err

    few = tmp_path / "few"
    run(few, MIN_TRIALS - 2).close()
    for kind in ("importance", "contour"):
        with pytest.raises(ValueError, match=f"needs at least {MIN_TRIALS} finished trials with a score; .* has 3"):
            views_plot.plot(few, kind, tmp_path / "x.png", dpi=DPI)
    assert cli.main(["plot", str(few), "--kind", "importance", "-o", str(tmp_path / "x.png")]) == 2
    assert "needs at least 5 finished trials" in capsys.readouterr().err
    folder = tmp_path / "some"
    assert cli.main(["plot", str(few), "--kind", "all", "-o", str(folder), "--dpi", str(DPI)]) == 0
    assert sorted(p.name for p in folder.iterdir()) == ["curves.png", "history.png", "parallel.png", "slice.png"]

    one = tmp_path / "one"
    run(one, 6, space={"x": SPACE["x"]}).close()
    with pytest.raises(ValueError, match="a contour needs two hyperparameters; .* has 1 \\(x\\)"):
        views_plot.plot(one, "contour", tmp_path / "x.png")
    assert cli.main(["plot", str(tmp_path / "nothing"), "--kind", "slice"]) == 2
    assert "holds no hpopt run" in capsys.readouterr().err


def test_importance_without_scikit_learn(synthetic, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "sklearn.ensemble", None)
    with pytest.raises(ImportError, match=r"scikit-learn: pip install 'hpopt\[plot\]'"):
        importances(synthetic)


def test_a_constant_score_gives_zero_importance(tmp_path):
    hpo = hpopt.create(full_dataset_size=0, num_full_iterations=1, search_space=SPACE, search_alg="random",
                       num_trials=6, max_iterations=1, seed=1, save_path=str(tmp_path / "flat"), storage="memory")
    while (cfg := hpo.get_next_sample()) is not None:
        hpopt.report(config=cfg, score=0.5)
    assert set(importances(hpo).values()) == {0.0}
    hpo.close()


def test_default_plot_is_the_overview_as_before(synthetic, tmp_path):
    """`hpopt plot SAVE_PATH -o FILE` still draws the curves beside the best score so far, 1200 x 480."""
    out = subprocess.run([sys.executable, "-m", "hpopt.cli", "plot", str(synthetic), "-o", str(tmp_path / "r.png")],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    image = imread(tmp_path / "r.png")
    assert image.shape[:2] == (480, 1200) and np.asarray(image).std() > 0.05
