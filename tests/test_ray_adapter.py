"""hpopt.adapters.ray: unit tests of its parts, and end-to-end runs on a real two-node Ray cluster.

The cluster (a head, a worker node and a node with two fake GPUs, all on 127.0.0.1) is started once for
the module inside a network namespace that has only a loopback interface (see loopback_netns), so it
can reach, and be reached from, nothing but this machine; it needs root (CI runs as root) and ray.
"""

from __future__ import annotations

import functools
import json
import os
import signal
import subprocess
import sys
import threading
import time

import pytest
from ray_trainers import recording_trainer
from workloads import entries, jsonl, make_random, objective

import hpopt
from hpopt.adapters import ray_trial
from hpopt.adapters.ray import run_ray
from hpopt.adapters.ray_args import check_ray_args
from hpopt.adapters.ray_task import one_line
from hpopt.experiment import ExperimentError, load_experiment
from hpopt.trainer.channels import channel_for
from hpopt.trainer.local import StoreChannel

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
MB = 1024 * 1024




# --- without a cluster ------------------------------------------------------------------------------


def test_report_dispatches_on_the_file_path_scheme():
    for path in ("/runs/hpo/hpopt_trial_3.json", "relative/hpopt_trial_3.json", "/odd/dir://x/hpopt_trial_3.json"):
        channel = channel_for({"file_path": path})  # a plain path (the last one has no scheme at its start)
        assert isinstance(channel, StoreChannel) and channel.store.save_path == os.path.dirname(path)
    assert channel_for({"file_path": "ray://hpopt-abc/hpopt_trial_3.json"}) is ray_trial
    path = ray_trial.file_path("hpopt-abc-12", "/runs/hpo/hpopt_trial_3.json")
    assert path == "ray://hpopt-abc-12/hpopt_trial_3.json"
    assert ray_trial.actor_name_of(path) == "hpopt-abc-12"
    with pytest.raises(ValueError, match="ray://<actor>/<file>"):
        ray_trial.actor_name_of("s3://bucket/key")


def test_report_actor_applies_each_report_once_and_runs_the_stop_rules(tmp_path):
    """TrialReports as a plain object: the same code the actor runs, on real trial files."""
    hpo = make_random(tmp_path, search_alg="asha", num_trials=6, max_iterations=4)
    cfg, other = hpo.get_next_sample(), hpo.get_next_sample()
    remote_cfg = {**cfg, "file_path": ray_trial.file_path("hpopt-x", cfg["file_path"])}
    desk = ray_trial.TrialReports(str(tmp_path / "hpo"))
    assert desk.report(remote_cfg, 0, 0.5) == hpopt.Status.RUNNING
    assert desk.report(remote_cfg, 0, 0.5) == hpopt.Status.RUNNING  # sent again after an actor restart
    assert desk.report(remote_cfg, 1, None) == hpopt.Status.RUNNING  # a non-finite score, recorded as null
    doc = hpopt.load_json(cfg["file_path"])
    assert doc["scores"] == [0.5, None] and len(doc["t"]) == 2  # overhead stamps as with a local report
    desk.finalize_trial(remote_cfg)
    assert hpopt.load_json(cfg["file_path"])["status"] == hpopt.Status.STOP
    assert desk.report(remote_cfg, 2, 0.7) == hpopt.Status.STOP
    desk.reportOOM({**other, "file_path": ray_trial.file_path("hpopt-x", other["file_path"])})
    assert hpopt.load_json(other["file_path"])["status"] == hpopt.Status.CUDAOOM
    (tmp_path / "hpo" / "logs").mkdir()
    desk.append_log("trial_0_attempt_0.log", b"line 1\n")
    desk.append_log("trial_0_attempt_0.log", b"line 2\n")
    assert (tmp_path / "hpo" / "logs" / "trial_0_attempt_0.log").read_bytes() == b"line 1\nline 2\n"
    for bad in ("../escape.log", "/etc/passwd", "", ".."):
        with pytest.raises(ValueError, match="plain file name"):
            desk.append_log(bad, b"x")
    hpo.close()


