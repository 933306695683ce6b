"""A controller process for the SageMaker adapter tests (so that a test can kill it with SIGKILL).

    python sm_controller.py SETTINGS_JSON
SETTINGS_JSON holds ``create`` (hpopt.create's arguments, search space from workloads.space()) and ``run``
(run_sagemaker's). The AWS endpoint and credentials come from the environment.
"""

from __future__ import annotations

import json
import logging
import sys
from typing import Any

from workloads import space

import hpopt
from hpopt.adapters.sagemaker import run_sagemaker


def session(settings: dict[str, Any], resume: bool, **run_extra: Any) -> tuple[Any, Any]:
    hpo = hpopt.create(search_space=space(), resume=resume, **settings["create"])
    return hpo, run_sagemaker(hpo, **settings["run"], **run_extra)


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    with open(sys.argv[1]) as f:
        hpo, _ = session(json.load(f), resume=False)
    hpo.close()
