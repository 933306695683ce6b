"""One process of a crash-fuzz run: the controller or a trainer, sharing one save_path.

    python fuzz_child.py controller WORK ALG
    python fuzz_child.py trainer WORK INDEX

WORK holds ``save/`` (the save_path), ``inbox/`` (train_configs the controller gives out; a trainer
claims one by renaming it), ``issued/`` (a copy of every train_config given out, never removed),
``logs/`` (one per trainer: a line per ``report()`` that returned, fsynced) and ``result.json`` (written
by a controller that finished the run). ``WORK/stop`` tells trainers to exit.

``FUZZ_KILL=context:operation:n`` makes the process SIGKILL itself at the n-th ``operation`` (os.write,
os.fsync, os.replace, os.link, os.pwrite) done inside ``context`` (a function of hpopt: see CONTEXTS,
or ``any``). A killed os.write first writes half of its bytes, as a crash in the middle of a write would.
The hooks wrap functions in this process only; the library carries none.
"""

from __future__ import annotations

import functools
import json
import os
import signal
import sys
import time
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # tests/, for workloads

from workloads import SimulatedOOM, space, train  # noqa: E402

import hpopt  # noqa: E402
import hpopt.run.controller  # noqa: E402
import hpopt.run.lifecycle  # noqa: E402
import hpopt.state.file_store  # noqa: E402

NUM_TRIALS = 10
TRAINERS = 4
OPERATIONS = ("write", "fsync", "replace", "link", "pwrite")
_context: list[str] = []


def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def _install_kill_point(spec: str) -> None:
    """Wrap os operations and hpopt functions so that the process kills itself at the chosen point."""
    context, operation, nth = spec.split(":")
    left = [int(nth)]

    def armed() -> bool:
        if context != "any" and context not in _context:
            return False
        left[0] -= 1
        return left[0] == 0

    def wrap_op(name: str) -> None:
        real = getattr(os, name)

        @functools.wraps(real)
        def op(*args: Any, **kwargs: Any) -> Any:
            if name == operation and armed():
                if name == "write":
                    fd, data = args[0], memoryview(args[1])
                    real(fd, data[: len(data) // 2])
                _die()
            return real(*args, **kwargs)

        setattr(os, name, op)

    for name in OPERATIONS:
        wrap_op(name)

    def enter(name: str, real: Any) -> Any:
        @functools.wraps(real)
        def inside(*args: Any, **kwargs: Any) -> Any:
            _context.append(name)
            try:
                return real(*args, **kwargs)
            finally:
                _context.pop()

        return inside

    for name, (cls, attr) in CONTROLLER_CONTEXTS.items():
        setattr(cls, attr, enter(name, getattr(cls, attr)))
    hpopt.report = enter("report", hpopt.report)
    hpopt.reportOOM = enter("report_oom", hpopt.reportOOM)
    store = hpopt.state.file_store.FileStore
    store.judge_summary = enter("rung", store.judge_summary)  # ASHA's rung update (and median stop's step)


# context name -> controller-side method; trainers add "report", "report_oom" and "rung" (ASHA's rung update)
_LIFE, _CONTROLLER = hpopt.run.lifecycle.TrialLifecycle, hpopt.run.controller.Controller
CONTROLLER_CONTEXTS = {"issue": (_LIFE, "issue"), "checkpoint": (_LIFE, "checkpoint"), "oom": (_LIFE, "handle_oom"),
                       "resume": (_CONTROLLER, "_restore"), "collect": (_LIFE, "collect")}
TRAINER_CONTEXTS = ("report", "report_oom", "rung")


def create(save: str, alg: str) -> Any:
    extra: dict[str, Any] = {"search_alg": "bayes_opt", "num_init_trials": 3} if alg == "bayes_opt" else {
        "search_alg": "asha", "min_iterations": 1, "reduction_factor": 2, "num_brackets": 2}
    return hpopt.create(full_dataset_size=1000, num_full_iterations=8, search_space=space(), save_path=save,
                        num_trials=NUM_TRIALS, max_iterations=4, subset_ratio=0.5, seed=11, batch_size_name="bs",
                        num_workers=TRAINERS, resume=True, **extra)


def _write_json(path: str, doc: Any) -> None:
    tmp = path + ".part"
    with open(tmp, "w") as f:
        json.dump(doc, f)
    os.rename(tmp, path)


def controller(work: str, alg: str) -> None:
    hpo = create(os.path.join(work, "save"), alg)
    inbox, issued = os.path.join(work, "inbox"), os.path.join(work, "issued")
    while not hpo.is_finished():
        while len(hpo.running_trials()) < TRAINERS and (cfg := hpo.get_next_sample()) is not None:
            name = f"{cfg['trial_id']}-{cfg['attempt']}-{os.getpid()}.json"
            _write_json(os.path.join(issued, name), cfg)
            _write_json(os.path.join(inbox, name), cfg)
        time.sleep(0.002)  # polling for the trainers' results; the library itself never sleeps
    best = hpo.get_best_config()
    status = hpo.get_current_status()
    hpo.close()
    _write_json(os.path.join(work, "result.json"), {"best": best, "status": status})


def trainer(work: str, index: int) -> None:
    inbox, claimed = os.path.join(work, "inbox"), os.path.join(work, "claimed")
    log = os.path.join(work, "logs", f"trainer-{os.getpid()}-{index}.log")
    stop = os.path.join(work, "stop")
    while not os.path.exists(stop):
        mine = None
        for name in sorted(os.listdir(inbox)):
            if name.endswith(".part"):
                continue
            try:
                os.rename(os.path.join(inbox, name), os.path.join(claimed, name))
            except FileNotFoundError:
                continue  # another trainer took it
            mine = os.path.join(claimed, name)
            break
        if mine is None:
            time.sleep(0.003)
            continue
        with open(mine) as f:
            cfg = json.load(f)
        try:
            train(cfg, log, oom=True)
        except SimulatedOOM:
            hpopt.reportOOM(cfg)


def main() -> None:
    role, work = sys.argv[1], sys.argv[2]
    if os.environ.get("FUZZ_KILL"):
        _install_kill_point(os.environ["FUZZ_KILL"])
    if role == "controller":
        controller(work, sys.argv[3])
    else:
        trainer(work, int(sys.argv[3]))


if __name__ == "__main__":
    main()