def test_run_ray_checks_its_arguments():
    ok = dict(address=None, num_cpus=1, num_gpus=0, resources=None, runtime_env=None, stop_grace_s=10,
              ray_options=None)
    check_ray_args(**ok)
    bad = [({"address": "ray://head:10001"}, "Ray Client address"), ({"address": ""}, "address"),
           ({"num_cpus": -1}, "num_cpus"), ({"num_gpus": True}, "num_gpus"), ({"num_gpus": float("nan")}, "num_gpus"),
           ({"resources": {"gpu_node": -1}}, "resources"), ({"resources": {"CPU": 2}}, "num_cpus / num_gpus"),
           ({"stop_grace_s": 0}, "stop_grace_s"), ({"ray_options": {"max_retries": 3}}, "max_retries")]
    for change, message in bad:
        with pytest.raises(ValueError, match=message):
            check_ray_args(**{**ok, **change})
    with pytest.raises(TypeError, match="runtime_env"):
        check_ray_args(**{**ok, "runtime_env": "env.yaml"})
    assert one_line("Traceback (most recent call last):\n  File x\nValueError: bad\n") == "ValueError: bad"
    assert one_line("NodeDiedError: the node is dead.\nThis can happen if...", last=False) == \
        "NodeDiedError: the node is dead."


def test_experiment_file_takes_ray_settings(tmp_path):
    (tmp_path / "train.py").write_text("")
    base = {"script": "train.py", "search_space": {"x": {"type": "uniform", "range": [0, 1]}},
            "algorithm": {"num_full_iterations": 4}}
    path = tmp_path / "exp.json"
    path.write_text(json.dumps({**base, "resources": "ray", "ray": {"address": "auto", "num_gpus": 1,
                                                                     "resources": {"gpu_node": 1}}}))
    exp = load_experiment(str(path))
    assert exp.resources == "ray" and exp.ray == {"address": "auto", "num_gpus": 1, "resources": {"gpu_node": 1}}
    for doc, message in [({**base, "ray": {"address": "auto"}}, "'ray' is used only with \"resources\": \"ray\""),
                         ({**base, "resources": "ray", "ray": {"adress": "auto"}}, "did you mean 'address'"),
                         ({**base, "resources": "ray", "ray": []}, "'ray' must be"),
                         ({**base, "resources": "ray", "gpus_per_trial": 2}, "ray.num_gpus")]:
        path.write_text(json.dumps(doc))
        with pytest.raises(ExperimentError, match=message):
            load_experiment(str(path))


# --- on a two-node cluster ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cluster():
    """A head (1 CPU), a worker node (1 CPU) and a GPU node (1 CPU, 2 fake GPUs) on 127.0.0.1; this process
    is the driver. Yields {"address", "nodes": {role: node id}}."""
    ray = pytest.importorskip("ray")
    from loopback_netns import NamespaceUnavailable, loopback_only_network
    from ray.cluster_utils import Cluster

    saved = {k: os.environ.get(k) for k in ("RAY_USAGE_STATS_ENABLED", "PYTHONPATH")}
    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"  # no usage report to the outside
    os.environ["PYTHONPATH"] = os.pathsep.join([ROOT, HERE, *filter(None, [saved["PYTHONPATH"]])])
    try:
        with loopback_only_network():
            node = dict(object_store_memory=100 * MB, node_ip_address="127.0.0.1")
            c = Cluster(initialize_head=True, head_node_args=dict(num_cpus=1, include_dashboard=False, **node))
            try:
                c.add_node(num_cpus=1, resources={"worker_node": 1}, **node)
                c.add_node(num_cpus=1, num_gpus=2, resources={"gpu_node": 1}, **node)
                c.wait_for_nodes()
                ray.init(address=c.address, log_to_driver=False)
                nodes = {}
                for n in ray.nodes():
                    res = n["Resources"]
                    role = "gpu" if "gpu_node" in res else "worker" if "worker_node" in res else "head"
                    nodes[role] = n["NodeID"]
                assert len(nodes) == 3
                yield {"address": c.address, "nodes": nodes, "cluster": c, "node_args": node}
            finally:
                ray.shutdown()
                c.shutdown()
    except NamespaceUnavailable as exc:
        pytest.skip(f"needs a loopback-only network namespace for the Ray cluster (run as root): {exc}")
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@pytest.mark.slow
def test_trials_run_on_both_nodes_and_fake_gpus(cluster, tmp_path):
    record = str(tmp_path / "reports.jsonl")
    hpo = make_random(tmp_path, num_trials=6)
    summary = run_ray(hpo, functools.partial(recording_trainer, record=record, sleep=0.3), n_parallel=3,
                      progress=False)
    assert summary.finished and summary.trials_done == 6 and summary.trials_failed == 0
    starts = jsonl(record + ".starts")
    assert len({s["node"] for s in starts}) >= 2  # one CPU per node: three at once need more than one node
    for e in entries(hpo):
        assert e["score"] == pytest.approx(objective(e["config"], 2))
        log = (tmp_path / "hpo" / "logs" / f"trial_{e['trial_id']}_attempt_0.log").read_text()
        assert f"trial {e['trial_id']} attempt 0 starts" in log  # the trainer's output, forwarded
    with open(os.path.join(summary.kept_artifacts[0], "model.json")) as f:  # came back from the node
        assert json.load(f)["params"] == summary.best_config
    hpo.close()

    gpu_record = str(tmp_path / "gpu.jsonl")  # and ASHA with its random sampler
    hpo = make_random(tmp_path, name="gpu", search_alg="asha", num_trials=4, min_iterations=1, reduction_factor=3,
                      num_brackets=1, subset_ratio=1.0)
    hpo.epoch_budget = 1000.0
    summary = run_ray(hpo, functools.partial(recording_trainer, record=gpu_record, sleep=0.3), num_gpus=1,
                      num_cpus=0.5, progress=False)
    assert summary.finished and summary.trials_done == 4
    starts = jsonl(gpu_record + ".starts")
    assert {s["node"] for s in starts} == {cluster["nodes"]["gpu"]}
    assert {s["cuda"] for s in starts} <= {"0", "1"} and len({s["cuda"] for s in starts}) == 2
    hpo.close()


