"""The `hpopt` command: run an experiment file (and resume it after SIGTERM), status, plot, and its errors."""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import time
from importlib.metadata import entry_points

import pytest
from workloads import objective

import hpopt
from hpopt import cli
from hpopt.algorithms.scores import best_of
from hpopt.state import read_trial_doc

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPT = os.path.join(HERE, "trial_script.py")
SPACE = {"x": {"type": "uniform", "range": [-5, 5]}, "lr": {"type": "loguniform", "range": [0.0001, 0.1]},
         "bs": {"type": "quniform", "range": [8, 128, 8]}, "opt": {"type": "choice", "range": ["sgd", "adam"]}}


def write_experiment(folder, **overrides):
    doc = {"script": shlex.quote(SCRIPT), "search_space": SPACE, "search_alg": "random",
           "algorithm": {"num_full_iterations": 6, "num_trials": 4, "max_iterations": 3, "seed": 5},
           "n_parallel": 2, "target": "max", "resources": "cpu", "save_path": "run"}
    doc.update(overrides)
    path = os.path.join(folder, "experiment.json")
    with open(path, "w") as f:
        json.dump(doc, f)
    return path


def hpopt_cmd(*args, **kw):
    return subprocess.run([sys.executable, "-m", "hpopt.cli", *args], capture_output=True, text=True, timeout=120,
                          **kw)


