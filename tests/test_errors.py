"""One exception hierarchy: hpopt's own errors share a base and keep the built-in class they always had."""

from __future__ import annotations

import pytest

import hpopt
from hpopt import errors
from hpopt.adapters.run_loop import RunInterrupted, TrialFailedError
from hpopt.experiment import ExperimentError


@pytest.mark.parametrize("cls,builtin", [
    (errors.StateFileError, ValueError),
    (errors.TrialFileMissingError, FileNotFoundError),
    (errors.TrialFileMissingError, ValueError),
    (errors.ControllerBusyError, RuntimeError),
    (errors.SearchSpaceExhaustedError, RuntimeError),
    (errors.UnknownChannelError, ValueError),
    (ExperimentError, ValueError),
    (TrialFailedError, RuntimeError),
])
def test_each_error_is_an_hpopt_error_and_its_old_builtin(cls, builtin):
    assert issubclass(cls, hpopt.HpoptError) and issubclass(cls, builtin)


def test_an_interrupted_run_is_not_an_exception_user_code_would_swallow():
    assert issubclass(RunInterrupted, KeyboardInterrupt) and not issubclass(RunInterrupted, Exception)


def test_a_damaged_state_file_raises_the_public_class(tmp_path):
    (tmp_path / "hpopt_status.json").write_text("{not json")
    with pytest.raises(hpopt.StateFileError, match="hpopt_status.json"):
        hpopt.create(full_dataset_size=10, num_full_iterations=2, search_space={
            "x": hpopt.search_space("uniform", [0, 1])}, save_path=str(tmp_path), search_alg="random",
            num_trials=2, max_iterations=2, subset_ratio=1.0, resume=True)


def test_an_exhausted_batch_size_is_a_search_space_exhausted_error(tmp_path):
    hpo = hpopt.create(full_dataset_size=10, num_full_iterations=2, search_space={
        "bs": hpopt.search_space("quniform", [8, 16, 8])}, save_path=str(tmp_path), search_alg="random",
        num_trials=4, max_iterations=2, subset_ratio=1.0, batch_size_name="bs", seed=0)
    with pytest.raises(errors.SearchSpaceExhaustedError, match="does not fit in GPU memory"):
        for _ in range(4):
            hpopt.reportOOM(hpo.get_next_sample())
