"""Bad input: search_space, create(), report() and friends, and the experiment file.

Each case asserts the exception type AND that the message names the argument and the bad value. The
property tests (hypothesis) throw arbitrary values at the same entry points: they either work or raise
TypeError/ValueError naming the argument, never anything else.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import hpopt
from hpopt.errors import TrialFileMissingError
from hpopt.experiment import ExperimentError, load_experiment


@dataclass
class Case:
    call: Callable[[Any], Any]  # gets a context with .save (a fresh folder) and .cfg (an issued train_config)
    error: type[Exception]
    words: tuple[str, ...]  # each must be in the message: the argument's name and the bad value


def sp(kind, rng):
    return lambda ctx: hpopt.search_space(kind, rng)


SEARCH_SPACE_CASES = {
    "type not a str": Case(sp(3, [0, 1]), TypeError, ("type", "3")),
    "type None": Case(sp(None, [0, 1]), TypeError, ("type", "None")),
    "unknown type": Case(sp("uniformm", [0, 1]), TypeError, ("type", "'uniformm'", "'uniform'")),
    "type upper case": Case(sp("UNIFORM", [0, 1]), TypeError, ("'UNIFORM'",)),
    "range a str": Case(sp("uniform", "0,1"), TypeError, ("range", "'0,1'")),
    "range a dict": Case(sp("uniform", {"lo": 0}), TypeError, ("range", "{'lo': 0}")),
    "range None": Case(sp("uniform", None), TypeError, ("range", "None")),
    "range a number": Case(sp("choice", 5), TypeError, ("range", "5")),
    "uniform one value": Case(sp("uniform", [1]), ValueError, ("uniform", "[1]")),
    "uniform three values": Case(sp("uniform", [0, 1, 2]), ValueError, ("uniform", "[0, 1, 2]")),
    "uniform empty": Case(sp("uniform", []), ValueError, ("uniform", "[]")),
    "lo a str": Case(sp("uniform", ["0", 1]), TypeError, ("lo", "'0'")),
    "hi a str": Case(sp("uniform", [0, "1"]), TypeError, ("hi", "'1'")),
    "lo a bool": Case(sp("uniform", [True, 2]), TypeError, ("lo", "True")),
    "lo None": Case(sp("uniform", [None, 2]), TypeError, ("lo", "None")),
    "hi a list": Case(sp("uniform", [0, [1]]), TypeError, ("hi", "[1]")),
    "lo nan": Case(sp("uniform", [float("nan"), 1]), ValueError, ("lo", "nan")),
    "hi inf": Case(sp("uniform", [0, float("inf")]), ValueError, ("hi", "inf")),
    "hi an int no float holds": Case(sp("uniform", [0, 10**400]), ValueError, ("hi", "float can hold")),
    "lo an int no float holds": Case(sp("loguniform", [-(10**400), 1]), ValueError, ("lo", "float can hold")),
    "q an int no float holds": Case(sp("quniform", [0, 10, 10**400]), ValueError, ("q", "float can hold")),
    "lo equals hi": Case(sp("uniform", [1, 1]), ValueError, ("lo=1", "hi=1")),
    "lo above hi": Case(sp("uniform", [2, 1]), ValueError, ("lo=2", "hi=1")),
    "loguniform lo 0": Case(sp("loguniform", [0, 1]), ValueError, ("lo > 0", "0")),
    "loguniform lo negative": Case(sp("loguniform", [-1, 1]), ValueError, ("lo > 0", "-1")),
    "loguniform base 1": Case(sp("loguniform", [1, 10, 1]), ValueError, ("base", "1")),
    "loguniform base negative": Case(sp("loguniform", [1, 10, -2]), ValueError, ("base", "-2")),
    "loguniform base a str": Case(sp("loguniform", [1, 10, "e"]), TypeError, ("base", "'e'")),
    "quniform no q": Case(sp("quniform", [0, 10]), ValueError, ("quniform", "[0, 10]")),
    "quniform q 0": Case(sp("quniform", [0, 10, 0]), ValueError, ("q", "0")),
    "quniform q negative": Case(sp("quniform", [0, 10, -1]), ValueError, ("q", "-1")),
    "quniform q too big": Case(sp("quniform", [0, 10, 20]), ValueError, ("q=20", "10")),
    "quniform q a str": Case(sp("quniform", [0, 10, "1"]), TypeError, ("q", "'1'")),
    "qloguniform lo 0": Case(sp("qloguniform", [0, 64, 8]), ValueError, ("lo > 0", "0")),
    "qloguniform five values": Case(sp("qloguniform", [1, 64, 8, 2, 3]), ValueError, ("qloguniform", "5 values")),
    "choice empty": Case(sp("choice", []), ValueError, ("choice", "[]")),
    "choice duplicate": Case(sp("choice", ["a", "b", "a"]), ValueError, ("duplicate", "'a'")),
    "choice of a set": Case(sp("choice", [{1, 2}]), TypeError, ("choice value", "{1, 2}")),
    "choice of an object": Case(sp("choice", [object]), TypeError, ("choice value", "object")),
    "choice nan": Case(sp("choice", [1.0, float("nan")]), ValueError, ("choice value", "nan")),
    "choice dict with int key": Case(sp("choice", [{1: "a"}]), TypeError, ("choice value", "{1: 'a'}")),
    "name not a str": Case(lambda ctx: hpopt.SearchSpace("uniform", [0, 1], name=3), TypeError, ("name", "3")),
    "with_upper above": Case(lambda ctx: hpopt.search_space("quniform", [8, 64, 8]).with_upper(128), ValueError,
                             ("new_upper=128", "64")),
    "with_upper below": Case(lambda ctx: hpopt.search_space("quniform", [8, 64, 8]).with_upper(4), ValueError,
                             ("new_upper=4", "8")),
    "with_upper on a choice": Case(lambda ctx: hpopt.search_space("choice", [1, 2]).with_upper(1), ValueError,
                                   ("with_upper", "'choice'")),
    "encode off grid": Case(lambda ctx: hpopt.search_space("quniform", [8, 64, 8]).encode(12), ValueError,
                            ("value 12", "grid")),
    "encode not a choice": Case(lambda ctx: hpopt.search_space("choice", ["a"]).encode("b"), ValueError,
                                ("value 'b'", "'a'")),
    "decode nan": Case(lambda ctx: hpopt.search_space("uniform", [0, 1]).decode(float("nan")), ValueError,
                       ("u=nan",)),
    "decode a str": Case(lambda ctx: hpopt.search_space("uniform", [0, 1]).decode("half"), TypeError,
                         ("u='half'",)),
    "sample with a seed": Case(lambda ctx: hpopt.search_space("uniform", [0, 1]).sample(3), TypeError,
                               ("rng", "3")),
}


def create(ctx, **change):
    args = dict(full_dataset_size=1000, num_full_iterations=8, save_path=str(ctx.save), search_alg="random",
                search_space={"lr": hpopt.search_space("loguniform", [1e-4, 1e-1]),
                              "bs": hpopt.search_space("quniform", [8, 64, 8])},
                num_trials=4, max_iterations=2, subset_ratio=1.0)
    args.update(change)
    return hpopt.create(**args)


def cr(**change):
    return lambda ctx: create(ctx, **change)


CREATE_CASES = {
    "full_dataset_size a str": Case(cr(full_dataset_size="1000"), TypeError, ("full_dataset_size", "'1000'")),
    "full_dataset_size a float": Case(cr(full_dataset_size=10.5), TypeError, ("full_dataset_size", "10.5")),
    "full_dataset_size negative": Case(cr(full_dataset_size=-1), ValueError, ("full_dataset_size", "-1")),
    "full_dataset_size a bool": Case(cr(full_dataset_size=True), TypeError, ("full_dataset_size", "True")),
    "num_full_iterations 0": Case(cr(num_full_iterations=0), ValueError, ("num_full_iterations", "0")),
    "num_full_iterations None": Case(cr(num_full_iterations=None), TypeError, ("num_full_iterations", "None")),
    "search_space a list": Case(cr(search_space=[1, 2]), TypeError, ("search space", "[1, 2]")),
    "search_space empty": Case(cr(search_space={}), ValueError, ("search space", "empty")),
    "search_space key an int": Case(cr(search_space={1: hpopt.search_space("uniform", [0, 1])}), TypeError,
                                    ("search space keys", "1")),
    "search_space value a tuple": Case(cr(search_space={"lr": ("uniform", [0, 1])}), TypeError,
                                       ("search space 'lr'", "('uniform', [0, 1])")),
    "search_space dict without range": Case(cr(search_space={"lr": {"type": "uniform"}}), ValueError,
                                            ("search space 'lr'", "range")),
    "search_space dict bad range": Case(cr(search_space={"lr": {"type": "uniform", "range": [1, 0]}}), ValueError,
                                        ("search space 'lr'", "lo=1", "hi=0")),
    "save_path an int": Case(cr(save_path=5), TypeError, ("save_path", "5")),
    "search_alg unknown": Case(cr(search_alg="bayes"), ValueError, ("search_alg", "'bayes'")),
    "search_alg a typo": Case(cr(search_alg="ashaa"), ValueError, ("search_alg", "'ashaa'", "'asha'")),
    "search_alg None": Case(cr(search_alg=None), ValueError, ("search_alg", "None")),
    "early_stop unknown": Case(cr(early_stop="median"), ValueError, ("early_stop", "'median'")),
    "early_stop with asha": Case(cr(search_alg="asha", early_stop="median_stop"), ValueError,
                                 ("early_stop", "'median_stop'", "asha")),
    "mode unknown": Case(cr(mode="maximize"), ValueError, ("mode", "'maximize'")),
    "mode upper case": Case(cr(mode="MAX"), ValueError, ("mode", "'MAX'")),
    "num_init_trials 0": Case(cr(num_init_trials=0), ValueError, ("num_init_trials", "0")),
    "num_trials 0": Case(cr(num_trials=0), ValueError, ("num_trials", "0")),
    "num_trials a float": Case(cr(num_trials=3.0), TypeError, ("num_trials", "3.0")),
    "num_trials a str": Case(cr(num_trials="4"), TypeError, ("num_trials", "'4'")),
    "max_iterations 0": Case(cr(max_iterations=0), ValueError, ("max_iterations", "0")),
    "min_iterations -1": Case(cr(min_iterations=-1), ValueError, ("min_iterations", "-1")),
    "reduction_factor 1": Case(cr(reduction_factor=1), ValueError, ("reduction_factor", "1")),
    "num_brackets 0": Case(cr(num_brackets=0), ValueError, ("num_brackets", "0")),
    "subset_ratio 0": Case(cr(subset_ratio=0), ValueError, ("subset_ratio", "0")),
    "subset_ratio 1.5": Case(cr(subset_ratio=1.5), ValueError, ("subset_ratio", "1.5")),
    "subset_ratio nan": Case(cr(subset_ratio=float("nan")), ValueError, ("subset_ratio", "nan")),
    "subset_ratio a str": Case(cr(subset_ratio="half"), TypeError, ("subset_ratio", "'half'")),
    "batch_size_name unknown": Case(cr(batch_size_name="batch"), ValueError, ("batch_size_name", "'batch'")),
    "batch_size_name not quantized": Case(cr(batch_size_name="lr"), ValueError, ("batch_size_name", "'lr'")),
    "batch_size_name an int": Case(cr(batch_size_name=1), ValueError, ("batch_size_name", "1")),
    "image_resize one value": Case(cr(image_resize=[224]), ValueError, ("image_resize", "[224]")),
    "image_resize a str": Case(cr(image_resize="224x224"), ValueError, ("image_resize", "'224x224'")),
    "image_resize negative": Case(cr(image_resize=[224, -1]), ValueError, ("image_resize[1]", "-1")),
    "image_resize floats": Case(cr(image_resize=[224.0, 224]), TypeError, ("image_resize[0]", "224.0")),
    "metric an int": Case(cr(metric=1), TypeError, ("metric", "1")),
    "resume a str": Case(cr(resume="yes"), TypeError, ("resume", "'yes'")),
    "resume None": Case(cr(resume=None), TypeError, ("resume", "None")),
    "expected_time_ratio 1": Case(cr(expected_time_ratio=1), ValueError, ("expected_time_ratio", "1")),
    "expected_time_ratio a str": Case(cr(expected_time_ratio="4"), TypeError, ("expected_time_ratio", "'4'")),
    "non_pure_train_ratio 1": Case(cr(non_pure_train_ratio=1), ValueError, ("non_pure_train_ratio", "1")),
    "num_workers 0": Case(cr(num_workers=0), ValueError, ("num_workers", "0")),
    "kappa negative": Case(cr(kappa=-1), ValueError, ("kappa", "-1")),
    "kappa inf": Case(cr(kappa=float("inf")), ValueError, ("kappa", "inf")),
    "kappa_decay 0": Case(cr(kappa_decay=0), ValueError, ("kappa_decay", "0")),
    "kappa_decay 2": Case(cr(kappa_decay=2), ValueError, ("kappa_decay", "2")),
    "kappa_decay_delay -1": Case(cr(kappa_decay_delay=-1), ValueError, ("kappa_decay_delay", "-1")),
    "expected_time_ratio 1e308": Case(cr(expected_time_ratio=1e308, num_trials=None), ValueError,
                                      ("expected_time_ratio", "1e+308")),
    "expected_time_ratio 1e308 with full_train_seconds": Case(cr(expected_time_ratio=1e308, full_train_seconds=10),
                                                              ValueError, ("expected_time_ratio", "1e+308")),
    "num_trials a numpy bool": Case(cr(num_trials=np.bool_(True)), TypeError, ("num_trials", "True")),
    "seed a numpy bool": Case(cr(seed=np.bool_(False)), TypeError, ("seed", "False")),
    "kappa a numpy bool": Case(cr(kappa=np.bool_(True)), TypeError, ("kappa", "True")),
    "seed negative": Case(cr(seed=-5), ValueError, ("seed", "-5")),
    "seed a float": Case(cr(seed=1.5), TypeError, ("seed", "1.5")),
    "sampler unknown": Case(cr(search_alg="asha", sampler="tpe"), ValueError, ("sampler", "'tpe'")),
    "sampler without asha": Case(cr(sampler="bayes"), ValueError, ("sampler", "'bayes'")),
    "unknown argument": Case(cr(num_trial=3), TypeError, ("num_trial", "'num_trials'")),
    "defaults a str": Case(cr(default_hyper_parameters="lr=0.1"), TypeError,
                           ("default_hyper_parameters", "'lr=0.1'")),
    "defaults missing a key": Case(cr(default_hyper_parameters={"lr": 0.01}), ValueError,
                                   ("default_hyper_parameters[0]", "'bs'")),
    "defaults outside": Case(cr(default_hyper_parameters={"lr": 0.5, "bs": 8}), ValueError,
                             ("default_hyper_parameters[0]['lr']", "0.5")),
    "defaults off grid": Case(cr(default_hyper_parameters=[{"lr": 0.01, "bs": 12}]), ValueError,
                              ("default_hyper_parameters[0]['bs']", "12")),
    "defaults item a list": Case(cr(default_hyper_parameters=[[0.01, 8]]), TypeError,
                                 ("default_hyper_parameters[0]", "[0.01, 8]")),
}


def rep(score):
    return lambda ctx: hpopt.report(ctx.cfg, score)


def rep_cfg(change):
    def call(ctx):
        cfg = dict(ctx.cfg)
        cfg.update(change(ctx))
        return hpopt.report(cfg, 0.5)

    return call


REPORT_CASES = {
    "score a str": Case(rep("0.9"), TypeError, ("score", "'0.9'")),
    "score None": Case(rep(None), TypeError, ("score", "None")),
    "score a bool": Case(rep(True), TypeError, ("score", "True")),
    "score a list": Case(rep([0.9]), TypeError, ("score", "[0.9]")),
    "score a dict": Case(rep({"mAP": 0.9}), TypeError, ("score", "{'mAP': 0.9}")),
    "score complex": Case(rep(1j), TypeError, ("score", "1j")),
    "score a numpy array": Case(rep(np.array([0.5, 0.6])), TypeError, ("score", "array")),
    "config None": Case(lambda ctx: hpopt.report(None, 0.5), TypeError, ("config", "None")),
    "config a str": Case(lambda ctx: hpopt.report("trial 0", 0.5), TypeError, ("config", "trial 0")),
    "config params only": Case(lambda ctx: hpopt.report(ctx.cfg["params"], 0.5), ValueError,
                               ("config", "trial_id", "file_path")),
    "config without file_path": Case(lambda ctx: hpopt.report({k: v for k, v in ctx.cfg.items()
                                                                if k != "file_path"}, 0.5), ValueError,
                                     ("config", "['file_path']")),
    "config without mode": Case(lambda ctx: hpopt.report({k: v for k, v in ctx.cfg.items() if k != "mode"}, 0.5),
                                ValueError, ("config", "['mode']")),
    "trial_id a str": Case(rep_cfg(lambda ctx: {"trial_id": "0"}), TypeError, ("config['trial_id']", "'0'")),
    "trial_id negative": Case(rep_cfg(lambda ctx: {"trial_id": -1}), TypeError, ("config['trial_id']", "-1")),
    "trial_id of another file": Case(rep_cfg(lambda ctx: {"trial_id": 3}), ValueError,
                                     ("config['file_path']", "hpopt_trial_0.json", "trial 3")),
    "file_path an int": Case(rep_cfg(lambda ctx: {"file_path": 7}), TypeError, ("config['file_path']", "7")),
    "iterations a str": Case(rep_cfg(lambda ctx: {"iterations": "3"}), TypeError, ("config['iterations']", "'3'")),
    "iterations 0": Case(rep_cfg(lambda ctx: {"iterations": 0}), TypeError, ("config['iterations']", "0")),
    "mode unknown": Case(rep_cfg(lambda ctx: {"mode": "best"}), ValueError, ("config['mode']", "'best'")),
    "attempt a str": Case(rep_cfg(lambda ctx: {"attempt": "0"}), TypeError, ("config['attempt']", "'0'")),
    "run_id an int": Case(rep_cfg(lambda ctx: {"run_id": 7}), TypeError, ("config['run_id']", "7")),
    "config from another save_path": Case(
        rep_cfg(lambda ctx: {"file_path": str(ctx.save.parent / "other" / "hpopt_trial_0.json")}),
        TrialFileMissingError, ("config['file_path']", "other", "does not exist")),
    "config of a file holding another trial": Case(
        lambda ctx: (os.replace(ctx.cfg2["file_path"], ctx.cfg["file_path"]), hpopt.report(ctx.cfg, 0.5)),
        ValueError, ("trial 1", "config['trial_id'] = 0")),
    "reportOOM config a list": Case(lambda ctx: hpopt.reportOOM([ctx.cfg]), TypeError, ("reportOOM", "config")),
    "reportOOM from another save_path": Case(
        lambda ctx: hpopt.reportOOM({**ctx.cfg, "file_path": str(ctx.save.parent / "x" / "hpopt_trial_0.json")}),
        TrialFileMissingError, ("reportOOM", "config['file_path']", "'")),
    "finalize_trial config missing keys": Case(lambda ctx: hpopt.finalize_trial({"trial_id": 0}), ValueError,
                                               ("finalize_trial", "file_path")),
    "get_best_score mode": Case(lambda ctx: hpopt.get_best_score(str(ctx.save), 0, mode="high"), ValueError,
                                ("mode", "'high'")),
    "retry_trial unknown id": Case(lambda ctx: ctx.hpo.retry_trial(99), ValueError, ("retry_trial", "99")),
    "fail_trial id a str": Case(lambda ctx: ctx.hpo.fail_trial("0", "boom"), ValueError, ("fail_trial", "'0'")),
    "get_next_samples -1": Case(lambda ctx: ctx.hpo.get_next_samples(-1), ValueError, ("num", "-1")),
    "get_next_samples a str": Case(lambda ctx: ctx.hpo.get_next_samples("2"), TypeError, ("num", "'2'")),
    "get_next_samples a float": Case(lambda ctx: ctx.hpo.get_next_samples(2.0), TypeError, ("num", "2.0")),
}

EXPERIMENT_OK = {"script": "train.py", "search_space": {"lr": {"type": "loguniform", "range": [1e-4, 0.1]}},
                 "algorithm": {"num_full_iterations": 10}}


def exp(**change):
    def call(ctx):
        doc = {**EXPERIMENT_OK, **change}
        doc = {k: v for k, v in doc.items() if v is not _DROP}
        path = ctx.save.parent / "experiment.json"
        path.parent.mkdir(exist_ok=True)
        (path.parent / "train.py").write_text("print('hi')\n")
        path.write_text(json.dumps(doc))
        return load_experiment(str(path))

    return call


_DROP = object()

EXPERIMENT_CASES = {
    "unknown key": Case(exp(n_paralel=2), ExperimentError, ("'n_paralel'", "'n_parallel'")),
    "no script": Case(exp(script=_DROP), ExperimentError, ("'script'", "required")),
    "no search_space": Case(exp(search_space=_DROP), ExperimentError, ("'search_space'", "required")),
    "script a number": Case(exp(script=5), ExperimentError, ("'script'", "5")),
    "script empty": Case(exp(script=""), ExperimentError, ("'script'", '""')),
    "script missing file": Case(exp(script="nothere.py"), ExperimentError, ("'script'", "'nothere.py'")),
    "script unknown program": Case(exp(script="no-such-program-xyz --a"), ExperimentError,
                                   ("'script'", "'no-such-program-xyz'")),
    "search_space a list": Case(exp(search_space=[1]), ExperimentError, ("'search_space'", "[1]")),
    "search_space empty": Case(exp(search_space={}), ExperimentError, ("'search_space'", "{}")),
    "search_space entry a str": Case(exp(search_space={"lr": "0.1"}), ExperimentError,
                                     ("search_space.lr", '"0.1"')),
    "search_space entry bad key": Case(exp(search_space={"lr": {"type": "uniform", "rnage": [0, 1]}}),
                                       ExperimentError, ("search_space.lr", "'rnage'", "'range'")),
    "search_space entry no type": Case(exp(search_space={"lr": {"range": [0, 1]}}), ExperimentError,
                                       ("search_space.lr", "'type'")),
    "search_space entry bad range": Case(exp(search_space={"lr": {"type": "uniform", "range": [1, 0]}}),
                                         ExperimentError, ("search_space.lr", "lo=1", "hi=0")),
    "algorithm a list": Case(exp(algorithm=[10]), ExperimentError, ("'algorithm'", "[10]")),
    "algorithm unknown key": Case(exp(algorithm={"num_full_iterations": 10, "num_trial": 3}), ExperimentError,
                                  ("'num_trial'", "'num_trials'")),
    "algorithm sets save_path": Case(exp(algorithm={"num_full_iterations": 10, "save_path": "x"}),
                                     ExperimentError, ("'algorithm.save_path'", "'save_path'")),
    "algorithm without num_full_iterations": Case(exp(algorithm={}), ExperimentError,
                                                  ("'algorithm.num_full_iterations'",)),
    "search_alg a number": Case(exp(search_alg=1), ExperimentError, ("'search_alg'", "1")),
    "n_parallel 0": Case(exp(n_parallel=0), ExperimentError, ("'n_parallel'", "0")),
    "n_parallel a str": Case(exp(n_parallel="4"), ExperimentError, ("'n_parallel'", '"4"')),
    "gpus_per_trial 0": Case(exp(gpus_per_trial=0), ExperimentError, ("'gpus_per_trial'", "0")),
    "job_retries -1": Case(exp(job_retries=-1), ExperimentError, ("'job_retries'", "-1")),
    "job_retries a float": Case(exp(job_retries=1.5), ExperimentError, ("'job_retries'", "1.5")),
    "target unknown": Case(exp(target="maximize"), ExperimentError, ("'target'", '"maximize"')),
    "resources unknown": Case(exp(resources="tpu"), ExperimentError, ("'resources'", '"tpu"')),
    "ignore_fail a str": Case(exp(ignore_fail="yes"), ExperimentError, ("'ignore_fail'", '"yes"')),
    "timeout 0": Case(exp(timeout=0), ExperimentError, ("'timeout'", "0")),
    "timeout a str": Case(exp(timeout="1h"), ExperimentError, ("'timeout'", '"1h"')),
    "env a list": Case(exp(env=["A=1"]), ExperimentError, ("'env'", '["A=1"]')),
    "env value a number": Case(exp(env={"A": 1}), ExperimentError, ("'env'", '{"A": 1}')),
    "keep_top_k -1": Case(exp(keep_top_k=-1), ExperimentError, ("'keep_top_k'", "-1")),
    "save_path empty": Case(exp(save_path=""), ExperimentError, ("'save_path'", '""')),
    "workdir missing": Case(exp(workdir="nowhere"), ExperimentError, ("'workdir'", "nowhere")),
    "not JSON": Case(lambda ctx: (ctx.save.parent.mkdir(exist_ok=True),
                                  (ctx.save.parent / "e.json").write_text("{script: train.py}"),
                                  load_experiment(str(ctx.save.parent / "e.json"))), ExperimentError,
                     ("e.json", "not valid JSON")),
    "a JSON list": Case(lambda ctx: (ctx.save.parent.mkdir(exist_ok=True),
                                     (ctx.save.parent / "e.json").write_text("[1]"),
                                     load_experiment(str(ctx.save.parent / "e.json"))), ExperimentError,
                        ("e.json", "list")),
    "missing file": Case(lambda ctx: load_experiment(str(ctx.save.parent / "none.json")), ExperimentError,
                         ("none.json", "does not exist")),
}

ALL_CASES = {f"search_space: {k}": v for k, v in SEARCH_SPACE_CASES.items()}
ALL_CASES.update({f"create: {k}": v for k, v in CREATE_CASES.items()})
ALL_CASES.update({f"report: {k}": v for k, v in REPORT_CASES.items()})
ALL_CASES.update({f"experiment: {k}": v for k, v in EXPERIMENT_CASES.items()})


class Context:
    def __init__(self, tmp_path, issue: bool) -> None:
        self.save = tmp_path / "run"
        if issue:
            self.hpo = create(self)
            self.cfg = self.hpo.get_next_sample()
            self.cfg2 = self.hpo.get_next_sample()


def test_there_are_at_least_100_cases():
    assert len(ALL_CASES) >= 100


@pytest.mark.parametrize("name", list(ALL_CASES))
def test_bad_input_names_the_argument_and_the_value(tmp_path, name):
    case = ALL_CASES[name]
    ctx = Context(tmp_path, issue=name.startswith("report"))
    with pytest.raises(case.error) as err:
        case.call(ctx)
    assert isinstance(err.value, (TypeError, ValueError)), type(err.value)
    missing = [w for w in case.words if w not in str(err.value)]
    assert not missing, f"{missing} not in: {err.value}"


def test_a_save_path_that_is_a_file_is_a_clear_error(tmp_path):
    """Not a ValueError: the argument is fine as a value, the file system says no (OSError naming it)."""
    path = tmp_path / "file"
    path.write_text("x")
    with pytest.raises(OSError, match="cannot create save_path .*file.*choose a writable folder"):
        create(type("C", (), {"save": path})())


def test_nan_and_inf_scores_are_recorded_as_failed_results(tmp_path, caplog):
    """A diverged training reports NaN: documented as a failed result (null, never the best), with a
    warning, rather than an exception that would kill the training loop."""
    ctx = Context(tmp_path, issue=True)
    for bad in (float("nan"), float("inf"), -math.inf, np.float32("nan")):
        hpopt.report(ctx.cfg, bad)
    assert "not finite" in caplog.text
    assert hpopt.load_json(ctx.cfg["file_path"])["scores"][:2] == [None, None]
    hpopt.report(ctx.cfg2, -1e9)
    hpopt.report(ctx.cfg2, -1e9)
    assert ctx.hpo.get_best_config() == ctx.cfg2["params"]


def test_huge_finite_scores_and_ints_beyond_float(tmp_path, caplog):
    """1e308 twice sums to infinity (the running mean must not); 10**400 is a real number no float can
    hold: recorded as a failed result with a warning, like NaN, not an OverflowError."""
    ctx = Context(tmp_path, issue=True)
    assert hpopt.report(ctx.cfg, 1e308) == hpopt.Status.RUNNING
    assert hpopt.report(ctx.cfg, 1e308) == hpopt.Status.STOP
    assert hpopt.load_json(ctx.cfg["file_path"])["median"] == [1e308, 1e308]
    for huge in (10**400, -(10**400)):
        hpopt.report(ctx.cfg2, huge)
    assert "not finite" in caplog.text or "too large" in caplog.text
    assert hpopt.load_json(ctx.cfg2["file_path"])["scores"] == [None, None]
    assert ctx.hpo.get_best_score() == 1e308


NUMPY_INTS = dict(full_dataset_size=np.int64(1000), num_full_iterations=np.int32(8), num_trials=np.int64(6),
                  max_iterations=np.int64(4), num_workers=np.int64(2), min_iterations=np.int64(1),
                  reduction_factor=np.int64(2), num_init_trials=np.int64(2), seed=np.int64(7),
                  kappa_decay_delay=np.int64(1), num_brackets=np.int64(1))
NUMPY_REALS = dict(expected_time_ratio=np.float32(4), full_train_seconds=np.float64(100.0),
                   non_pure_train_ratio=np.float32(0.25), kappa=np.float64(2.0), subset_ratio=np.float32(0.5),
                   kappa_decay=np.float64(0.9))


def _plain(value):
    """Whether a decoded JSON document holds only plain Python numbers (no numpy scalar slipped through
    as a number written by a custom encoder; json itself refuses them)."""
    if isinstance(value, dict):
        return all(_plain(v) for v in value.values())
    if isinstance(value, list):
        return all(_plain(v) for v in value)
    return value is None or type(value) in (bool, int, float, str)


@pytest.mark.parametrize("alg", ["bayes_opt", "asha"])
def test_numpy_scalars_are_taken_as_plain_numbers(tmp_path, alg):
    """np.int64 / np.float32 arguments (a config read with numpy, a value from an array) are accepted and
    stored as plain numbers; resume with the same numpy arguments continues the run."""
    kw = dict(NUMPY_INTS, **NUMPY_REALS)
    if alg != "asha":
        for name in ("min_iterations", "num_brackets"):
            kw.pop(name)
    ctx = type("C", (), {"save": tmp_path / "run"})()
    hpo = create(ctx, search_alg=alg, **kw)
    cfg = hpo.get_next_sample()
    hpopt.report(cfg, 0.5)
    assert hpo.num_trials == 6 and type(hpo.num_trials) is int and type(hpo.seed) is int
    assert type(hpo.subset_ratio) is float and hpo.subset_ratio == 0.5
    hpo.close()
    status = json.loads((ctx.save / "hpopt_status.json").read_text())
    assert _plain(status)
    assert status["num_trials"] == 6 and status["seed"] == 7 and status["num_workers"] == 2
    assert status["settings"]["expected_time_ratio"] == 4.0
    assert status["settings"]["non_pure_train_ratio"] == pytest.approx(0.25)
    hpo = create(ctx, search_alg=alg, resume=True, **kw)
    again = hpo.get_next_sample()
    assert again["trial_id"] == cfg["trial_id"] and again["attempt"] == 1
    assert (ctx.save / "hpopt_status.json").exists()
    hpo.close()


def test_numpy_default_hyper_parameters_are_plain_values(tmp_path):
    ctx = type("C", (), {"save": tmp_path / "run"})()
    hpo = create(ctx, default_hyper_parameters={"lr": np.float32(0.01), "bs": np.int64(16)})
    params = hpo.get_next_sample()["params"]
    assert params == {"lr": float(np.float32(0.01)), "bs": 16}
    assert type(params["lr"]) is float and type(params["bs"]) is int
    hpo.close()
    status = json.loads((ctx.save / "hpopt_status.json").read_text())
    assert status["config_list"][0]["config"] == params


def test_numpy_scalars_that_fail_leave_no_save_path(tmp_path):
    """A refused argument is refused before anything is written."""
    ctx = type("C", (), {"save": tmp_path / "run"})()
    with pytest.raises(TypeError, match="num_workers"):
        create(ctx, num_workers=np.bool_(True), seed=np.int64(3))
    assert not ctx.save.exists()


# --- property tests -------------------------------------------------------------------------------

values = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6), st.floats(allow_nan=True),
                   st.text(max_size=8), st.lists(st.integers(-5, 5), max_size=4),
                   st.dictionaries(st.text(max_size=3), st.integers(), max_size=2))


@settings(max_examples=200, deadline=None)
@given(kind=st.one_of(st.sampled_from(["uniform", "quniform", "loguniform", "qloguniform", "choice"]), values),
       rng=st.one_of(st.lists(values, max_size=5), values))
def test_search_space_accepts_or_names_what_is_wrong(kind, rng):
    try:
        space = hpopt.search_space(kind, rng)
    except (TypeError, ValueError) as err:
        message = str(err)
        assert "search_space(" in message or "search space" in message, message
        return
    u = np.random.default_rng(0)
    value = space.sample(u)
    assert space.contains(value) and space.decode(space.encode(value)) == value


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(score=values)
def test_report_accepts_a_number_or_names_the_score(tmp_path_factory, score):
    ctx = Context(tmp_path_factory.mktemp("r"), issue=True)
    try:
        hpopt.report(ctx.cfg, score)
    except TypeError as err:
        assert "report(score=...)" in str(err) and repr(score)[:20] in str(err)
        assert not isinstance(score, (int, float)) or isinstance(score, bool)
        return
    recorded = hpopt.load_json(ctx.cfg["file_path"])["scores"][-1]
    assert recorded == (float(score) if math.isfinite(score) else None)


INT_ARGS = ["full_dataset_size", "num_full_iterations", "num_trials", "max_iterations", "num_workers", "seed",
            "num_init_trials", "reduction_factor", "kappa_decay_delay"]


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=st.sampled_from(INT_ARGS), value=values)
def test_create_int_arguments_are_checked(tmp_path_factory, name, value):
    ctx = type("C", (), {"save": tmp_path_factory.mktemp("c") / "run"})()
    try:
        create(ctx, **{name: value}).close()
    except (TypeError, ValueError) as err:
        assert name in str(err) and repr(value)[:20] in str(err), str(err)
        return
    assert (isinstance(value, int) and not isinstance(value, bool)) or (
        value is None and name in ("num_trials", "max_iterations", "seed"))  # None: auto config / random seed
