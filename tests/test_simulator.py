"""The simulator: tables, event order in simulated time, STOP freeing workers, determinism."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import hpopt
from hpopt.adapters.simulator import simulate
from hpopt.adapters.table import Table


def small_table(epochs: int = 9, seeds: int = 2, seconds: float = 10.0) -> Table:
    """A 4 x 3 x 2 grid whose accuracy rises with lr index and units; epoch time grows with units."""
    values = {"lr": [0.0001, 0.001, 0.01, 0.1], "units": [16, 32, 48], "act": ["relu", "tanh"]}
    rows = list(itertools.product(range(4), range(3), range(2)))
    c = len(rows)
    acc = np.zeros((c, seeds, epochs), np.float32)
    loss = np.zeros_like(acc)
    elapsed = np.zeros_like(acc)
    rng = np.random.default_rng(0)
    for i, (lr, units, act) in enumerate(rows):
        level = 0.5 + 0.1 * lr + 0.05 * units + 0.02 * act
        for s in range(seeds):
            curve = level * (1 - 0.5 ** np.arange(1, epochs + 1)) + 0.001 * rng.random(epochs)
            acc[i, s] = curve
            loss[i, s] = 1 - curve
            elapsed[i, s] = seconds * (1 + units) * np.arange(1, epochs + 1)
    return Table(values=values, configs=np.array(rows), val_acc=acc, train_loss=loss, elapsed=elapsed,
                 meta={"data": "synthetic"})


def test_table_round_trip_space_and_lookup(tmp_path):
    table = small_table()
    path = tmp_path / "t.npz"
    table.save(path)
    loaded = Table.load(path)
    assert loaded.values == table.values and loaded.meta == {"data": "synthetic"}
    np.testing.assert_array_equal(loaded.val_acc, table.val_acc)
    space = loaded.search_space()
    assert space["units"].type == "quniform" and space["units"].range == [16, 48, 16]
    assert space["lr"].type == "choice" and space["act"].type == "choice"
    assert loaded.index_of({"lr": 0.01, "units": 32.0, "act": "tanh"}) == (2 * 3 + 1) * 2 + 1
    with pytest.raises(ValueError, match="units=40"):
        loaded.index_of({"lr": 0.01, "units": 40, "act": "tanh"})
    with pytest.raises(ValueError, match="lacks the table's parameter 'act'"):
        loaded.index_of({"lr": 0.01, "units": 32})
    assert loaded.best_score() == pytest.approx(float(table.val_acc[-1, :, -1].mean()))


def _asha(save, table, **kw):
    args = dict(full_dataset_size=1000, num_full_iterations=table.num_epochs, search_space=table.search_space(),
                save_path=str(save), search_alg="asha", num_trials=16, max_iterations=table.num_epochs,
                min_iterations=1, reduction_factor=3, subset_ratio=1.0, seed=1)
    args.update(kw)
    return hpopt.create(**args)


def test_events_in_simulated_time_order_with_workers_of_different_speeds(tmp_path):
    table = small_table()
    hpo = hpopt.create(full_dataset_size=1000, num_full_iterations=3, search_space=table.search_space(),
                       save_path=str(tmp_path), search_alg="random", num_trials=6, max_iterations=3,
                       subset_ratio=1.0, seed=0)
    res = simulate(hpo, table, n_workers=2, worker_speeds=[1.0, 3.0])
    times = [e.time for e in res.trace]
    assert times == sorted(times)
    assert len(res.trace) == 6 * 3 and res.trials == 6 and hpo.is_finished()
    # Each event happens exactly when the table says the epoch ends, scaled by the worker's speed.
    starts: dict[int, float] = {}
    for e in res.trace:
        params = hpo.get_current_status()["config_list"][e.trial_id]["config"]
        row = table.index_of(params)
        if e.epoch == 1:
            starts[e.trial_id] = e.time - float(table.elapsed[row, 0, 0]) * [1.0, 3.0][e.worker]
        seeds = [s for s in range(table.num_seeds)
                 if np.isclose(table.val_acc[row, s, e.epoch - 1], e.score)]
        assert seeds, "the reported score is the table's"
        expected = starts[e.trial_id] + float(table.elapsed[row, seeds[0], e.epoch - 1]) * [1.0, 3.0][e.worker]
        assert e.time == pytest.approx(expected)
    # The slow worker (speed factor 3) finishes fewer trials.
    per_worker = [len({e.trial_id for e in res.trace if e.worker == w}) for w in (0, 1)]
    assert per_worker[0] > per_worker[1]


def test_stop_frees_the_worker_at_that_moment(tmp_path):
    table = small_table()
    hpo = _asha(tmp_path, table)
    res = simulate(hpo, table, n_workers=1)
    assert hpo.is_finished()
    by_trial: dict[int, list] = {}
    for e in res.trace:
        by_trial.setdefault(e.trial_id, []).append(e)
    ids = sorted(by_trial)
    stopped_early = [t for t in ids if len(by_trial[t]) < table.num_epochs]
    assert stopped_early, "ASHA stopped some trials at a rung"
    for prev, nxt in itertools.pairwise(ids):
        last = by_trial[prev][-1]
        first = by_trial[nxt][0]
        row = table.index_of(hpo.get_current_status()["config_list"][nxt]["config"])
        # One worker: the next trial starts the moment the previous one stopped (epoch times do not
        # depend on the seed in this table).
        assert first.time - last.time == pytest.approx(float(table.elapsed[row, 0, 0]))
    assert {len(v) for v in by_trial.values()} <= {1, 3, 9}


def test_same_seed_same_trace_and_max_time(tmp_path):
    table = small_table()
    a = simulate(_asha(tmp_path / "a", table), table, n_workers=3, seed=5)
    b = simulate(_asha(tmp_path / "b", table), table, n_workers=3, seed=5)
    assert a.trace == b.trace and a.best_curve == b.best_curve
    cut = simulate(_asha(tmp_path / "c", table), table, n_workers=3, seed=5, max_time=a.sim_time / 2)
    assert cut.trace == [e for e in a.trace if e.time <= a.sim_time / 2]
    assert cut.best_at(a.sim_time / 2) == a.best_at(a.sim_time / 2)


def test_config_outside_the_table_names_the_parameter(tmp_path):
    table = small_table()
    space = dict(table.search_space())
    space["units"] = hpopt.search_space("quniform", [16, 64, 16])  # 64 is not in the table
    hpo = hpopt.create(full_dataset_size=1000, num_full_iterations=3, search_space=space, save_path=str(tmp_path),
                       search_alg="random", num_trials=40, max_iterations=3, subset_ratio=1.0, seed=0)
    with pytest.raises(ValueError, match="units=64 is not in the table"):
        simulate(hpo, table, n_workers=2)


def test_bad_arguments(tmp_path):
    table = small_table()
    hpo = _asha(tmp_path, table)
    with pytest.raises(ValueError, match="n_workers"):
        simulate(hpo, table, n_workers=0)
    with pytest.raises(ValueError, match="worker_speeds"):
        simulate(hpo, table, n_workers=2, worker_speeds=[1.0])


def test_simulation_runs_through_the_shared_run_loop_and_writes_no_file(tmp_path, monkeypatch):
    from hpopt.adapters import run_loop

    loops = []
    real = run_loop._LocalRun.run
    monkeypatch.setattr(run_loop._LocalRun, "run", lambda self, stop: loops.append(self) or real(self, stop))
    monkeypatch.chdir(tmp_path)
    table = small_table()
    res = simulate(_asha(tmp_path / "run", table, storage="memory"), table, n_workers=3, seed=2)
    assert len(loops) == 1 and type(loops[0].clock).__name__ == "SimulatedClock"
    assert res.summary is not None and res.summary.finished and res.summary.trials_failed == 0
    assert res.summary.trials_done == res.trials == len({e.trial_id for e in res.trace}) > 3
    assert res.summary.elapsed_s == res.sim_time == res.trace[-1].time
    assert list(tmp_path.iterdir()) == [], "a memory-store simulation creates no state, log or artifact file"


def test_trial_timeout_counts_simulated_seconds(tmp_path):
    table = small_table()  # an epoch takes 10, 20 or 30 simulated seconds by units (16, 32, 48)
    hpo = hpopt.create(full_dataset_size=1000, num_full_iterations=3, search_space=table.search_space(),
                       save_path=str(tmp_path), search_alg="random", num_trials=12, max_iterations=3,
                       subset_ratio=1.0, seed=0, storage="memory")
    res = simulate(hpo, table, n_workers=2, timeout=50.0)
    entries = hpo.get_current_status()["config_list"]
    units = {e["trial_id"]: e["config"]["units"] for e in entries}
    reported = {tid: [ev for ev in res.trace if ev.trial_id == tid] for tid in units}
    done = [tid for tid in units if len(reported[tid]) == 3]
    cut = [tid for tid in units if len(reported[tid]) < 3]
    assert done and cut and hpo.is_finished()
    assert all(units[t] == 16 for t in done), "30 s trials end within the 50 s timeout"
    assert all(units[t] in (32, 48) for t in cut), "60 and 90 s trials are stopped by it"
    assert res.summary is not None and res.summary.trials_done + res.summary.trials_failed == 12
    for tid in cut:
        assert "timed out after 50 s" in str(entries[tid].get("error", ""))


def test_simulated_clock_runs_actions_in_time_order_and_stops_at_its_horizon():
    from hpopt.adapters.clock import SimulatedClock

    clock = SimulatedClock(horizon=25.0)
    seen = []
    for at, name in ((20.0, "c"), (5.0, "a"), (5.0, "b"), (30.0, "late")):
        clock.schedule(at, lambda name=name: seen.append((clock.now(), name)))
    clock.wait([], None)
    clock.wait([], None)
    assert seen == [(5.0, "a"), (5.0, "b")], "equal times run in the order they were scheduled"
    clock.wait([], 4.0)
    assert clock.now() == 9.0 and len(seen) == 2, "a timeout before the next action only moves time"
    clock.wait([], None)
    assert seen[-1] == (20.0, "c") and not clock.over
    clock.wait([], None)
    assert clock.over and clock.now() == 25.0 and seen[-1][1] == "c", "nothing runs past the horizon"
    with pytest.raises(RuntimeError, match="stuck"):
        SimulatedClock().wait([], None)
    with pytest.raises(ValueError, match="horizon"):
        SimulatedClock(horizon=-1.0)
