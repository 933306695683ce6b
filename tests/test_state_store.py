"""The state store contract, run against both stores (files under save_path, and memory), plus the file
store's own promises: O(1) writes per report, torn logs, symlinks, and the controller lock."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import hpopt
from hpopt.algorithms.rank_summary import RankSummary
from hpopt.errors import ControllerBusyError, StateFileError
from hpopt.state import FileStore, MemoryStore
from hpopt.state.file_store import log_path
from hpopt.trial import Status

SPACE = {"x": hpopt.search_space("uniform", [0, 1])}


@pytest.fixture(params=["file", "memory"])
def store(request, tmp_path):
    if request.param == "file":
        os.makedirs(tmp_path / "run")
        return FileStore(tmp_path / "run")
    return MemoryStore("run")


class Owner:
    """Stands for a controller."""


def status(n_trials: int = 0) -> dict:
    return {"search_algorithm": "random", "search_space": {"x": {"type": "uniform", "range": [0, 1]}},
            "config_list": [{"trial_id": i, "config": {"x": 0.5}, "status": 0, "score": None, "attempt": 0,
                             "iterations": 3} for i in range(n_trials)], "journal_seq": 0}


def test_controller_ownership(store):
    a, b = Owner(), Owner()
    store.open_controller(a)
    assert store.owned_by(a) and not store.owned_by(b)
    store.open_controller(a)  # the same owner again: still its
    store.close_controller(a)
    assert not store.owned_by(a)


def test_status_checkpoint_and_journal(store):
    owner = Owner()
    store.open_controller(owner)
    assert store.load_status() is None
    store.checkpoint(status(1))
    entry = {"trial_id": 1, "config": {"x": 0.25}, "status": 1, "score": None, "attempt": 0, "iterations": 3}
    store.journal({"seq": 1, "trial": entry, "fields": {"best_config_id": None}}, sync=True)
    store.journal({"seq": 2, "trial": {**entry, "status": 2, "score": 0.9}, "fields": {"best_config_id": 1}},
                  sync=False)
    loaded = store.load_status()
    assert [e["trial_id"] for e in loaded["config_list"]] == [0, 1]
    assert loaded["config_list"][1]["score"] == 0.9 and loaded["best_config_id"] == 1
    assert loaded["journal_seq"] == 2
    store.checkpoint(loaded)
    assert store.load_status() == loaded
    store.close_controller(owner)


def test_trial_records_reports_and_polls(store):
    store.begin_attempt(0, 0, "run-a", {"x": 0.5}, 3)
    address = store.trial_address(0)
    assert address.endswith("hpopt_trial_0.json")
    first = store.poll_trial(0)
    assert first is not None and first.status == Status.RUNNING and first.scores == []
    assert store.poll_trial(0) is None  # unchanged since
    with store.locked_trial(0) as rec:
        rec.add_score(0.4, 100.0)
        rec.add_score(None, 101.0)
        rec.add_score(0.6, 102.0)
    polled = store.poll_trial(0)
    assert polled.scores == [0.4, None, 0.6] and polled.best("max") == 0.6 and polled.best("min") == 0.4
    assert polled.mean == pytest.approx(0.5) and polled.doc["t"] == [100.0, 102.0]
    assert polled.doc["median"] == pytest.approx([0.4, 0.4, 0.5])
    with store.locked_trial(0) as rec:
        rec.set_status(Status.STOP, early_stopped=1)
    done = store.read_trial(0)
    assert done.status == Status.STOP and done.doc["early_stopped"] == 1 and done.doc["run_id"] == "run-a"
    assert store.read_trial(1) is None
    with pytest.raises(FileNotFoundError):
        store.poll_trial(1)
    with pytest.raises(FileNotFoundError), store.locked_trial(1):
        pass


def test_a_new_attempt_keeps_the_earlier_scores(store):
    store.begin_attempt(0, 0, "r", {"x": 0.5}, 5)
    with store.locked_trial(0) as rec:
        rec.add_score(1.0, 1.0)
        rec.add_score(2.0, 2.0)
    store.begin_attempt(0, 1, "r", {"x": 0.5}, 5)
    rec = store.read_trial(0)
    assert rec.attempt == 1 and rec.scores == [] and rec.longest_previous == 2
    assert [a["scores"] for a in rec.doc["previous_attempts"]] == [[1.0, 2.0]]


def test_a_change_in_a_failed_block_is_not_kept(store):
    store.begin_attempt(0, 0, "r", {"x": 0.5}, 5)
    with pytest.raises(RuntimeError), store.locked_trial(0) as rec:
        rec.add_score(1.0, 1.0)
        raise RuntimeError("the stop rule failed")
    if store.durable:
        assert store.read_trial(0).scores == []


def test_rank_summaries(store):
    def add(value, mode="max"):
        def judge(summary: RankSummary) -> bool:
            summary.add(value)
            return summary.count_better(value, mode) > 0
        return judge

    assert store.judge_summary("asha", "bracket_0_rung_1", "r", add(0.5)) is False
    assert store.judge_summary("asha", "bracket_0_rung_1", "r", add(0.3)) is True
    assert store.read_summary("asha", "bracket_0_rung_1", "r").means == [0.3, 0.5]
    assert store.read_summary("asha", "bracket_0_rung_1", "another-run").count == 0  # another run's: afresh
    assert store.judge_summary("median_stop", "step_1", "r", lambda s: s.count == 0) is True  # nothing added
    assert store.read_summary("median_stop", "step_1", "r").count == 0
    store.replace_summaries("asha", {"bracket_0_rung_3": RankSummary([1.0], [1])}, "r")
    assert store.read_summary("asha", "bracket_0_rung_1", "r").count == 0
    assert store.read_summary("asha", "bracket_0_rung_3", "r").means == [1.0]


def test_archive(store):
    owner = Owner()
    store.open_controller(owner)
    assert store.run_files() == [] and store.archive_run() is None
    store.checkpoint(status(0))
    store.begin_attempt(0, 0, "r", {"x": 0.5}, 5)
    assert store.run_files()
    assert store.archive_run() is not None
    assert store.run_files() == [] and store.load_status() is None and store.read_trial(0) is None
    store.close_controller(owner)


def test_the_same_run_on_both_stores(tmp_path):
    """create(storage=...) gives the same configs, stop decisions and best on both stores."""
    def run(storage: str):
        hpo = hpopt.create(full_dataset_size=100, num_full_iterations=9, search_space=SPACE, search_alg="asha",
                           num_trials=30, max_iterations=9, reduction_factor=3, subset_ratio=1.0, seed=4,
                           save_path=str(tmp_path / storage), storage=storage)
        trace = []
        while (cfg := hpo.get_next_sample()) is not None:
            for epoch in range(cfg["iterations"]):
                if hpopt.report(cfg, -(cfg["params"]["x"] - 0.3) ** 2 + 0.01 * epoch) == hpopt.Status.STOP:
                    break
            trace.append((cfg["trial_id"], cfg["params"]["x"], epoch))
        return trace, hpo.get_best_config()

    on_files, in_memory = run("file"), run("memory")
    assert on_files == in_memory and len(on_files[0]) >= 10
    assert any(epoch < 8 for _, _, epoch in on_files[0])  # ASHA stopped some trials at rungs
    assert (tmp_path / "file").exists() and not (tmp_path / "memory").exists()


# --- the file store's own promises -----------------------------------------------------------------


def test_reports_append_and_the_trial_file_is_rewritten_rarely(tmp_path):
    """1 000 reports rewrite the .json a handful of times (when the log is as long as the scores), and a
    reader always sees every score."""
    store = FileStore(tmp_path)
    store.begin_attempt(0, 0, "r", {"x": 0.5}, 2000)
    json_path = tmp_path / "hpopt_trial_0.json"
    rewrites, key = 0, json_path.stat().st_ino
    for i in range(1000):
        with store.locked_trial(0) as rec:
            rec.add_score(float(i), float(i))
        if json_path.stat().st_ino != key:
            rewrites, key = rewrites + 1, json_path.stat().st_ino
        if i in (10, 500, 999):
            assert FileStore(tmp_path).read_trial(0).scores == [float(j) for j in range(i + 1)]
    assert 1 <= rewrites <= 6
    assert len(Path(log_path(str(tmp_path), 0)).read_text().splitlines()) < 1000


def test_a_torn_log_line_is_ignored_then_cut_off(tmp_path):
    store = FileStore(tmp_path)
    store.begin_attempt(0, 0, "r", {"x": 0.5}, 10)
    with store.locked_trial(0) as rec:
        rec.add_score(0.5, 1.0)
    with open(log_path(str(tmp_path), 0), "ab") as f:
        f.write(b'{"a":0,"n":2,"s":0.')  # a report killed mid-write
    assert FileStore(tmp_path).read_trial(0).scores == [0.5]
    fresh = FileStore(tmp_path)  # another process
    with fresh.locked_trial(0) as rec:
        rec.add_score(0.7, 2.0)
    assert FileStore(tmp_path).read_trial(0).scores == [0.5, 0.7]


def test_a_damaged_log_line_before_the_last_is_named(tmp_path):
    store = FileStore(tmp_path)
    store.begin_attempt(0, 0, "r", {"x": 0.5}, 10)
    Path(log_path(str(tmp_path), 0)).write_text('{"a":0,"n":1,"s":"oops","t":1}\n{"a":0,"n":2,"s":1,"t":2}\n')
    with pytest.raises(StateFileError, match="hpopt_trial_0.jsonl line 1"):
        FileStore(tmp_path).read_trial(0)


def _run(tmp_path: Path, alg: str = "random"):
    return hpopt.create(full_dataset_size=100, num_full_iterations=4, search_space=SPACE, search_alg=alg,
                        num_trials=4, max_iterations=4, subset_ratio=1.0, save_path=str(tmp_path / "hpo"),
                        seed=0, **({"reduction_factor": 2, "num_brackets": 1} if alg == "asha" else {}))


def test_report_never_writes_through_a_planted_symlink(tmp_path):
    hpo = _run(tmp_path)
    cfg = hpo.get_next_sample()
    victim = tmp_path / "victim"
    victim.write_text("precious")
    os.symlink(victim, log_path(hpo.save_path, 0))
    with pytest.raises(OSError):
        hpopt.report(cfg, 0.5)
    cfg1 = hpo.get_next_sample()
    lock = Path(hpo.save_path) / ".locks" / "trial_1.lock"
    lock.unlink()
    os.symlink(victim, lock)
    with pytest.raises(OSError):
        hpopt.report(cfg1, 0.5)
    assert victim.read_text() == "precious"


def test_a_summary_folder_that_is_a_symlink_is_refused(tmp_path):
    hpo = _run(tmp_path, "asha")
    cfg = hpo.get_next_sample()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    os.symlink(elsewhere, Path(hpo.save_path) / "hpopt_asha")
    with pytest.raises(StateFileError, match="hpopt_asha is a symlink"):
        for i in range(4):
            hpopt.report(cfg, 0.1 * i)
    assert list(elsewhere.iterdir()) == []


def test_deleting_locks_does_not_let_a_second_controller_in(tmp_path):
    hpo = _run(tmp_path)
    hpo.get_next_sample()
    for entry in (Path(hpo.save_path) / ".locks").iterdir():
        entry.unlink()
    (Path(hpo.save_path) / ".locks").rmdir()
    code = textwrap.dedent(f"""
        import hpopt
        from hpopt.errors import ControllerBusyError
        try:
            hpopt.create(full_dataset_size=100, num_full_iterations=4, search_space={{"x": hpopt.search_space(
                "uniform", [0, 1])}}, search_alg="random", num_trials=4, max_iterations=4, subset_ratio=1.0,
                save_path={hpo.save_path!r}, seed=0, resume=True)
        except ControllerBusyError as exc:
            print("refused:", exc)
        else:
            print("let in")
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.startswith("refused: another hpopt controller"), out.stdout + out.stderr
    assert issubclass(ControllerBusyError, RuntimeError)
    hpo.close()


