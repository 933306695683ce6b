"""Results as data: hpopt.load_results / hpo.trials_dataframe on finished and live runs, on both stores,
ASHA's bracket and rung, the records form, and `hpopt export` through a real subprocess."""

from __future__ import annotations

import csv
import json
import math
import os
import subprocess
import sys

import pytest
from workloads import objective, run_loop, space

import hpopt
from hpopt.algorithms.scores import best_of
from hpopt.views.results import TAIL_COLUMNS

pd = pytest.importorskip("pandas")

COLUMNS = ["trial_id", "params_x", "params_lr", "params_bs", "params_opt", *TAIL_COLUMNS]


def make(save_path, **kw):
    args = {"full_dataset_size": 0, "num_full_iterations": 3, "search_space": space(), "search_alg": "random",
            "num_trials": 8, "max_iterations": 3, "seed": 4, "save_path": str(save_path)}
    args.update(kw)
    return hpopt.create(**args)


def plain(frame):
    """A DataFrame as records with None for missing values (pandas' NA/NaN), to compare with as_records."""
    return [{k: (None if not isinstance(v, str) and pd.isna(v) else v) for k, v in row.items()}
            for row in frame.astype(object).to_dict("records")]


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    save = tmp_path_factory.mktemp("finished") / "run"
    hpo = make(save)
    run_loop(hpo)
    controller_frame = hpo.trials_dataframe()
    hpo.close()
    return save, controller_frame


def test_finished_run_one_row_per_trial(finished):
    save, _ = finished
    frame = hpopt.load_results(save)
    assert list(frame.columns) == COLUMNS and len(frame) == 8
    assert list(frame["trial_id"]) == list(range(8))
    for row in plain(frame):
        doc = hpopt.load_json(save / f"hpopt_trial_{row['trial_id']}.json")
        assert {k: row["params_" + k] for k in doc["params"]} == doc["params"]
        assert row["status"] == "done" and row["epochs"] == row["max_epochs"] == 3
        assert row["best_score"] == pytest.approx(best_of(doc["scores"], "max"))
        assert row["last_score"] == pytest.approx(objective(doc["params"], 2))
        assert row["bracket"] is None and row["rung"] is None
        assert (row["attempts"], row["retries"], row["oom_count"], row["error"]) == (1, 0, 0, None)
        assert 0 <= row["seconds"] < 60 and row["issued_at"] > 1e9
    assert frame["best_score"].max() == pytest.approx(max(r["best_score"] for r in plain(frame)))


def test_records_equal_the_dataframe_and_the_controllers_view(finished):
    save, controller_frame = finished
    records = hpopt.load_results(save, as_records=True)
    assert isinstance(records, list) and all(list(r) == COLUMNS for r in records)
    frame = hpopt.load_results(save)
    assert plain(frame) == records
    assert plain(controller_frame) == records
    assert str(frame["epochs"].dtype) == "Int64" and frame["best_score"].dtype == float


def test_live_run_running_and_finished_trial_file_store(tmp_path):
    """While the controller holds the run and a trainer is mid-trial, the table reads what is on disk."""
    save = tmp_path / "live"
    hpo = make(save, num_trials=4)
    first, second = hpo.get_next_sample(), hpo.get_next_sample()
    for epoch in range(3):
        hpopt.report(config=first, score=objective(first["params"], epoch))
    hpopt.report(config=second, score=0.25)
    with open(save / "hpopt_trial_1.jsonl", "a") as f:  # a report being written: a torn last line
        f.write('{"a": 0, "n": 2, "s": 0.')
    rows = {r["trial_id"]: r for r in hpopt.load_results(save, as_records=True)}
    assert set(rows) == {0, 1}
    assert rows[0]["status"] == "done" and rows[0]["epochs"] == 3  # finished, not yet collected
    assert rows[0]["best_score"] == pytest.approx(objective(first["params"], 2))
    assert rows[1]["status"] == "running" and rows[1]["epochs"] == 1
    assert rows[1]["best_score"] == rows[1]["last_score"] == 0.25 and rows[1]["seconds"] >= 0
    mine = {r["trial_id"]: r for r in hpo.trials_dataframe(as_records=True)}  # collects trial 0 first
    assert mine[0]["status"] == "done" and mine[1]["status"] == "running" and mine[1]["best_score"] == 0.25
    hpo.close()


