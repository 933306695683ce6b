"""Disk trouble: the disk fills up during a write, and a read-only save_path.

ENOSPC is simulated in-process (os.write, os.pwrite and os.fsync fail once a byte budget is spent, after
writing what fits, as a full disk does), so it runs everywhere; where the tests run as root, a real
64 KiB tmpfs is filled up as well. A full disk gives an OSError (errno ENOSPC) that names the file, the
previous state stays intact, and the run goes on once space is freed.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

import hpopt
from hpopt.state.journal import load_status


class Disk:
    """Bytes left on the simulated disk (None: unlimited)."""

    def __init__(self) -> None:
        self.left: int | None = None


@contextlib.contextmanager
def simulated_disk(monkeypatch: pytest.MonkeyPatch) -> Iterator[Disk]:
    disk = Disk()
    real_write, real_pwrite, real_fsync = os.write, os.pwrite, os.fsync

    def write(fd, data, *offset):
        if disk.left is not None:
            data = memoryview(data)
            if disk.left < len(data):
                if disk.left > 0:  # a full disk takes what fits, then refuses the rest
                    n = (real_pwrite if offset else real_write)(fd, data[: disk.left], *offset)
                    disk.left -= n
                    return n
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            disk.left -= len(data)
        return (real_pwrite if offset else real_write)(fd, data, *offset)

    def fsync(fd):
        if disk.left == 0:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_fsync(fd)

    monkeypatch.setattr(os, "write", lambda fd, data: write(fd, data))
    monkeypatch.setattr(os, "pwrite", lambda fd, data, offset: write(fd, data, offset))
    monkeypatch.setattr(os, "fsync", fsync)
    try:
        yield disk
    finally:
        disk.left = None


def make(save, resume=False, alg="random", **kw):
    args = dict(full_dataset_size=100, num_full_iterations=4, save_path=str(save), search_alg=alg,
                search_space={"x": hpopt.search_space("uniform", [0, 1]),
                              "bs": hpopt.search_space("quniform", [8, 64, 8])},
                num_trials=8, max_iterations=3, subset_ratio=1.0, seed=2, batch_size_name="bs")
    args.update(kw)
    return hpopt.create(**args, resume=resume)


def snapshot(save: Path) -> dict[str, bytes]:
    return {str(p.relative_to(save)): p.read_bytes() for p in sorted(save.rglob("*"))
            if p.is_file() and ".locks" not in p.parts}


def assert_enospc(err: pytest.ExceptionInfo, name: str) -> None:
    assert err.value.errno == errno.ENOSPC
    assert name in str(err.value) and "No space left" in str(err.value), str(err.value)


# A report's line is 38-42 bytes ({"a":0,"n":2,"s":0.2,"t":...}: the time's last decimals may be zeros and
# are then not written), so every budget here ends inside it; 40 let a line ending in "00" fit (1 run in 100).
@pytest.mark.parametrize("left", [0, 1, 7, 30])
def test_report_on_a_full_disk_keeps_the_trial_file(tmp_path, monkeypatch, left):
    hpo = make(tmp_path / "run")
    cfg = hpo.get_next_sample()
    hpopt.report(cfg, 0.1)
    before = snapshot(tmp_path / "run")
    with simulated_disk(monkeypatch) as disk:
        disk.left = left
        with pytest.raises(OSError) as err:
            hpopt.report(cfg, 0.2)
        assert_enospc(err, os.path.basename(cfg["file_path"]))
        assert snapshot(tmp_path / "run") == before  # nothing half-written, no temp file left
        disk.left = None
        assert hpopt.report(cfg, 0.3) == hpopt.Status.RUNNING
    assert hpopt.load_json(cfg["file_path"])["scores"] == [0.1, 0.3]


@pytest.mark.parametrize("left", [0, 5, 30, 200])
def test_issue_on_a_full_disk_then_resume(tmp_path, monkeypatch, left):
    """get_next_sample() cut off by a full disk: an error, and the run neither skips nor repeats a trial id,
    now or after a resume (a half-written journal line must not damage the journal)."""
    save = tmp_path / "run"
    hpo = make(save)
    first = hpo.get_next_sample()
    with simulated_disk(monkeypatch) as disk:
        disk.left = left
        with pytest.raises(OSError) as err:
            hpo.get_next_sample()
        assert err.value.errno == errno.ENOSPC and str(save) in str(err.value)
        disk.left = None
        second = hpo.get_next_sample()
    assert (first["trial_id"], second["trial_id"]) == (0, 1)
    hpopt.report(second, 0.5)
    # The controller dies here (no final checkpoint); resume reads the journal.
    hpo.store.close_controller(hpo)
    state = load_status(str(save))
    assert [e["trial_id"] for e in state["config_list"]] == [0, 1]
    hpo = make(save, resume=True)
    again = {hpo.get_next_sample()["trial_id"] for _ in range(3)}
    assert again == {0, 1, 2}


def test_checkpoint_on_a_full_disk_keeps_the_status_file(tmp_path, monkeypatch):
    save = tmp_path / "run"
    hpo = make(save)
    cfg = hpo.get_next_sample()
    for s in (0.1, 0.2, 0.3):
        hpopt.report(cfg, s)
    status_before = (save / "hpopt_status.json").read_bytes()
    with simulated_disk(monkeypatch) as disk:
        disk.left = 100
        with pytest.raises(OSError) as err:
            hpo.get_best_config()  # writes a checkpoint
        assert err.value.errno == errno.ENOSPC
        assert (save / "hpopt_status.json").read_bytes() == status_before
        disk.left = None
        assert hpo.get_best_config() == cfg["params"]
    assert load_status(str(save))["best_config_id"] == 0


@pytest.mark.parametrize("alg", ["random", "bayes_opt", "asha"])
def test_create_on_a_full_disk_is_an_error_and_a_retry_works(tmp_path, monkeypatch, alg):
    save = tmp_path / "run"
    with simulated_disk(monkeypatch) as disk:
        disk.left = 50
        with pytest.raises(OSError) as err:
            make(save, alg=alg)
        assert err.value.errno == errno.ENOSPC
        disk.left = None
        hpo = make(save, alg=alg, resume=True)
    cfg = hpo.get_next_sample()
    assert cfg["trial_id"] == 0


def test_report_oom_on_a_full_disk(tmp_path, monkeypatch):
    hpo = make(tmp_path / "run", default_hyper_parameters={"x": 0.5, "bs": 32})
    cfg = hpo.get_next_sample()
    before = Path(cfg["file_path"]).read_bytes()
    with simulated_disk(monkeypatch) as disk:
        disk.left = 0
        with pytest.raises(OSError) as err:
            hpopt.reportOOM(cfg)
        assert_enospc(err, os.path.basename(cfg["file_path"]))
    assert Path(cfg["file_path"]).read_bytes() == before
    hpopt.reportOOM(cfg)
    assert hpo.get_next_sample()["attempt"] == 1


def _tmpfs(path: Path, size: str) -> bool:
    """Mount a tmpfs of ``size`` at ``path`` (root only); False where that is not possible."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        return False
    path.mkdir()
    return subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(path)],
                          capture_output=True).returncode == 0


