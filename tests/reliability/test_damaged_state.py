"""Damaged state: truncated, empty, non-JSON and wrong-schema status, journal and trial files, a missing
trial or status file, stale locks and temp files left by killed processes.

Each gives a StateFileError (a ValueError) that names the file and says what to do, or the recovery that
docs/reliability.md documents; never a silent wrong result or a hang.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

import hpopt
from hpopt.errors import StateFileError
from hpopt.state.files import JOURNAL_FILE, temp_path
from hpopt.state.journal import load_status

HERE = Path(__file__).parent


def make(save: Path, resume: bool = False, **kw) -> hpopt.run.controller.Controller:
    args = dict(full_dataset_size=100, num_full_iterations=4, save_path=str(save), search_alg="random",
                search_space={"x": hpopt.search_space("uniform", [0, 1])}, num_trials=6, max_iterations=2,
                subset_ratio=1.0, seed=4)
    args.update(kw)
    return hpopt.create(**args, resume=resume)


def half_run(save: Path) -> list[dict]:
    """A run left behind with 2 trials finished, 1 half-way and 1 just issued; returns their configs."""
    hpo = make(save)
    cfgs = [hpo.get_next_sample() for _ in range(4)]
    for cfg in cfgs[:2]:
        hpopt.report(cfg, cfg["params"]["x"])
        hpopt.report(cfg, cfg["params"]["x"])
    hpopt.report(cfgs[2], 0.5)
    hpo.get_current_status()  # collects the two finished trials
    hpo.close()
    return cfgs


STATUS = "hpopt_status.json"


def _replace(old: bytes, new: bytes):
    def damage(raw: bytes) -> bytes:
        assert old in raw, (old, raw[:300])
        return raw.replace(old, new, 1)

    return damage


def _truncate(raw: bytes) -> bytes:
    return raw[: len(raw) // 2]


def _schema(change):
    def damage(raw: bytes) -> bytes:
        doc = json.loads(raw)
        change(doc)
        return json.dumps(doc).encode()

    return damage


def _set(path: tuple, value):
    def change(doc):
        target = doc
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value

    return change


def _drop(path: tuple):
    def change(doc):
        target = doc
        for key in path[:-1]:
            target = target[key]
        del target[path[-1]]

    return change


STATUS_DAMAGE = {
    "truncated": _truncate,
    "empty": lambda raw: b"",
    "spaces only": lambda raw: b"  \n",
    "not JSON": lambda raw: b"\x00\x13garbage\xff",
    "not UTF-8": lambda raw: raw.replace(b"{", b"{\xff", 1),
    "a JSON list": lambda raw: b"[1, 2, 3]",
    "a JSON number": lambda raw: b"42",
    "no config_list": _schema(_drop(("config_list",))),
    "no search_space": _schema(_drop(("search_space",))),
    "config_list a dict": _schema(_set(("config_list",), {"0": 1})),
    "entry not a dict": _schema(_set(("config_list", 0), "trial")),
    "entry without config": _schema(_drop(("config_list", 0, "config"))),
    "entry without trial_id": _schema(_drop(("config_list", 1, "trial_id"))),
    "entry with another trial_id": _schema(_set(("config_list", 1, "trial_id"), 7)),
    "entry with an unknown status": _schema(_set(("config_list", 0, "status"), 42)),
    "entry with a text status": _schema(_set(("config_list", 0, "status"), "done")),
    "entry with a text score": _schema(_set(("config_list", 0, "score"), "0.9")),
    "entry with a text attempt": _schema(_set(("config_list", 2, "attempt"), "one")),
    "config not a dict": _schema(_set(("config_list", 0, "config"), [0.5])),
    "search_space damaged": _schema(_set(("search_space", "x"), {"type": "uniform", "range": "0-1"})),
    "num_trials a text": _schema(_set(("num_trials",), "six")),
    "journal_seq a text": _schema(_set(("journal_seq",), "x")),
    "seed a list": _schema(_set(("seed",), [1])),
    # issue 20: values the checks let through, each of which failed later with a bare error
    "entry with the status CUDAOOM": _schema(_set(("config_list", 0, "status"), 3)),
    "entry with the status NORESULT": _schema(_set(("config_list", 0, "status"), 4)),
    "entry with the status UNKNOWN": _schema(_set(("config_list", 0, "status"), -1)),
    "entry with an empty config": _schema(_set(("config_list", 0, "config"), {})),
    "entry with a score too big for a float": _replace(b'"score": null', b'"score": 1' + b"0" * 400),
    "a float literal out of range": _replace(b'"subset_ratio": 1.0', b'"subset_ratio": 1e999'),
    "an int literal out of range": _replace(b'"max_iterations": 2', b'"max_iterations": 1' + b"0" * 400),
    "deeply nested": _replace(b'"metric"', b'"x": ' + b"[" * 100_000 + b"]" * 100_000 + b', "metric"'),
    "seed -1": _schema(_set(("seed",), -1)),
    "epoch_budget a text": _schema(_set(("epoch_budget",), "x")),
}


@pytest.mark.parametrize("damage", list(STATUS_DAMAGE), ids=list(STATUS_DAMAGE))
def test_damaged_status_file_is_named_on_resume(tmp_path, damage):
    save = tmp_path / "run"
    half_run(save)
    path = save / STATUS
    damaged = STATUS_DAMAGE[damage](path.read_bytes())
    path.write_bytes(damaged)
    with pytest.raises(StateFileError) as err:
        make(save, resume=True)
    message = str(err.value)
    assert str(path) in message and ("restore" in message or "delete" in message), message
    with pytest.raises(StateFileError, match=STATUS):
        load_status(str(save))  # `hpopt status` reads it the same way
    # The way out the message offers: resume=False keeps the damaged run aside and starts afresh.
    make(save).close()
    archived = next((save / "archive").iterdir())
    assert (archived / STATUS).read_bytes() == damaged


JOURNAL_DAMAGE = {
    "middle line not JSON": lambda lines: [lines[0], b"{not json", *lines[1:]],
    "record without seq": lambda lines: [lines[0], b'{"fields": {}}', *lines[1:]],
    "seq a text": lambda lines: [lines[0], b'{"seq": "x", "fields": {}}', *lines[1:]],
    "record a list": lambda lines: [lines[0], b"[1]", *lines[1:]],
    "trial entry without trial_id": lambda lines: [lines[0], b'{"seq": 9999, "trial": {"config": {}}}', *lines[1:]],
    "trial entry not a dict": lambda lines: [lines[0], b'{"seq": 9999, "trial": 3}', *lines[1:]],
    "trial id beyond the list": lambda lines: [lines[0], b'{"seq": 9999, "trial": {"trial_id": 50, "config": {}, '
                                               b'"status": 2}}', *lines[1:]],
    "fields not a dict": lambda lines: [lines[0], b'{"seq": 9999, "fields": [1]}', *lines[1:]],
}


@pytest.mark.parametrize("damage", list(JOURNAL_DAMAGE), ids=list(JOURNAL_DAMAGE))
def test_damaged_journal_is_named_on_resume(tmp_path, damage):
    save = tmp_path / "run"
    hpo = make(save)
    for _ in range(3):
        hpopt.report(hpo.get_next_sample(), 0.1)
    journal = save / JOURNAL_FILE
    lines = [line for line in journal.read_bytes().split(b"\n") if line]
    assert len(lines) >= 2
    hpo.store.close_controller(hpo)  # as if the controller were killed: no final checkpoint
    journal.write_bytes(b"\n".join(JOURNAL_DAMAGE[damage](lines)) + b"\n")
    with pytest.raises(StateFileError) as err:
        make(save, resume=True)
    assert str(journal) in str(err.value) and "delete the journal" in str(err.value), str(err.value)


TRIAL_DAMAGE = {
    "truncated": _truncate,
    "empty": lambda raw: b"",
    "not JSON": lambda raw: b"\x00garbage",
    "a JSON list": lambda raw: b"[]",
    "no status": _schema(_drop(("status",))),
    "no scores": _schema(_drop(("scores",))),
    "scores a text": _schema(_set(("scores",), "0.9")),
    "scores with a text": _schema(_set(("scores",), [0.5, "high"])),
    "scores with a list": _schema(_set(("scores",), [[0.5]])),
    "scores with a bool": _schema(_set(("scores",), [True])),
    "scores with NaN": lambda raw: raw.replace(b'"scores":[', b'"scores":[NaN,'),
    "scores with Infinity": lambda raw: raw.replace(b'"scores":[', b'"scores":[-Infinity,'),
    "status unknown": _schema(_set(("status",), 17)),
    "status a text": _schema(_set(("status",), "running")),
    "status a float": _schema(_set(("status",), 1.5)),
    "attempt a text": _schema(_set(("attempt",), "first")),
    "previous_attempts a text": _schema(_set(("previous_attempts",), "none")),
    "scores with an int too big for a float": lambda raw: _schema(_set(("scores",), ["HUGE"]))(raw).replace(
        b'"HUGE"', b"1" + b"0" * 400),
}


@pytest.mark.parametrize("damage", list(TRIAL_DAMAGE), ids=list(TRIAL_DAMAGE))
def test_damaged_trial_file_of_a_running_trial(tmp_path, damage):
    """While the run is live: report() and the controller both name the file. On resume: documented
    recovery, the trial runs again and the damaged file is kept aside as ``.damaged``."""
    save = tmp_path / "run"
    hpo = make(save)
    cfg = hpo.get_next_sample()
    hpopt.report(cfg, 0.25)
    path = Path(cfg["file_path"])
    damaged = TRIAL_DAMAGE[damage](path.read_bytes())
    path.write_bytes(damaged)
    with pytest.raises(StateFileError) as err:
        hpopt.report(cfg, 0.5)
    assert str(path) in str(err.value)
    with pytest.raises(StateFileError) as err:
        hpo.get_next_sample()
    assert str(path) in str(err.value) and ("delete" in str(err.value) or "restore" in str(err.value))
    hpo.store.close_controller(hpo)
    hpo = make(save, resume=True)
    again = hpo.get_next_sample()
    assert again["trial_id"] == cfg["trial_id"] and again["attempt"] == cfg["attempt"] + 1
    assert Path(str(path) + ".damaged").read_bytes() == damaged
    hpopt.report(again, 0.75)
    assert hpopt.load_json(str(path))["scores"] == [0.75]


def _make_folder(path: Path) -> None:
    path.unlink(missing_ok=True)
    path.mkdir()
    (path / "x").write_text("a user's file")


def _huge_score_line(path: Path) -> None:
    """Not the last line: a damaged last line is an append cut off by a crash, and dropped."""
    with path.open("ab") as f:
        f.write(b'{"a":0,"n":2,"s":1' + b"0" * 400 + b',"t":1.0}\n{"a":0,"n":3,"s":0.5,"t":2.0}\n')


RUNNING_TRIAL_FILE_DAMAGE = {
    "trial file a folder": (".json", _make_folder),
    "report log a folder": (".jsonl", _make_folder),
    "report log with a score too big for a float": (".jsonl", _huge_score_line),
}


@pytest.mark.parametrize("damage", list(RUNNING_TRIAL_FILE_DAMAGE))
def test_running_trial_file_that_is_a_folder_or_holds_a_huge_int(tmp_path, damage):
    """The trial's .json or its report log is a folder, or the log holds an int no float can hold: named
    by report() and the controller while the run is live (not IsADirectoryError or OverflowError); on
    resume the documented recovery: the trial runs again, what was there is kept aside as ``.damaged``."""
    suffix, damage_it = RUNNING_TRIAL_FILE_DAMAGE[damage]
    save = tmp_path / "run"
    hpo = make(save)
    cfg = hpo.get_next_sample()
    hpopt.report(cfg, 0.25)
    path = Path(cfg["file_path"][: -len(".json")] + suffix)
    damage_it(path)
    with pytest.raises(StateFileError) as err:
        hpopt.report(cfg, 0.5)
    assert str(path) in str(err.value), str(err.value)
    with pytest.raises(StateFileError) as err:
        hpo.get_next_sample()
    assert str(path) in str(err.value) and ("delete" in str(err.value) or "restore" in str(err.value))
    hpo.store.close_controller(hpo)
    hpo = make(save, resume=True)
    again = hpo.get_next_sample()
    assert again["trial_id"] == cfg["trial_id"] and again["attempt"] == cfg["attempt"] + 1
    assert Path(str(path) + ".damaged").exists()
    if damage_it is _make_folder:
        assert (Path(str(path) + ".damaged") / "x").exists()
    hpopt.report(again, 0.75)
    assert hpopt.load_json(cfg["file_path"])["scores"] == [0.75]
    hpo.close()


def test_missing_trial_file_of_a_running_trial_reissues_it(tmp_path, caplog):
    """Deleted while the run is live: the controller runs the trial again rather than waiting forever."""
    hpo = make(tmp_path / "run", num_trials=2)
    cfg = hpo.get_next_sample()
    hpopt.report(cfg, 0.5)
    os.remove(cfg["file_path"])
    with pytest.raises(FileNotFoundError, match=os.path.basename(cfg["file_path"])):
        hpopt.report(cfg, 0.6)
    with caplog.at_level(logging.WARNING, logger="hpopt"):
        again = hpo.get_next_sample()
    assert again["trial_id"] == cfg["trial_id"] and again["attempt"] == 1
    assert "disappeared" in caplog.text
    assert hpopt.report(cfg, 0.7) == hpopt.Status.STOP  # the old attempt's trainer is told to stop
    hpopt.report(again, 0.1)
    hpopt.report(again, 0.2)
    last = hpo.get_next_sample()
    hpopt.report(last, 0.3)
    hpopt.report(last, 0.4)
    assert hpo.is_finished()
    assert [e["status"] for e in hpo.get_current_status()["config_list"]] == [hpopt.Status.STOP] * 2


def test_missing_trial_file_of_a_finished_trial_keeps_its_result(tmp_path):
    save = tmp_path / "run"
    cfgs = half_run(save)
    os.remove(cfgs[0]["file_path"])
    hpo = make(save, resume=True)
    entry = hpo.get_current_status()["config_list"][0]
    assert entry["status"] == hpopt.Status.STOP and entry["score"] == cfgs[0]["params"]["x"]


def test_missing_status_file_with_trials_left_is_an_error_on_resume(tmp_path):
    save = tmp_path / "run"
    half_run(save)
    os.remove(save / STATUS)
    with pytest.raises(StateFileError, match="resume=False") as err:
        make(save, resume=True)
    assert STATUS in str(err.value)
    make(save).close()  # resume=False moves the trial files aside
    assert (next((save / "archive").iterdir()) / "hpopt_trial_0.json").exists()


LOCK_HOLDER = """
import sys, time, hpopt
from hpopt.state.locks import ControllerLock, file_lock, trial_lock
save = sys.argv[1]
ControllerLock(save).acquire(object())
locks = [trial_lock(save, 0), trial_lock(save, 1), file_lock(save, "asha_bracket_0_rung_1")]
for lock in locks:
    lock.__enter__()