def test_memory_store(tmp_path):
    hpo = make(tmp_path / "mem", storage="memory", num_trials=5)
    assert hpo.trials_dataframe(as_records=True) == []
    assert list(hpo.trials_dataframe().columns) == COLUMNS
    cfg = hpo.get_next_sample()
    hpopt.report(config=cfg, score=0.5)
    running = hpo.trials_dataframe(as_records=True)
    assert [(r["status"], r["epochs"], r["best_score"]) for r in running] == [("running", 1, 0.5)]
    for epoch in range(1, 3):
        hpopt.report(config=cfg, score=objective(cfg["params"], epoch))
    run_loop(hpo)
    records = hpo.trials_dataframe(as_records=True)
    assert [r["status"] for r in records] == ["done"] * 5 and not os.path.exists(tmp_path / "mem")
    assert plain(hpo.trials_dataframe()) == records
    assert records[0]["best_score"] == pytest.approx(max(0.5, objective(cfg["params"], 2)))
    hpo.close()
    assert hpo.trials_dataframe(as_records=True) == records  # a closed controller: the stored state


def test_asha_bracket_and_rung(tmp_path):
    save = tmp_path / "asha"
    hpo = make(save, search_alg="asha", num_trials=12, max_iterations=9, num_full_iterations=9, min_iterations=1,
               reduction_factor=3, num_brackets=2, seed=2, sampler="random")  # random draws stop at rungs
    run_loop(hpo)
    rungs = hpo.rungs_in_brackets
    records = hpo.trials_dataframe(as_records=True)
    entries = {e["trial_id"]: e["bracket"] for e in hpo.get_current_status()["config_list"]}
    hpo.close()
    assert records == hpopt.load_results(save, as_records=True)
    assert len(rungs) == 2
    for r in records:
        assert r["bracket"] == entries[r["trial_id"]]  # the bracket the chooser gave it at issue
        assert r["rung"] == max(x for x in rungs[r["bracket"]] if x <= r["epochs"])
        assert (r["rung"] == 9) == (r["status"] == "done")
    assert any(r["status"] == "stopped" and r["rung"] < 9 for r in records)


def test_without_pandas(finished, monkeypatch):
    save, _ = finished
    monkeypatch.setitem(sys.modules, "pandas", None)
    with pytest.raises(ImportError, match=r"pip install 'hpopt\[results\]'.*as_records=True"):
        hpopt.load_results(save)
    assert len(hpopt.load_results(save, as_records=True)) == 8


def test_empty_and_missing_runs(tmp_path):
    make(tmp_path / "empty").close()
    assert hpopt.load_results(tmp_path / "empty", as_records=True) == []
    frame = hpopt.load_results(tmp_path / "empty")
    assert frame.empty and list(frame.columns) == COLUMNS
    with pytest.raises(FileNotFoundError, match="holds no hpopt run"):
        hpopt.load_results(tmp_path / "nothing")


def test_core_import_pulls_no_pandas():
    code = ("import sys, hpopt, hpopt.views.results, hpopt.views.plot; "
            "print([m for m in ('pandas', 'matplotlib', 'sklearn') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def export(*args):
    return subprocess.run([sys.executable, "-m", "hpopt.cli", "export", *map(str, args)], capture_output=True,
                          text=True, timeout=120)


def test_export_csv_and_json_of_a_live_run(tmp_path):
    """Through the real command, in another process, while this one drives the run."""
    save = tmp_path / "run"
    hpo = make(save, num_trials=3)
    done, running = hpo.get_next_sample(), hpo.get_next_sample()
    for epoch in range(3):
        hpopt.report(config=done, score=objective(done["params"], epoch))
    hpopt.report(config=running, score=-1.5)
    expected = hpo.trials_dataframe(as_records=True)
    out = export(save, "--json", tmp_path / "r.json")
    assert out.returncode == 0, out.stderr
    assert "wrote 2 trials" in out.stdout
    assert json.loads((tmp_path / "r.json").read_text()) == expected
    out = export(save, "--csv", tmp_path / "r.csv")
    assert out.returncode == 0, out.stderr
    with open(tmp_path / "r.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == COLUMNS
    for row, want in zip(rows, expected, strict=True):
        for key, value in want.items():
            if isinstance(value, float):
                assert math.isclose(float(row[key]), value), key
            else:
                assert row[key] == ("" if value is None else str(value)), key
    assert [r["status"] for r in rows] == ["done", "running"]
    to_stdout = export(save, "--csv", "-")
    assert to_stdout.returncode == 0 and to_stdout.stdout.splitlines()[0] == ",".join(COLUMNS)
    hpo.close()


def test_export_errors(tmp_path):
    out = export(tmp_path, "--csv", tmp_path / "x.csv")
    assert out.returncode == 2 and out.stderr.startswith("hpopt: error: ") and "holds no hpopt run" in out.stderr
    out = export(tmp_path)
    assert out.returncode == 2 and "one of the arguments --csv --json is required" in out.stderr
    make(tmp_path / "run").close()
    out = export(tmp_path / "run", "--json", tmp_path / "no" / "such" / "x.json")
    assert out.returncode == 2 and out.stderr.startswith("hpopt: error: cannot write")