def status_json(capsys, save_path):
    """`hpopt status SAVE_PATH --json`, in this process."""
    capsys.readouterr()
    assert cli.main(["status", str(save_path), "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def read(path):
    with open(path) as f:
        return json.load(f)


def lines(path):
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [json.loads(line) for line in f]


@pytest.fixture(scope="module")
def finished_asha(tmp_path_factory):
    """An ASHA experiment run to its end through `hpopt run` (shared by the status and plot tests)."""
    folder = tmp_path_factory.mktemp("asha")
    path = write_experiment(folder, search_alg="asha", n_parallel=2, algorithm={
        "num_full_iterations": 9, "num_trials": 6, "max_iterations": 9, "reduction_factor": 3, "seed": 3})
    done = hpopt_cmd("run", path, "--no-progress")
    assert done.returncode == 0, done.stderr
    return folder / "run", done


def test_run_prints_the_best_trial(finished_asha, capsys):
    save_path, done = finished_asha
    view = status_json(capsys, save_path)
    best = view["best"]
    assert f"best: trial {best['trial_id']}, score {best['score']:.6g}" in done.stdout
    assert f"artifacts kept: {save_path / 'artifacts' / ('trial_' + str(best['trial_id']))}" in done.stdout


def test_status_json_matches_the_trial_files(finished_asha, capsys):
    save_path, _ = finished_asha
    view = status_json(capsys, save_path)
    assert view["search_algorithm"] == "asha" and view["rungs_in_brackets"] == [[9, 3, 1], [9, 3]]  # every bracket
    trials = view["trials"]
    assert trials and [t["trial_id"] for t in trials] == list(range(len(trials)))
    for t in trials:
        doc = hpopt.load_json(save_path / f"hpopt_trial_{t['trial_id']}.json")
        assert t["status"] in ("done", "stopped") and t["iterations"] == 9
        assert t["iterations_run"] == len(doc["scores"])
        assert t["iterations_run"] == 9 if t["status"] == "done" else t["iterations_run"] in (1, 3)
        assert t["score"] == pytest.approx(best_of(doc["scores"], "max"))
        assert t["params"] == doc["params"]
    best = max(trials, key=lambda t: (t["iterations_run"], t["score"]))  # epochs reached first (ASHA)
    assert view["best"]["trial_id"] == best["trial_id"] and view["best"]["score"] == best["score"]


def test_status_table(finished_asha, capsys):
    save_path, _ = finished_asha
    view = status_json(capsys, save_path)
    assert cli.main(["status", str(save_path)]) == 0
    out = capsys.readouterr().out.splitlines()
    plan = view["plan"]
    assert plan["trials_finished"] == len(view["trials"]) and plan["trials_planned"] == view["num_trials"]
    assert out[1].startswith(f"plan: {plan['trials_finished']} of {plan['trials_planned']} trials finished")
    assert out[2].split() == ["id", "status", "iters", "score", "x", "lr", "bs", "opt"]
    for t, row in zip(view["trials"], out[3:], strict=False):
        cells = row.split()
        assert cells[:3] == [str(t["trial_id"]), t["status"], f"{t['iterations_run']}/9"]
        assert float(cells[3]) == pytest.approx(t["score"], rel=1e-5)
        assert cells[7] == t["params"]["opt"]
    assert out[-1].startswith(f"best: trial {view['best']['trial_id']}, score ")


def test_plot_writes_a_png(finished_asha, tmp_path):
    save_path, _ = finished_asha
    out = tmp_path / "run.png"
    assert cli.main(["plot", str(save_path), "-o", str(out)]) == 0
    data = out.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000


def test_sigterm_then_resume_loses_nothing(tmp_path, capsys):
    rec = tmp_path / "rec"
    rec.mkdir()
    path = write_experiment(tmp_path, env={"TRIAL_RECORD": str(rec), "TRIAL_SLEEP": "0.25"},
                            algorithm={"num_full_iterations": 6, "num_trials": 4, "max_iterations": 4, "seed": 5})
    save_path = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "-m", "hpopt.cli", "run", path, "--no-progress"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def partly_reported():
        """A trial in the middle of training: 1 or 2 of its 4 epochs reported, so at least 0.5 s to go."""
        for name in os.listdir(save_path) if save_path.exists() else []:
            if name.startswith("hpopt_trial_") and name.endswith(".json"):
                doc = read_trial_doc(save_path / name, int(name[len("hpopt_trial_"):-len(".json")]))
                if doc["status"] == 1 and 0 < len(doc["scores"]) <= 2:
                    return doc
        return None

    deadline = time.monotonic() + 60
    while not (lines(rec / "ends.jsonl") and partly_reported()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert proc.poll() is None, proc.communicate()
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signal.SIGTERM, err
    assert f"hpopt run {path} --resume" in err
    for start in lines(rec / "starts.jsonl"):  # no trial outlived the controller (which reaped them all)
        assert not os.path.exists(f"/proc/{start['pid']}")

    # status works with no controller running; the interrupted trials are still "running" in the state
    view = status_json(capsys, save_path)
    finished_before = {t["trial_id"]: t for t in view["trials"] if t["status"] == "done"}
    interrupted = [t["trial_id"] for t in view["trials"] if t["status"] == "running"]
    assert finished_before and interrupted
    partial = {tid: hpopt.load_json(save_path / f"hpopt_trial_{tid}.json")["scores"] for tid in interrupted}
    assert any(partial.values())

    done = hpopt_cmd("run", path, "--resume", "--no-progress")
    assert done.returncode == 0, done.stderr
    view = status_json(capsys, save_path)
    assert [t["status"] for t in view["trials"]] == ["done"] * 4
    starts = lines(rec / "starts.jsonl")
    for t in view["trials"]:
        assert t["score"] == pytest.approx(objective(t["params"], 3))
        doc = hpopt.load_json(save_path / f"hpopt_trial_{t['trial_id']}.json")
        if t["trial_id"] in finished_before:  # kept as it was: never run again
            assert t["attempt"] == 0 and t["score"] == finished_before[t["trial_id"]]["score"]
            assert [s["attempt"] for s in starts if s["trial_id"] == t["trial_id"]] == [0]
        if t["trial_id"] in interrupted:  # run again with the same params; the first attempt's scores kept
            assert t["attempt"] == 1 and len(doc["scores"]) == 4
            kept = [partial[t["trial_id"]]] if partial[t["trial_id"]] else []  # an attempt without scores: none
            assert [a["scores"] for a in doc["previous_attempts"]] == kept


@pytest.mark.parametrize("change, message", [
    ({"n_paralel": 2}, "unknown key 'n_paralel' (did you mean 'n_parallel'?)"),
    ({"algorithm": {"num_full_iterations": 6, "num_trails": 9}},
     "'algorithm' has an unknown key 'num_trails' (did you mean 'num_trials'?)"),
    ({"algorithm": {"num_full_iterations": 6, "mode": "min"}}, "'algorithm.mode' is set by 'target'"),
    ({"algorithm": {"num_trials": 6}}, "'algorithm.num_full_iterations' is required"),
    ({"n_parallel": 0}, "'n_parallel' must be an int >= 1 (or null for one per GPU / CPU core); got 0"),
    ({"target": "maximum"}, "'target' must be one of ['max', 'min']; got \"maximum\""),
    ({"job_retries": -1}, "'job_retries' must be an int >= 0; got -1"),
    ({"ignore_fail": "yes"}, "'ignore_fail' must be true or false"),
    ({"timeout": 0}, "'timeout' must be a number of seconds > 0"),
    ({"search_space": {"x": {"type": "unifrom", "range": [0, 1]}}}, "search_space.x: search_space('unifrom'"),
    ({"search_space": {"x": {"type": "uniform", "rang": [0, 1]}}},
     "search_space.x has an unknown key 'rang' (did you mean 'range'?)"),
    ({"script": "missing_train.py"}, "'script' names 'missing_train.py', which does not exist"),
    ({"search_alg": "ashaa"}, "search_alg must be one of"),
    ({"resources": "tpu"}, "'resources' must be one of ['auto', 'gpu', 'cpu', 'ray']"),
])
def test_bad_experiment_files_name_the_key(tmp_path, capsys, change, message):
    path = write_experiment(tmp_path, **change)
    assert cli.main(["run", path]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "run").exists()  # nothing ran, nothing was written


def test_unreadable_experiment_and_missing_run(tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    assert cli.main(["run", str(bad)]) == 2
    assert "is not valid JSON" in capsys.readouterr().err
    assert cli.main(["run", str(tmp_path / "none.json")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert cli.main(["status", str(tmp_path)]) == 2
    assert "holds no hpopt run" in capsys.readouterr().err


def test_plot_without_matplotlib_says_which_extra(tmp_path, capsys, monkeypatch):
    for name in ("matplotlib", "matplotlib.figure", "matplotlib.backends.backend_agg", "matplotlib.ticker"):
        monkeypatch.setitem(sys.modules, name, None)
    assert cli.main(["plot", str(tmp_path), "-o", str(tmp_path / "x.png")]) == 2
    assert "pip install 'hpopt[plot]'" in capsys.readouterr().err
    assert not (tmp_path / "x.png").exists()


def test_console_script_and_light_imports():
    (script,) = [e for e in entry_points(group="console_scripts") if e.name == "hpopt"]
    assert script.value == "hpopt.cli:main"
    code = ("import sys, hpopt.cli, hpopt.adapters.local; "
            "print([m for m in ('torch', 'matplotlib', 'torchvision') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def _refused(done, *words):
    """`hpopt run` refused the run argparse-style: one `hpopt: error:` line set, exit 2, no traceback."""
    assert done.returncode == 2, (done.returncode, done.stderr)
    assert "Traceback" not in done.stderr, done.stderr
    assert done.stderr.startswith("hpopt: error: ") or "\nhpopt: error: " in done.stderr, done.stderr
    for word in words:
        assert word in done.stderr, (word, done.stderr)


@pytest.mark.parametrize("change, words", [
    ({"script": f"{shlex.quote(SCRIPT)} --name 'oops"}, ("'script'", "closing quotation")),
    ({"script": f"{shlex.quote(SCRIPT)} a\0b"}, ("'script'", "NUL")),
    ({"script": [SCRIPT, "a\0b"]}, ("'script'", "NUL")),
    ({"env": {"TRIAL_SLEEP": "0\0"}}, ("'env'", "'TRIAL_SLEEP'", "NUL")),
    ({"env": {"A=B": "1"}}, ("'env'", "'A=B'", "=")),
    ({"env": {"A\0": "1"}}, ("'env'", "NUL")),
    ({"env": {"": "1"}}, ("'env'", "''")),
])
def test_run_refuses_a_script_or_env_no_process_can_take(tmp_path, change, words):
    """Caught when the experiment file is read, before save_path is made (not a traceback, or a trial
    that fails with "embedded null byte")."""
    done = hpopt_cmd("run", write_experiment(tmp_path, **change), "--no-progress")
    _refused(done, *words)
    assert not (tmp_path / "run").exists()


def test_run_refuses_a_save_path_it_cannot_make(tmp_path):
    (tmp_path / "afile").write_text("x")
    for save_path in ("afile", "afile/below"):
        done = hpopt_cmd("run", write_experiment(tmp_path, save_path=save_path), "--no-progress")
        _refused(done, str(tmp_path / "afile"), "save_path")
    assert (tmp_path / "afile").read_text() == "x"


HOLDER = """
import sys, time, hpopt
hpo = hpopt.create(full_dataset_size=0, num_full_iterations=2, save_path=sys.argv[1], search_alg="random",
                   search_space={"x": hpopt.search_space("uniform", [0, 1])}, num_trials=2, max_iterations=1)
print("held", flush=True)
time.sleep(600)
"""


def test_run_on_a_save_path_another_controller_drives(tmp_path):
    path = write_experiment(tmp_path)
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(tmp_path / "run")], stdout=subprocess.PIPE,
                              text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        for resume in ([], ["--resume"]):
            _refused(hpopt_cmd("run", path, "--no-progress", *resume), "another hpopt controller",
                     f"pid {holder.pid}", str(tmp_path / "run"))
    finally:
        holder.kill()
        holder.wait()


def test_a_failed_trial_names_the_experiment_files_key(tmp_path):
    """The user of `hpopt run` edits JSON: the hint is `"ignore_fail": true`, not Python's ignore_fail=True."""
    path = write_experiment(tmp_path, env={"CRASH_TRIAL": "0"}, n_parallel=1)
    done = hpopt_cmd("run", path, "--no-progress")
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr.split("hpopt: error:")[-1]
    assert '"ignore_fail": true' in done.stderr and "ignore_fail=True" not in done.stderr, done.stderr
    assert "resume=True" not in done.stderr and f"hpopt run {path} --resume" in done.stderr