print("held", flush=True)
time.sleep(600)
"""


def test_locks_of_a_killed_process_are_not_stale(tmp_path):
    """A controller killed while it held its own lock and trainers' locks: the next run starts at once."""
    save = tmp_path / "run"
    cfgs = half_run(save)
    env = dict(os.environ, PYTHONPATH=str(HERE.parent.parent))
    proc = subprocess.Popen([sys.executable, "-c", LOCK_HOLDER, str(save)], env=env, stdout=subprocess.PIPE,
                            text=True)
    assert proc.stdout.readline().strip() == "held"
    with pytest.raises(RuntimeError, match=f"pid {proc.pid}"):
        make(save, resume=True)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert (save / ".locks" / "controller.pid").read_text() == str(proc.pid)  # a dead pid: harmless
    hpo = make(save, resume=True)
    assert hpopt.report(cfgs[2], 0.1) == hpopt.Status.STOP  # re-issued on resume: the old config stops
    again = hpo.get_next_sample()
    assert hpopt.report(again, 0.4) == hpopt.Status.RUNNING


def test_temp_files_of_killed_writers_are_removed_at_create(tmp_path):
    save = tmp_path / "run"
    half_run(save)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    pid = int(dead.stdout)
    left = Path(temp_path(str(save / "hpopt_trial_1.json")).replace(f"~{os.getpid()}~", f"~{pid}~"))
    live = Path(temp_path(str(save / "hpopt_trial_2.json")))  # a writer of this process, still running
    other_host = save / ".hpopt_trial_3.json~elsewhere~1~1.tmp"
    for p in (left, live, other_host):
        p.write_text("{}")
    make(save, resume=True).close()
    assert not left.exists() and live.exists() and other_host.exists()


