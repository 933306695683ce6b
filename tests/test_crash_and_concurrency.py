"""A controller killed with SIGKILL mid-run resumes with nothing lost; many processes report at once."""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from workloads import reports_on_disk, run_loop, space

import hpopt

HERE = Path(__file__).parent

CONTROLLER = """
import sys, hpopt
sys.path.insert(0, {tests!r})
from workloads import reports_on_disk, run_loop, space
hpo = hpopt.create(full_dataset_size=1000, num_full_iterations=8, search_space=space(), save_path={save!r},
                   search_alg="random", num_trials=30, max_iterations=5, seed=3, batch_size_name="bs",
                   resume={resume})
run_loop(hpo, log_path={log!r}, oom=True)
"""


def _start(save: str, log: str, resume: bool) -> subprocess.Popen:
    code = CONTROLLER.format(tests=str(HERE), save=save, log=log, resume=resume)
    env = dict(os.environ, PYTHONPATH=str(HERE.parent))
    return subprocess.Popen([sys.executable, "-c", code], env=env)


def _wait_for_lines(log: str, n: int, proc: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if os.path.exists(log) and len(Path(log).read_text().splitlines()) >= n:
            return
        if proc.poll() is not None:
            raise AssertionError(f"controller ended early with {proc.returncode}")
        time.sleep(0.01)  # the test polls a log; the library never sleeps
    raise AssertionError("controller made no progress")


@pytest.mark.parametrize("kill_after", [7, 33, 71])
def test_sigkill_controller_then_resume(tmp_path, kill_after):
    save, log = str(tmp_path / "hpo"), str(tmp_path / "reports.log")
    proc = _start(save, log, resume=False)
    _wait_for_lines(log, kill_after, proc)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL

    hpo = hpopt.create(full_dataset_size=1000, num_full_iterations=8, search_space=space(), save_path=save,
                       search_alg="random", num_trials=30, max_iterations=5, seed=3, batch_size_name="bs",
                       resume=True)
    run_loop(hpo, log_path=log, oom=True)
    assert hpo.is_finished()

    entries = hpo.get_current_status()["config_list"]
    assert [e["trial_id"] for e in entries] == list(range(30))  # no id lost or duplicated
    assert all(e["status"] == hpopt.Status.STOP for e in entries)

    # every report that returned (before and after the kill) is on disk, in its attempt's score list
    assert reports_on_disk(save, Path(log).read_text().splitlines()) == []

    best = max((e for e in entries if e["score"] is not None), key=lambda e: e["score"])
    assert hpo.get_best_config() == best["config"]


def test_resume_collects_finished_but_uncollected_trials(tmp_path):
    """A trainer in another process finished after the controller died: its result is kept, not re-run."""
    kw = dict(full_dataset_size=1000, num_full_iterations=8, search_space=space(), save_path=str(tmp_path / "h"),
              search_alg="random", num_trials=4, max_iterations=3, seed=1)
    hpo = hpopt.create(**kw)
    a, b = hpo.get_next_sample(), hpo.get_next_sample()
    for s in (1.0, 2.0, 3.0):
        hpopt.report(a, s)  # a finishes, uncollected
    hpopt.report(b, 5.0)  # b is cut off mid-way
    hpo.close()
    hpo = hpopt.create(**kw, resume=True)
    entries = hpo.get_current_status()["config_list"]
    assert entries[0]["status"] == hpopt.Status.STOP and entries[0]["score"] == 3.0
    nxt = hpo.get_next_sample()
    assert nxt["trial_id"] == 1 and nxt["attempt"] == 1 and nxt["params"] == b["params"]
    assert hpopt.load_json(nxt["file_path"])["previous_attempts"][0]["scores"] == [5.0]


def test_resume_refuses_changed_settings(tmp_path):
    kw = dict(full_dataset_size=1000, num_full_iterations=8, search_space=space(), save_path=str(tmp_path / "h"),
              search_alg="random", num_trials=4, max_iterations=3)
    hpopt.create(**kw).close()
    changed = space()
    changed["x"] = hpopt.search_space("uniform", [-4, 5])
    for change, word in ((dict(search_space=changed), "search_space"), (dict(metric="acc"), "metric"),
                         (dict(full_dataset_size=999), "full_dataset_size"), (dict(mode="min"), "mode")):
        with pytest.raises(ValueError, match=word):
            hpopt.create(**{**kw, **change}, resume=True)


def test_resume_after_oom_shrink(tmp_path):
    kw = dict(full_dataset_size=1000, num_full_iterations=8, search_space=space(), save_path=str(tmp_path / "h"),
              search_alg="random", num_trials=8, max_iterations=2, seed=5, batch_size_name="bs")
    hpo = hpopt.create(**kw)
    while (cfg := hpo.get_next_sample())["params"]["bs"] < 96:
        hpopt.report(cfg, 0.0)
        hpopt.report(cfg, 0.0)
    hpopt.reportOOM(cfg)
    hpo.get_next_sample()  # collects the OOM and shrinks
    shrunk = hpo.search_space["bs"].upper
    assert shrunk == cfg["params"]["bs"] - 8
    hpo.close()
    hpo = hpopt.create(**kw, resume=True)  # the original search space is given again: accepted
    assert hpo.search_space["bs"].upper == shrunk
    run_loop(hpo, oom=True)
    assert hpo.is_finished()


def test_oom_that_cannot_shrink_says_so(tmp_path):
    sp = {"bs": hpopt.search_space("quniform", [8, 16, 8])}
    hpo = hpopt.create(full_dataset_size=100, num_full_iterations=2, search_space=sp, save_path=str(tmp_path / "h"),
                       search_alg="random", num_trials=4, max_iterations=1, batch_size_name="bs", seed=0)
    with pytest.raises(RuntimeError, match="cannot shrink further"):
        for _ in range(4):
            hpopt.reportOOM(hpo.get_next_sample())


def test_resume_false_keeps_the_old_run_aside(tmp_path):
    kw = dict(full_dataset_size=1000, num_full_iterations=8, search_space=space(), save_path=str(tmp_path / "h"),
              search_alg="random", num_trials=2, max_iterations=1)
    hpo = hpopt.create(**kw)
    run_loop(hpo)
    hpo.close()
    hpopt.create(**kw).close()
    archived = list((tmp_path / "h" / "archive").iterdir())
    assert len(archived) == 1
    assert {p.name for p in archived[0].iterdir()} >= {"hpopt_status.json", "hpopt_trial_0.json", "hpopt_trial_1.json"}


def test_second_controller_is_refused(tmp_path):
    save = str(tmp_path / "h")
    code = ("import hpopt, sys; hpopt.create(full_dataset_size=10, num_full_iterations=1, save_path=sys.argv[1], "
            "search_alg='random', num_trials=1, max_iterations=1, "
            "search_space={'x': hpopt.search_space('uniform', [0, 1])}, resume=True)")
    hpo = hpopt.create(full_dataset_size=10, num_full_iterations=1, save_path=save, search_alg="random",
                       num_trials=1, max_iterations=1, search_space={"x": hpopt.search_space("uniform", [0, 1])})
    env = dict(os.environ, PYTHONPATH=str(HERE.parent))
    out = subprocess.run([sys.executable, "-c", code, save], env=env, capture_output=True, text=True)
    assert out.returncode != 0 and "another hpopt controller" in out.stderr
    hpo.close()
    assert subprocess.run([sys.executable, "-c", code, save], env=env).returncode == 0


def _reporter(cfg: dict, n: int) -> None:
    for i in range(n):
        hpopt.report(cfg, float(i))


def test_four_processes_times_500_reports(tmp_path):
    hpo = hpopt.create(full_dataset_size=1000, num_full_iterations=8, search_space=space(),
                       save_path=str(tmp_path / "h"), search_alg="random", num_trials=4, max_iterations=500, seed=2)
    cfgs = hpo.get_next_samples(4)
    ctx = mp.get_context("fork")
    procs = [ctx.Process(target=_reporter, args=(c, 500)) for c in cfgs]
    for p in procs:
        p.start()
    # the controller polls while the trainers write
    while any(p.is_alive() for p in procs):
        hpo.get_next_sample()
    for p in procs:
        p.join()
        assert p.exitcode == 0
    assert hpo.is_finished()
    for c in cfgs:
        doc = hpopt.load_json(c["file_path"])
        assert doc["scores"] == [float(i) for i in range(500)]
        assert doc["status"] == hpopt.Status.STOP
    assert [e["score"] for e in hpo.get_current_status()["config_list"]] == [499.0] * 4


def test_four_processes_report_to_one_trial(tmp_path):
    """Reports racing on the same trial file: the lock keeps every one of them."""
    hpo = hpopt.create(full_dataset_size=1000, num_full_iterations=8, search_space=space(),
                       save_path=str(tmp_path / "h"), search_alg="random", num_trials=1, max_iterations=2000)
    cfg = hpo.get_next_sample()
    ctx = mp.get_context("fork")
    procs = [ctx.Process(target=_reporter, args=(cfg, 500)) for _ in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
        assert p.exitcode == 0
    doc = hpopt.load_json(cfg["file_path"])
    assert len(doc["scores"]) == 2000 and sorted(doc["scores"]) == sorted([float(i) for i in range(500)] * 4)