@pytest.fixture
def small_disk(tmp_path):
    mnt = tmp_path / "disk"
    if not _tmpfs(mnt, "64k"):
        pytest.skip("needs root to mount a small tmpfs")
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)], check=False)


def test_real_full_disk(small_disk):
    """A real 64 KiB tmpfs, filled up while trials report: the error names the file, nothing is torn,
    and the run completes once space is freed."""
    save = small_disk / "run"
    hpo = make(save, num_trials=200, max_iterations=30)
    filler = small_disk / "filler"
    cfg = hpo.get_next_sample()
    hpopt.report(cfg, 0.5)
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    with contextlib.suppress(OSError):  # take all the space that is left
        while True:
            os.write(fd, b"\0" * 512)
    os.close(fd)
    before = snapshot(save)
    with pytest.raises(OSError) as err:
        for i in range(30):
            hpopt.report(cfg, 0.5 + i)
    assert err.value.errno == errno.ENOSPC
    after = snapshot(save)
    for name in after:  # what was written before the error is whole
        if name.startswith("hpopt_trial_") and name.endswith(".json"):
            hpopt.load_json(str(save / name))  # with its report log (.jsonl): every line whole
    assert after.keys() == before.keys()
    filler.unlink()
    while (c := hpo.get_next_sample()) is not None and c["trial_id"] < 3:
        for s in range(c["iterations"]):
            if hpopt.report(c, float(s)) == hpopt.Status.STOP:
                break
    assert hpo.get_best_score() is not None


READ_ONLY_CASES = ["existing folder", "inside a read-only folder", "existing run, resume"]


@pytest.mark.parametrize("case", READ_ONLY_CASES)
def test_read_only_save_path_is_refused_at_create(tmp_path, case):
    parent = tmp_path / "ro"
    parent.mkdir()
    save = parent / "run"
    if case != "inside a read-only folder":
        save.mkdir()
    if case == "existing run, resume":
        make(save).close()
    if os.geteuid() == 0:
        if subprocess.run(["mount", "--bind", "-o", "ro", str(parent), str(parent)], capture_output=True).returncode:
            pytest.skip("cannot make a read-only bind mount")
    else:
        parent.chmod(0o500)
        if case != "inside a read-only folder":
            save.chmod(0o500)
    try:
        with pytest.raises(OSError) as err:
            make(save, resume=case == "existing run, resume")
        message = str(err.value)
        assert str(save) in message and ("not writable" in message or "cannot create" in message), message
        assert "choose a writable folder" in message
    finally:
        if os.geteuid() == 0:
            subprocess.run(["umount", str(parent)], check=False)
        else:
            parent.chmod(0o700)
            if save.exists():
                save.chmod(0o700)


@pytest.mark.parametrize("left", [10, 60])
def test_a_rung_record_torn_by_a_full_disk_does_not_break_later_reports(tmp_path, monkeypatch, left):
    """A full disk that takes part of a rung record's rewrite (its header, or part of its means over the old
    ones) empties the record: once space is freed, reports at that rung work again (resume rebuilds it)."""
    hpo = make(tmp_path / "run", alg="asha", num_trials=8, max_iterations=4, min_iterations=1, reduction_factor=2,
               num_brackets=1)
    cfgs = [hpo.get_next_sample() for _ in range(3)]
    assert hpopt.report(cfgs[0], 0.5) == hpopt.Status.RUNNING
    assert hpopt.report(cfgs[1], 0.6) == hpopt.Status.RUNNING
    with simulated_disk(monkeypatch) as disk:
        disk.left = left
        with pytest.raises(OSError) as err:
            hpopt.report(cfgs[2], 0.7)
        assert_enospc(err, "bracket_0_rung_1.bin")
        disk.left = None
    assert hpopt.report(cfgs[2], 0.7) == hpopt.Status.RUNNING  # no "damaged record" error
    assert hpopt.report(cfgs[0], 0.55) == hpopt.Status.RUNNING
    hpo.close()
    again = make(tmp_path / "run", resume=True, alg="asha", num_trials=8, max_iterations=4, min_iterations=1,
                 reduction_factor=2, num_brackets=1)
    from hpopt.state import FileStore

    assert FileStore(again.save_path).read_summary("asha", "bracket_0_rung_1").count == 3  # rebuilt: 3 trials
    again.close()