def test_rung_record_left_empty_by_a_killed_writer_is_an_empty_record(tmp_path):
    """ASHA creates a rung record, then writes it: a trainer killed in between leaves an empty file, which
    must not make every later report at that rung fail."""
    from hpopt.state.file_summaries import summary_path

    hpo = make(tmp_path / "run", search_alg="asha", num_trials=8, max_iterations=4, min_iterations=1,
               reduction_factor=2, num_brackets=1)
    cfg = hpo.get_next_sample()
    path = Path(summary_path(hpo.save_path, "asha", "bracket_0_rung_1"))
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(b"")
    assert hpopt.report(cfg, 0.5) == hpopt.Status.RUNNING
    assert path.stat().st_size > 0


def test_hpopt_status_does_not_rank_a_damaged_trial_file(tmp_path):
    """`hpopt status` reads live runs without locks: a trial file with text scores shows no score rather
    than a best score made of characters."""
    from hpopt.views.run_status import run_status

    save = tmp_path / "run"
    cfgs = half_run(save)
    path = Path(cfgs[2]["file_path"])
    path.write_text(json.dumps({"status": 1, "scores": "99", "attempt": 0}))
    view = run_status(str(save))
    assert view["trials"][2]["score"] is None
    assert view["best"]["trial_id"] in (0, 1)


def test_locks_folder_deleted_while_trainers_report(tmp_path):
    """Someone cleans up the hidden .locks folder mid-run: reports go on (the folder is made again)."""
    import shutil

    hpo = make(tmp_path / "run")
    cfg = hpo.get_next_sample()
    shutil.rmtree(tmp_path / "run" / ".locks")
    assert hpopt.report(cfg, 0.5) == hpopt.Status.RUNNING
    assert (tmp_path / "run" / ".locks").is_dir()