@pytest.mark.slow
def test_asha_stops_trials_through_report_and_a_deaf_trial_is_cancelled(cluster, tmp_path):
    record = str(tmp_path / "reports.jsonl")
    hpo = make_random(tmp_path, search_alg="asha", sampler="bayes", num_trials=9, max_iterations=9,
                      num_full_iterations=9, min_iterations=1, reduction_factor=3, num_brackets=1, subset_ratio=1.0,
                      seed=3)
    hpo.epoch_budget = 1000.0  # num_trials ends the run, not the planned budget
    trainer = functools.partial(recording_trainer, record=record, ignore_stop=120.0)
    started = time.monotonic()
    summary = run_ray(hpo, trainer, n_parallel=3, stop_grace_s=1.0, progress=False)
    assert time.monotonic() - started < 100  # deaf trials were cancelled, not waited for
    assert summary.finished and summary.trials_done == 9
    stopped = [e for e in entries(hpo) if e.get("early_stopped")]
    assert stopped, "ASHA stopped no trial"
    reports = jsonl(record)
    for e in stopped:  # the trainer was told STOP by report() before its last iteration
        told = [r for r in reports if r["trial_id"] == e["trial_id"] and r["status"] == hpopt.Status.STOP]
        assert told and told[0]["epoch"] + 1 == e["num_iterations_run"] < 9
        log = (tmp_path / "hpo" / "logs" / f"trial_{e['trial_id']}_attempt_0.log").read_text()
        assert "cancelled" in log
    hpo.close()


def test_a_killed_task_is_retried_by_hpopt(cluster, tmp_path):
    record = str(tmp_path / "reports.jsonl")
    hpo = make_random(tmp_path, num_trials=2)
    trainer = functools.partial(recording_trainer, record=record, kill_attempt0_of=1)
    summary = run_ray(hpo, trainer, n_parallel=2, job_retries=1, env={"TRIAL_MARK": "from env"}, progress=False)
    assert summary.finished and summary.trials_done == 2 and summary.trials_retried == 1
    second = entries(hpo)[1]
    assert second["retries"] == 1 and second["attempt"] == 1
    assert second["score"] == pytest.approx(objective(second["config"], 2))
    starts = jsonl(record + ".starts")
    assert sorted((s["trial_id"], s["attempt"]) for s in starts) == [(0, 0), (1, 0), (1, 1)]  # not Ray's retries
    assert {s["mark"] for s in starts} == {"from env"}  # env reaches the trials (as runtime_env env_vars)
    log = (tmp_path / "hpo" / "logs" / "trial_1_attempt_0.log").read_text()
    assert "the task failed" in log
    doc = hpopt.load_json(str(tmp_path / "hpo" / "hpopt_trial_1.json"))
    assert doc["previous_attempts"][0]["scores"] == [pytest.approx(objective(second["config"], 0))]
    hpo.close()