def test_a_memory_store_passed_again_continues_its_run():
    store = MemoryStore("notebook")
    args = dict(full_dataset_size=100, num_full_iterations=3, search_space=SPACE, search_alg="random",
                num_trials=6, max_iterations=3, subset_ratio=1.0, seed=3, storage=store)
    hpo = hpopt.create(**args)
    done = []
    for _ in range(3):
        cfg = hpo.get_next_sample()
        for epoch in range(3):
            hpopt.report(cfg, cfg["params"]["x"] + epoch)
        done.append(cfg["params"])
    running = hpo.get_next_sample()
    hpopt.report(running, 0.1)  # mid-training when the notebook cell is re-run
    again = hpopt.create(**args, resume=True)
    with pytest.raises(ControllerBusyError):
        hpo.get_next_sample()  # the newer object took over
    configs = []
    while (cfg := again.get_next_sample()) is not None:
        configs.append((cfg["trial_id"], cfg["attempt"]))
        for epoch in range(3):
            hpopt.report(cfg, cfg["params"]["x"] + epoch)
    assert configs[0] == (running["trial_id"], 1)  # the interrupted trial runs again first
    assert [c[0] for c in configs] == [3, 4, 5] and again.is_finished()
    entries = again.get_current_status()["config_list"]
    assert [e["config"] for e in entries[:3]] == done and all(e["status"] == 2 for e in entries)
