"""A controller process for the Ray adapter's kill test: ``python ray_controller.py ADDRESS SAVE_PATH RECORD
[--resume]`` runs random search on the cluster at ADDRESS with slow trials (the test SIGKILLs it)."""

from __future__ import annotations

import functools
import sys

from ray_trainers import recording_trainer
from workloads import space

import hpopt
from hpopt.adapters.ray import run_ray


def main() -> None:
    address, save_path, record = sys.argv[1:4]
    hpo = hpopt.create(full_dataset_size=1000, num_full_iterations=8, search_space=space(), save_path=save_path,
                       search_alg="random", num_trials=4, max_iterations=6, seed=5, resume="--resume" in sys.argv)
    trainer = functools.partial(recording_trainer, record=record, sleep=0.4)
    summary = run_ray(hpo, trainer, address=address, n_parallel=3, progress=False, init_kwargs={"log_to_driver": False})
    print(f"finished={summary.finished} done={summary.trials_done}", flush=True)
    hpo.close()


if __name__ == "__main__":
    main()
