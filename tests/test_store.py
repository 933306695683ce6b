"""Atomic files, the journal, damaged state and the amortised checkpoint."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

import hpopt
from hpopt.errors import StateFileError
from hpopt.state.files import atomic_write_json, read_json_dict
from hpopt.state.journal import Journal, load_status


def test_atomic_write_replaces_whole_file_and_is_private(tmp_path):
    path = tmp_path / "f.json"
    atomic_write_json(path, {"a": 1})
    atomic_write_json(path, {"b": [1, 2]})
    assert json.loads(path.read_text()) == {"b": [1, 2]}
    assert os.stat(path).st_mode & 0o777 == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["f.json"]  # no temp file left


@pytest.mark.parametrize("tmpfile", [True, False])
def test_atomic_write_with_and_without_o_tmpfile(tmp_path, monkeypatch, tmpfile):
    import hpopt.state.files as store

    monkeypatch.setattr(store, "_TMPFILE_OK", tmpfile and store._TMPFILE_OK)
    path = tmp_path / "f.json"
    # A temp file left by a killed writer with our pid and thread does not block the next write.
    stale = Path(store.temp_path(str(path)))
    stale.write_text("torn")
    for durable in (True, False):
        atomic_write_json(path, {"durable": durable}, durable=durable, indent=None)
        assert json.loads(path.read_text()) == {"durable": durable}
        assert os.stat(path).st_mode & 0o777 == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["f.json"]


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="zombies are told apart through /proc")
def test_a_killed_writer_not_yet_reaped_leaves_no_temp_file(tmp_path):
    """A trainer killed mid-write whose parent has not waited for it yet is a zombie: signal 0 still reaches
    it, but its temp file is stale and goes; a live writer's stays."""
    import signal
    import subprocess
    import sys
    import time

    import hpopt.state.files as store

    def temp_of(pid: int) -> Path:
        return tmp_path / f".f.json~{store._HOST}~{pid}~1.tmp"

    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    dead = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        os.kill(dead.pid, signal.SIGKILL)  # not waited for: a zombie until the end of the test
        for _ in range(200):
            with open(f"/proc/{dead.pid}/stat", "rb") as f:
                if f.read().rsplit(b")", 1)[1].split()[0] == b"Z":
                    break
            time.sleep(0.01)
        temp_of(live.pid).write_text("in use")
        temp_of(dead.pid).write_text("torn")
        assert store.remove_stale_temp_files(tmp_path) == [temp_of(dead.pid).name]
        assert [p.name for p in tmp_path.iterdir()] == [temp_of(live.pid).name]
    finally:
        live.kill()
        live.wait()
        dead.wait()