@pytest.mark.slow
def test_a_trial_on_a_lost_node_is_retried_elsewhere(cluster, tmp_path):
    import ray

    doomed = cluster["cluster"].add_node(num_cpus=1, resources={"doomed": 1}, **cluster["node_args"])
    cluster["cluster"].wait_for_nodes()
    doomed_id = next(n["NodeID"] for n in ray.nodes() if n["Alive"] and "doomed" in n["Resources"])
    record = str(tmp_path / "reports.jsonl")
    hpo = make_random(tmp_path, num_trials=4)
    trainer = functools.partial(recording_trainer, record=record, sleep=0.5, stall_on_node=doomed_id)

    def remove_when_a_trial_runs_there():
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not any(s["node"] == doomed_id for s in jsonl(record + ".starts")):
            time.sleep(0.1)
        cluster["cluster"].remove_node(doomed)

    remover = threading.Thread(target=remove_when_a_trial_runs_there)
    remover.start()
    try:
        summary = run_ray(hpo, trainer, n_parallel=4, job_retries=1, progress=False)
    finally:
        remover.join()
    assert summary.finished and summary.trials_done == 4 and summary.trials_retried >= 1
    starts = jsonl(record + ".starts")
    lost = {s["trial_id"] for s in starts if s["node"] == doomed_id}
    assert lost
    for tid in lost:
        again = [s for s in starts if s["trial_id"] == tid and s["attempt"] == 1]
        assert again and again[0]["node"] != doomed_id
        assert "the task failed" in (tmp_path / "hpo" / "logs" / f"trial_{tid}_attempt_0.log").read_text()
        assert entries(hpo)[tid]["score"] == pytest.approx(objective(entries(hpo)[tid]["config"], 2))
    hpo.close()


@pytest.mark.slow
def test_controller_sigkilled_then_resume_keeps_every_acknowledged_report(cluster, tmp_path):
    save_path, record = str(tmp_path / "hpo"), str(tmp_path / "reports.jsonl")
    argv = [sys.executable, os.path.join(HERE, "ray_controller.py"), cluster["address"], save_path, record]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 90
        while len(jsonl(record)) < 4 and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        assert proc.poll() is None, proc.stdout.read().decode()[-3000:]
        assert len(jsonl(record)) >= 4
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    time.sleep(1.0)  # the killed trainers' last reports have nowhere to go
    acked = jsonl(record)
    assert not any(e["epoch"] == 5 for e in acked)  # killed mid-run
    done = subprocess.run([*argv, "--resume"], capture_output=True, text=True, timeout=150)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "finished=True done=4" in done.stdout
    for rec in acked:
        doc = hpopt.load_json(os.path.join(save_path, f"hpopt_trial_{rec['trial_id']}.json"))
        attempts = {doc["attempt"]: doc["scores"], **{a["attempt"]: a["scores"] for a in doc["previous_attempts"]}}
        assert attempts[rec["attempt"]][rec["epoch"]] == pytest.approx(rec["score"]), rec


def test_hpopt_run_with_a_script_and_baye_opt_on_the_cluster(cluster, tmp_path):
    record = str(tmp_path / "reports.jsonl")
    exp = {"script": [os.path.join(HERE, "ray_trainers.py"), record, "--deaf"],
           "search_space": {"x": {"type": "uniform", "range": [-5, 5]}, "lr": {"type": "loguniform",
                            "range": [1e-4, 0.1]}, "bs": {"type": "quniform", "range": [8, 128, 8]},
                            "opt": {"type": "choice", "range": ["sgd", "adam"]}},
           "search_alg": "bayes_opt", "n_parallel": 2, "save_path": "hpo",
           "algorithm": {"full_dataset_size": 1000, "num_full_iterations": 4, "num_trials": 5,
                         "max_iterations": 2, "seed": 2},
           "resources": "ray", "ray": {"address": cluster["address"], "num_cpus": 1, "stop_grace_s": 4}}
    path = tmp_path / "experiment.json"
    path.write_text(json.dumps(exp))
    from hpopt.cli import main

    started = time.monotonic()
    assert main(["run", str(path), "--no-progress"]) == 0
    elapsed = time.monotonic() - started
    status = hpopt.load_json(str(tmp_path / "hpo" / "hpopt_status.json"))
    assert status["num_workers"] == 2 and len(status["config_list"]) == 5
    reports = jsonl(record)
    assert len(reports) == 10 and len({r["pid"] for r in reports}) == 5  # one script process per trial
    # Each script ignores STOP and would sleep 120 s: the run ended long before, so every task was stopped.
    assert elapsed < 100, elapsed
    for tid in range(5):  # its task ended it with SIGTERM or, past the grace, a kill
        log = (tmp_path / "hpo" / "logs" / f"trial_{tid}_attempt_0.log").read_text()
        assert f"trial {tid} done" in log
        # Run alone, every script here gets SIGTERM; inside the whole suite the cancel has missed its grace
        # period and the worker was killed instead, and once (CI, 2026-12-04) the kill's own note did not
        # reach the log either (cause not found yet). The adapter's cancel note is always there.
        assert "got SIGTERM" in log or "its worker killed" in log or "still running: cancelled" in log
