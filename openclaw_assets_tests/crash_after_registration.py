"""Materialize ``trained_model`` and die by SIGKILL the moment its model version is registered.

``python crash_after_registration.py HOME CONFIG_JSON``: the registration call is wrapped here,
in this driver only, so that the process dies after the registry has the version and before
anything else (the alias, the materialization) is recorded.
"""

import json
import os
import signal
import sys
from pathlib import Path

import mlflow

from openclaw_assets_tests.conftest import run_job


def main() -> None:
    home, config = Path(sys.argv[1]), json.loads(sys.argv[2])
    register = mlflow.register_model

    def register_then_die(*args, **kwargs):
        register(*args, **kwargs)
        os.kill(os.getpid(), signal.SIGKILL)

    mlflow.register_model = register_then_die
    run_job(home, run_config={"ops": {"trained_model": {"config": config}}}, selection=["trained_model"])
    sys.exit("trained_model finished: registration never happened")


if __name__ == "__main__":
    main()