def test_atomic_write_refuses_nan_and_keeps_old_file(tmp_path):
    path = tmp_path / "f.json"
    atomic_write_json(path, {"a": 1})
    with pytest.raises(ValueError):
        atomic_write_json(path, {"a": float("nan")})
    assert json.loads(path.read_text()) == {"a": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["f.json"]


@pytest.mark.parametrize("content, word", [(b"", "empty"), (b"{\"status\": 1, ", "not valid JSON"),
                                           (b"[1, 2]", "not a JSON object"), (b"{\"x\": 1}", "lacks the keys")])
def test_damaged_files_name_the_file(tmp_path, content, word):
    path = tmp_path / "hpopt_trial_3.json"
    path.write_bytes(content)
    with pytest.raises(StateFileError, match=word) as err:
        read_json_dict(path, ("status", "scores"))
    assert "hpopt_trial_3.json" in str(err.value)


def test_journal_drops_torn_last_line_but_not_middle_damage(tmp_path):
    j = Journal(tmp_path)
    j.append({"seq": 1, "fields": {"a": 1}})
    j.append({"seq": 2, "fields": {"a": 2}})
    j.close()
    with open(j.path, "ab") as f:
        f.write(b'{"seq": 3, "fie')
    assert [r["seq"] for r in Journal(tmp_path).records()] == [1, 2]
    with open(j.path, "ab") as f:
        f.write(b'\n{"seq": 4}\n')
    with pytest.raises(StateFileError, match="line 3"):
        Journal(tmp_path).records()


def _make(tmp_path, **kw):
    return hpopt.create(full_dataset_size=1000, num_full_iterations=4, save_path=str(tmp_path / "h"),
                        search_space={"x": hpopt.search_space("uniform", [0, 1])}, search_alg="random",
                        max_iterations=1, **kw)


def test_status_is_checkpoint_plus_journal_and_compacts(tmp_path):
    hpo = _make(tmp_path, num_trials=300, seed=1)
    while (cfg := hpo.get_next_sample()) is not None:
        hpopt.report(cfg, cfg["params"]["x"])
    # the journal never grows beyond the trial count (amortised O(1) checkpointing)
    lines = len(Path(os.path.join(hpo.save_path, "hpopt_journal.jsonl")).read_text().splitlines())
    assert lines <= 300
    state = load_status(hpo.save_path)
    assert len(state["config_list"]) == 300
    assert all(e["status"] == hpopt.Status.STOP for e in state["config_list"])
    best = hpo.get_best_config()
    on_disk = hpopt.load_json(hpopt.get_status_path(hpo.save_path))  # checkpoint written by get_best_config
    assert on_disk["config_list"][on_disk["best_config_id"]]["config"] == best
    assert best["x"] == max(e["score"] for e in state["config_list"])


def test_damaged_status_file_on_resume_is_a_clear_error(tmp_path):
    _make(tmp_path, num_trials=2).close()
    path = hpopt.get_status_path(str(tmp_path / "h"))
    with open(path, "w") as f:
        f.write("{not json")
    with pytest.raises(StateFileError, match="hpopt_status.json"):
        _make(tmp_path, num_trials=2, resume=True)


def test_missing_trial_file_of_a_running_trial_is_reissued_on_resume(tmp_path):
    hpo = _make(tmp_path, num_trials=2)
    cfg = hpo.get_next_sample()
    hpo.close()
    os.remove(cfg["file_path"])
    hpo = _make(tmp_path, num_trials=2, resume=True)
    again = hpo.get_next_sample()
    assert again["trial_id"] == 0 and again["attempt"] == 1


def test_read_only_save_path_fails_at_create(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        if os.access(ro, os.W_OK):
            pytest.skip("running as a user that ignores permissions")
        with pytest.raises(PermissionError, match="not writable"):
            _make(tmp_path / "ro", num_trials=1)
    finally:
        ro.chmod(0o700)


def test_load_status_while_the_controller_writes(tmp_path, monkeypatch):
    """A reader (hpopt status) never pairs a checkpoint with a journal that ran ahead of it.

    The controller's work is injected right after the reader has read the checkpoint: it issues enough
    trials to write a new checkpoint, empty the journal and append records past the old trial list.
    """
    import hpopt.state.journal as base

    space = {"x": hpopt.search_space("uniform", [0, 1])}
    hpo = hpopt.create(full_dataset_size=10, num_full_iterations=1, search_space=space, save_path=str(tmp_path),
                       search_alg="random", num_trials=400, max_iterations=1, subset_ratio=1.0, seed=0)
    for _ in range(70):
        hpopt.report(hpo.get_next_sample(), 0.5)
    real_read = base.read_json_dict

    def read_then_controller_works(path, required=(), **kw):
        doc = real_read(path, required, **kw)
        if str(path).endswith("hpopt_status.json"):
            for _ in range(150):  # past the next checkpoint (journal as long as the trial list)
                hpopt.report(hpo.get_next_sample(), 0.5)
        return doc

    monkeypatch.setattr(base, "read_json_dict", read_then_controller_works)
    status = load_status(str(tmp_path))
    monkeypatch.setattr(base, "read_json_dict", real_read)
    entries = status["config_list"]
    assert [e["trial_id"] for e in entries] == list(range(len(entries)))
    assert len(entries) >= 70 and status["journal_seq"] >= 70
    assert len(load_status(str(tmp_path))["config_list"]) == 220
