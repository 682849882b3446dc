"""Who may write a shared store at a time: Dagster pools for the steps, a file lock for first creation.

Every step that writes the Feast registry or online store is in the pool ``feast``; every step
that trains, registers, evaluates, stages or deploys through MLflow is in the pool ``mlflow``.
``dagster.yaml`` gives each pool one slot (``concurrency: pools: default_limit: 1`` at ``op``
granularity), so two runs on one instance take turns at those steps whether they run in the
``openclaw run`` process (``execute_in_process``) or were launched by the daemon. A store's first
creation (MLflow's schema, the Feast registry file) can happen outside any step (the gateway, a
sensor, ``openclaw run`` serving the champion), so the store resources also hold ``exclusive``
around it.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

FEAST_POOL = "feast"
"""Feast registry apply and online materialization."""

MLFLOW_POOL = "mlflow"
"""MLflow training, registration, evaluation, staging and the deployment aliases."""

POOLS = {
    FEAST_POOL: "Feast registry apply and online materialization",
    MLFLOW_POOL: "MLflow training, registration, evaluation, staging and the `champion` / `challenger` aliases",
}
"""Every pool of the code location, with what it guards."""


@contextlib.contextmanager
def exclusive(lock_file: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``lock_file`` (created if missing) against every other holder on this machine.

    An advisory ``flock``: each call opens the file anew, so threads of one process exclude each
    other too; the kernel releases it if the holder dies.
    """
    import fcntl

    lock_file.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock_file, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing the last descriptor of the open file releases the lock


def sleep_while_blocked() -> None:
    """Make a run whose every ready step waits for a pool sleep until its next claim, instead of spinning.

    Dagster 1.13's executors ask ``InstanceConcurrencyContext.interval_to_next_pending_claim_check``
    how long to sleep when no step can start, and it answers ``min(0, ...)``: never more than
    zero. A run waiting for a pool then busy-polls one core until the slot frees, taking it from
    the run that holds the slot on a two-core machine. This gives the answer the method means:
    the time until the earliest pending step is due to try its claim again (Dagster's own backoff,
    1 s growing to 15 s). Idempotent; applied when the code location is imported.
    """
    import time

    from dagster._core.execution.plan.instance_concurrency_context import InstanceConcurrencyContext

    if getattr(InstanceConcurrencyContext.interval_to_next_pending_claim_check, "sleeps", False):
        return

    def interval_to_next_pending_claim_check(self: InstanceConcurrencyContext) -> float:
        due = [self._pending_timeouts[key] for key in self._pending_claims if key in self._pending_timeouts]
        return max(0.0, min(due) - time.time()) if due else 0.0

    interval_to_next_pending_claim_check.sleeps = True  # type: ignore[attr-defined]
    InstanceConcurrencyContext.interval_to_next_pending_claim_check = interval_to_next_pending_claim_check  # type: ignore[method-assign]
