"""Permissions and paths: every state file hpopt writes is 0600 and every folder it creates 0700, whatever
the umask; a save_path with spaces and non-ASCII characters works end to end (trainers in other
processes, resume, `hpopt status`)."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from workloads import run_loop, space

import hpopt
from hpopt.views.run_status import run_status

HERE = Path(__file__).parent


def _modes(root: Path) -> dict[str, int]:
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            out[str(path.relative_to(root))] = stat.S_IMODE(path.lstat().st_mode)
    return out


def _run_everything(save: Path) -> None:
    """Touch every kind of state: median stop, ASHA rungs, OOM, archive, journal, checkpoint, locks."""
    common = dict(full_dataset_size=1000, num_full_iterations=8, search_space=space(), save_path=str(save),
                  batch_size_name="bs", seed=1)
    hpo = hpopt.create(**common, search_alg="random", early_stop="median_stop", num_trials=4, max_iterations=3,
                       subset_ratio=0.5)
    run_loop(hpo, oom=True)
    hpo.close()
    hpo = hpopt.create(**common, search_alg="asha", num_trials=6, max_iterations=4, min_iterations=1)
    run_loop(hpo, oom=True)
    hpo.get_best_config()
    hpo.close()


@pytest.mark.parametrize("umask", [0o000, 0o022, 0o077, 0o277])
def test_state_files_are_0600_and_folders_0700_whatever_the_umask(tmp_path, umask):
    save = tmp_path / "run"
    old = os.umask(umask)
    try:
        _run_everything(save)
    finally:
        os.umask(old)
    modes = _modes(save)
    kinds = {name.split(os.sep)[0] for name in modes}
    assert {"hpopt_status.json", "hpopt_journal.jsonl", "hpopt_asha", ".locks", "archive"} <= kinds, kinds
    assert stat.S_IMODE(save.stat().st_mode) == 0o700
    wrong = {name: oct(mode) for name, mode in modes.items()
             if mode != (0o700 if (save / name).is_dir() else 0o600)}
    assert not wrong, wrong


def test_an_existing_save_path_keeps_its_mode(tmp_path):
    """A folder the user made is theirs: hpopt does not change its mode (only what it creates inside)."""
    save = tmp_path / "mine"
    save.mkdir(mode=0o750)
    save.chmod(0o750)
    hpopt.create(full_dataset_size=10, num_full_iterations=1, search_space=space(), save_path=str(save),
                 search_alg="random", num_trials=1, max_iterations=1, subset_ratio=1.0).close()
    assert stat.S_IMODE(save.stat().st_mode) == 0o750
    assert stat.S_IMODE((save / ".locks").stat().st_mode) == 0o700


TRAINER = """
import json, sys, hpopt
for line in sys.stdin:
    cfg = json.loads(line)
    for epoch in range(cfg["iterations"]):
        if hpopt.report(cfg, cfg["params"]["x"] + epoch) == hpopt.Status.STOP:
            break
    print(cfg["trial_id"], flush=True)
"""


@pytest.mark.parametrize("alg", ["bayes_opt", "asha"])
def test_save_path_with_spaces_and_non_ascii(tmp_path, alg):
    import json

    save = tmp_path / "my runs" / "expérience 試験 #1 (ünï)"
    kw = dict(full_dataset_size=1000, num_full_iterations=8, search_space=space(), save_path=str(save),
              search_alg=alg, num_trials=6, max_iterations=3, subset_ratio=0.5, seed=5)
    hpo = hpopt.create(**kw)
    env = dict(os.environ, PYTHONPATH=str(HERE.parent.parent))
    trainer = subprocess.Popen([sys.executable, "-c", TRAINER], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               text=True, env=env)
    for _ in range(3):
        cfg = hpo.get_next_sample()
        assert str(save) in cfg["file_path"]
        trainer.stdin.write(json.dumps(cfg) + "\n")
        trainer.stdin.flush()
        assert int(trainer.stdout.readline()) == cfg["trial_id"]
    hpo.close()
    hpo = hpopt.create(**kw, resume=True)
    while (cfg := hpo.get_next_sample()) is not None:
        trainer.stdin.write(json.dumps(cfg) + "\n")
        trainer.stdin.flush()
        trainer.stdout.readline()
    trainer.stdin.close()
    assert trainer.wait() == 0
    assert hpo.is_finished() and hpo.get_best_config() is not None
    view = run_status(str(save))
    assert len(view["trials"]) == len(hpo.get_current_status()["config_list"])


COMMAND_TRAINER = """
import hpopt
from hpopt.adapters.local import load_train_config
cfg = load_train_config()
for epoch in range(cfg["iterations"]):
    if hpopt.report(cfg, cfg["params"]["x"] + epoch) == hpopt.Status.STOP:
        break
"""


@pytest.mark.parametrize("umask", [0o000, 0o277])
def test_local_adapter_folders_are_0700_and_their_files_0600_whatever_the_umask(tmp_path, umask):
    """logs/, configs/, artifacts/ (and the archive of an earlier run's) are the run's private folders like
    the state files: the trial's train_config names its file_path, and a log may hold secrets."""
    from hpopt.adapters.local import run_local

    script = tmp_path / "train.py"
    script.write_text(COMMAND_TRAINER)
    save = tmp_path / "run"
    kw = dict(full_dataset_size=1000, num_full_iterations=4, search_space=space(), save_path=str(save),
              search_alg="random", num_trials=3, max_iterations=2, subset_ratio=1.0, seed=2)
    old = os.umask(umask)
    try:
        for _ in range(2):  # the second run (resume=False) moves the first one's folders to archive/
            hpo = hpopt.create(**kw)
            summary = run_local(hpo, [str(script)], n_parallel=2, resources="cpu", keep_top_k=None,
                                progress=False)
            hpo.close()
            assert summary.trials_done == 3
    finally:
        os.umask(old)
    modes = _modes(save)
    for folder in ("logs", "configs", "artifacts"):
        assert any(name.startswith(folder + os.sep) for name in modes), (folder, sorted(modes))
        assert any(name.startswith("archive") and (os.sep + folder + os.sep) in name for name in modes)
    wrong = {name: oct(mode) for name, mode in modes.items()
             if mode != (0o700 if (save / name).is_dir() else 0o600)}
    assert not wrong, wrong
