"""The trainer side finds the channel of a train_config from its file_path, and the core names no adapter."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

import hpopt
from hpopt.errors import HpoptError, UnknownChannelError
from hpopt.state import FileStore, MemoryStore
from hpopt.trainer.channels import channel_for, register_channel
from hpopt.trainer.local import StoreChannel

SPACE = {"x": hpopt.search_space("uniform", [0, 1])}


def test_an_adapter_channel_is_found_through_its_entry_point_without_importing_the_adapter():
    """A trainer script in a SageMaker job gets s3:// configs and never imported hpopt.adapters.s3_trial."""
    code = textwrap.dedent("""
        import sys
        from hpopt.trainer.channels import channel_for
        assert "hpopt.adapters.s3_trial" not in sys.modules
        channel = channel_for({"file_path": "s3://bucket/run/hpopt_trial_1.json"})
        print(channel.__name__)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "hpopt.adapters.s3_trial"


def test_an_unknown_scheme_is_a_clear_error():
    with pytest.raises(UnknownChannelError, match="'gcs'.*no installed hpopt adapter") as err:
        channel_for({"file_path": "gcs://bucket/hpopt_trial_1.json"})
    assert isinstance(err.value, HpoptError) and isinstance(err.value, ValueError)


def test_a_registered_channel_carries_the_reports():
    calls = []

    class Recorder:
        def report(self, config, value):
            calls.append(("report", value))
            return hpopt.Status.RUNNING

        def reportOOM(self, config):  # noqa: N802
            calls.append(("oom", None))

        def finalize_trial(self, config):
            calls.append(("finalize", None))

    register_channel("testrec", Recorder())
    cfg = {"trial_id": 1, "file_path": "testrec://x/hpopt_trial_1.json", "iterations": 3, "mode": "max"}
    assert hpopt.report(cfg, float("nan")) == hpopt.Status.RUNNING
    hpopt.reportOOM(cfg)
    hpopt.finalize_trial(cfg)
    assert calls == [("report", None), ("oom", None), ("finalize", None)]


def test_plain_paths_and_memory_addresses_reach_their_stores(tmp_path):
    channel = channel_for({"file_path": str(tmp_path / "hpopt_trial_0.json")})
    assert isinstance(channel, StoreChannel) and isinstance(channel.store, FileStore)
    hpo = hpopt.create(full_dataset_size=10, num_full_iterations=2, search_space=SPACE, search_alg="random",
                       num_trials=1, max_iterations=2, subset_ratio=1.0, storage="memory")
    cfg = hpo.get_next_sample()
    assert cfg["file_path"].startswith("memory://")
    assert isinstance(channel_for(cfg).store, MemoryStore)
    assert hpopt.report(cfg, 0.5) == hpopt.Status.RUNNING
    assert hpopt.report(cfg, 0.7) == hpopt.Status.STOP
    assert hpo.is_finished() and hpo.get_best_score() == 0.7
    assert not (tmp_path / "hpo").exists()


def test_a_memory_address_of_another_process_is_named():
    cfg = {"trial_id": 0, "file_path": "memory://no-such-store/hpopt_trial_0.json", "iterations": 2, "mode": "max"}
    with pytest.raises(FileNotFoundError, match="memory store that does not exist in this process"):
        hpopt.report(cfg, 0.5)


@pytest.mark.parametrize("key,value", [("attempt", "0"), ("attempt", -1), ("run_id", 7)])
def test_wrong_types_in_a_train_config_are_named(tmp_path, key, value):
    hpo = hpopt.create(full_dataset_size=10, num_full_iterations=2, search_space=SPACE, search_alg="random",
                       num_trials=1, max_iterations=2, subset_ratio=1.0, save_path=str(tmp_path / "hpo"))
    cfg = hpo.get_next_sample()
    with pytest.raises(TypeError, match=f"config\\['{key}'\\]"):
        hpopt.report({**cfg, key: value}, 0.5)
    assert hpopt.report(cfg, 0.5) == hpopt.Status.RUNNING  # nothing was recorded by the bad call
    assert hpopt.load_json(cfg["file_path"])["scores"] == [0.5]


def test_a_config_pointing_outside_a_run_creates_nothing_there(tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    cfg = {"trial_id": 0, "file_path": str(elsewhere / "hpopt_trial_0.json"), "iterations": 2, "mode": "max"}
    with pytest.raises(FileNotFoundError, match="does not exist"):
        hpopt.report(cfg, 0.5)
    assert list(elsewhere.iterdir()) == []
