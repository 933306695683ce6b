"""hpopt's Ray adapter against Ray Tune on the same two-node cluster: report round trip and trial throughput.

It starts a Ray cluster of two nodes on 127.0.0.1 (``ray.cluster_utils.Cluster``: a head with one CPU,
where the controller and its report actor run, and a worker node with ``--parallel`` - 1 CPUs and the
custom resource ``worker_node``) inside a network namespace that has only a loopback interface (needs
root; see tests/loopback_netns.py), then measures, in one run:

* **report round trip**: a trainer on the worker node (custom resource ``worker_node``) calls
  ``hpopt.report`` ``--reports`` times in one trial (random search: the answer is RUNNING each time);
  each call travels to the report actor on the controller's node, is applied to the trial file there
  (locked, fsynced) and answered. Tune: a function trainable on the same node calls ``tune.report`` as
  often, under a Tuner with its ASHAScheduler (``max_t`` above the number of reports, so none stops).
  Both timed inside the trainer with ``perf_counter``; median and p99. hpopt's is measured twice: with
  ``save_path`` on this disk (each report costs two fsyncs there) and on a RAM disk (``/dev/shm``: the
  Ray hop and the file work without the disk's fsync latency); for scale, local ``hpopt.report`` calls
  (no Ray) are timed on both too.
* **throughput**: ``--trials`` zero-length trials (one report, then return), ``--parallel`` at once,
  one CPU each: hpopt's ``run_ray`` with ASHA against ``Tuner.fit()`` with ASHAScheduler (with Tune's
  defaults, and again with ``reuse_actors=True``), wall time from the call to its return on an already
  connected driver; trials per second.

Figures are printed with the ratios hpopt / Tune (round trip: lower is better; throughput: higher is).

    sudo python bench/ray_overhead.py [--reports 300] [--trials 40] [--parallel 3] [--json out.json]

Needs ``ray[default,tune]==2.60.0`` in the environment that runs it (Tune is never a dependency of
hpopt: make a venv for the benchmark, e.g. ``python -m venv /tmp/rb && /tmp/rb/bin/pip install -e .
'ray[default,tune]==2.60.0'``).
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import statistics
import sys
import tempfile
import time
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests"))  # loopback_netns

import hpopt  # noqa: E402

MB = 1024 * 1024


def _space() -> dict[str, hpopt.SearchSpace]:
    return {"x": hpopt.search_space("uniform", [0, 1]), "bs": hpopt.search_space("quniform", [8, 512, 8])}


def _percentiles(times: list[float]) -> dict[str, float]:
    ordered = sorted(times)
    return {"median_ms": 1000 * statistics.median(ordered),
            "p99_ms": 1000 * ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))], "n": len(ordered)}


# --- trainers (sent to the worker node by reference: this file is importable there as ray_overhead) -------


def hpopt_timed_trainer(config: dict[str, Any], out: str) -> None:
    times = []
    for epoch in range(config["iterations"]):
        start = time.perf_counter()
        hpopt.report(config, 0.001 * epoch)
        times.append(time.perf_counter() - start)
    with open(out, "w") as f:
        json.dump(times, f)


def hpopt_zero_trainer(config: dict[str, Any]) -> None:
    hpopt.report(config, config["params"]["x"])


def tune_timed_trainable(config: dict[str, Any]) -> None:
    from ray import tune

    times = []
    for epoch in range(config["reports"]):
        start = time.perf_counter()
        tune.report({"score": 0.001 * epoch})
        times.append(time.perf_counter() - start)
    with open(config["out"], "w") as f:
        json.dump(times, f)


def tune_zero_trainable(config: dict[str, Any]) -> None:
    from ray import tune

    tune.report({"score": config["x"]})


# --- measurements -----------------------------------------------------------------------------------


def local_round_trip(reports: int, tmp: str, name: str) -> dict[str, float]:
    hpo = hpopt.create(full_dataset_size=0, num_full_iterations=reports, search_space=_space(),
                       save_path=os.path.join(tmp, name), search_alg="random", num_trials=1,
                       max_iterations=reports + 1, seed=0)
    cfg = hpo.get_next_sample()
    times = []
    for epoch in range(reports):
        start = time.perf_counter()
        hpopt.report(cfg, 0.001 * epoch)
        times.append(time.perf_counter() - start)
    hpo.close()
    return _percentiles(times)


def hpopt_round_trip(reports: int, tmp: str, name: str = "rt") -> dict[str, float]:
    from hpopt.adapters.ray import run_ray

    out = os.path.join(tmp, f"{name}_times.json")
    hpo = hpopt.create(full_dataset_size=0, num_full_iterations=reports, search_space=_space(),
                       save_path=os.path.join(tmp, name), search_alg="random", num_trials=1,
                       max_iterations=reports + 1, seed=0)
    run_ray(hpo, functools.partial(hpopt_timed_trainer, out=out), resources={"worker_node": 1}, progress=False)
    hpo.close()
    with open(out) as f:
        return _percentiles(json.load(f)[1:])  # the first call also looks the actor up


def tune_round_trip(reports: int, tmp: str) -> dict[str, float]:
    from ray import tune
    from ray.tune.schedulers import ASHAScheduler

    out = os.path.join(tmp, "tune_times.json")
    trainable = tune.with_resources(tune_timed_trainable, {"cpu": 1, "worker_node": 1})
    tuner = tune.Tuner(trainable, param_space={"reports": reports, "out": out},
                       tune_config=tune.TuneConfig(metric="score", mode="max", num_samples=1,
                                                   scheduler=ASHAScheduler(max_t=reports + 1, grace_period=1)),
                       run_config=tune.RunConfig(storage_path=os.path.join(tmp, "tune_rt"), verbose=0))
    tuner.fit()
    with open(out) as f:
        return _percentiles(json.load(f)[1:])


def hpopt_throughput(trials: int, parallel: int, tmp: str) -> dict[str, float]:
    from hpopt.adapters.ray import run_ray

    hpo = hpopt.create(full_dataset_size=0, num_full_iterations=1, search_space=_space(),
                       save_path=os.path.join(tmp, "tp"), search_alg="asha", num_trials=trials, max_iterations=1,
                       min_iterations=1, subset_ratio=1.0, num_brackets=1, seed=0)
    hpo.epoch_budget = float(10 * trials)  # num_trials ends the run
    start = time.perf_counter()
    summary = run_ray(hpo, hpopt_zero_trainer, n_parallel=parallel, num_cpus=1, progress=False)
    elapsed = time.perf_counter() - start
    hpo.close()
    assert summary.finished and summary.trials_done == trials, summary
    return {"trials": trials, "seconds": elapsed, "trials_per_s": trials / elapsed}


def tune_throughput(trials: int, parallel: int, tmp: str, reuse_actors: bool | None = None) -> dict[str, float]:
    from ray import tune
    from ray.tune.schedulers import ASHAScheduler

    tuner = tune.Tuner(tune.with_resources(tune_zero_trainable, {"cpu": 1}), param_space={"x": tune.uniform(0, 1)},
                       tune_config=tune.TuneConfig(metric="score", mode="max", num_samples=trials,
                                                   max_concurrent_trials=parallel, reuse_actors=reuse_actors,
                                                   scheduler=ASHAScheduler(max_t=1, grace_period=1)),
                       run_config=tune.RunConfig(storage_path=os.path.join(tmp, f"tune_tp_{reuse_actors}"),
                                                 verbose=0))
    start = time.perf_counter()
    results = tuner.fit()
    elapsed = time.perf_counter() - start
    assert len(results) == trials and not results.errors, results.errors
    return {"trials": trials, "seconds": elapsed, "trials_per_s": trials / elapsed}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reports", type=int, default=300)
    parser.add_argument("--trials", type=int, default=40)
    parser.add_argument("--parallel", type=int, default=3)
    parser.add_argument("--json", help="also write the figures here")
    args = parser.parse_args()

    import ray
    from loopback_netns import loopback_only_network
    from ray.cluster_utils import Cluster

    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    os.environ["PYTHONPATH"] = os.pathsep.join([ROOT, HERE, os.environ.get("PYTHONPATH", "")])
    figures: dict[str, Any] = {}
    ram = "/dev/shm" if os.path.isdir("/dev/shm") else None
    with tempfile.TemporaryDirectory(dir=os.getcwd()) as tmp, tempfile.TemporaryDirectory(dir=ram) as ram_tmp, \
            loopback_only_network():
        node = dict(object_store_memory=100 * MB, node_ip_address="127.0.0.1")
        started = time.perf_counter()
        cluster = Cluster(initialize_head=True, head_node_args=dict(num_cpus=1, include_dashboard=False, **node))
        try:
            cluster.add_node(num_cpus=max(1, args.parallel - 1), resources={"worker_node": 1}, **node)
            cluster.wait_for_nodes()
            ray.init(address=cluster.address, log_to_driver=False)
            print(f"cluster of 2 nodes on 127.0.0.1 up in {time.perf_counter() - started:.1f} s", flush=True)
            figures["local_report"] = local_round_trip(args.reports, tmp, "local")
            figures["local_report_ram"] = local_round_trip(args.reports, ram_tmp, "local")
            # Each side once to warm the workers up, then measured.
            hpopt_round_trip(20, tmp, "warm")
            tune_round_trip(20, tmp)
            figures["hpopt_report"] = hpopt_round_trip(args.reports, tmp)
            figures["hpopt_report_ram"] = hpopt_round_trip(args.reports, ram_tmp)
            figures["tune_report"] = tune_round_trip(args.reports, tmp)
            figures["tune_throughput"] = tune_throughput(args.trials, args.parallel, tmp)
            figures["tune_throughput_reuse"] = tune_throughput(args.trials, args.parallel, tmp, reuse_actors=True)
            figures["hpopt_throughput"] = hpopt_throughput(args.trials, args.parallel, tmp)
        finally:
            ray.shutdown()
            cluster.shutdown()
    h, t = figures["hpopt_report"], figures["tune_report"]
    figures["ratios"] = {
        "report_median_hpopt_over_tune": h["median_ms"] / t["median_ms"],
        "report_p99_hpopt_over_tune": h["p99_ms"] / t["p99_ms"],
        "throughput_hpopt_over_tune": figures["hpopt_throughput"]["trials_per_s"]
        / figures["tune_throughput"]["trials_per_s"],
        "throughput_hpopt_over_tune_reusing_actors": figures["hpopt_throughput"]["trials_per_s"]
        / figures["tune_throughput_reuse"]["trials_per_s"],
    }
    print(f"report round trip, {args.reports} reports from the worker node (median / p99 ms):")
    for label, key in (("hpopt via Ray, state on disk", "hpopt_report"), ("hpopt via Ray, state in RAM",
                       "hpopt_report_ram"), ("Ray Tune", "tune_report"), ("hpopt local, disk, no Ray",
                       "local_report"), ("hpopt local, RAM, no Ray", "local_report_ram")):
        print(f"  {label:30s} {figures[key]['median_ms']:7.2f} / {figures[key]['p99_ms']:7.2f}")
    ht, tt = figures["hpopt_throughput"], figures["tune_throughput"]
    print(f"throughput, {args.trials} zero-length trials, {args.parallel} at once:")
    print(f"  hpopt via Ray  {ht['trials_per_s']:6.2f} trials/s ({ht['seconds']:.1f} s)")
    print(f"  Ray Tune       {tt['trials_per_s']:6.2f} trials/s ({tt['seconds']:.1f} s)")
    tr = figures["tune_throughput_reuse"]
    print(f"  Ray Tune, reuse_actors=True {tr['trials_per_s']:6.2f} trials/s ({tr['seconds']:.1f} s)")
    r = figures["ratios"]
    print(f"ratios hpopt / Tune: report median {r['report_median_hpopt_over_tune']:.2f}, p99 "
          f"{r['report_p99_hpopt_over_tune']:.2f} (lower is better); throughput "
          f"{r['throughput_hpopt_over_tune']:.2f}, against Tune reusing actors "
          f"{r['throughput_hpopt_over_tune_reusing_actors']:.2f} (higher is better)")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(figures, f, indent=2)


if __name__ == "__main__":
    main()
